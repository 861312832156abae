"""Evaluation runs: create one, run it in a worker (generate, score, judge), summarise it.

The worker generates the examples that have no stored output yet, with up to
``concurrency`` requests in flight (threads; the endpoint's own limit applies too), and
stores finished outputs in small batches from the job's thread: a worker killed half-way
leaves complete rows only, and the retry generates just the rest. Each output is stored
once: the (run, position) pair is unique and inserts ignore a row already there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from queue import Empty, Queue
from threading import Event, Thread
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from curation.models import AuditEvent, Dataset, DatasetVersion
from training.evaluation import judge as judging
from training.evaluation import local as local_generation
from training.evaluation.client import (
    ChatEndpoint,
    Completion,
    EndpointError,
    EndpointNotConfigured,
    complete,
    endpoint_for,
)
from training.evaluation.evalset import SPLITS, EvalItem, EvalSetError, iter_eval_set
from training.evaluation.judge_format import JUDGE_PROMPT_VERSION
from training.evaluation.metrics import example_metrics, run_metrics
from training.evaluation.models import EvalExample, EvalRun, ExampleStatus
from training.registry.models import Model
from training.registry.services import UnknownModel, ensure_usable, resolve_model
from training.services.serving import (
    NotServed,
    serving_for_evaluation,
    serving_release_after_evaluation,
)

logger = logging.getLogger(__name__)

FLUSH_EVERY = 50
FLUSH_SECONDS = 0.5
MAX_CONCURRENCY = 64


class EvaluationError(ValueError):
    """A run cannot be created as asked; the message says why, in one line."""


def judge_against_base(model: Model) -> str | None:
    """The judge of a fine-tune's evaluation and comparison against its base: the site's
    judge, unless it is one of the two contestants (a model tends to prefer its own replies),
    in which case none."""
    judge = (settings.CURATOR_EVAL_JUDGE or "").strip()
    contestants = {model.ref, model.base.ref if model.base is not None else ""}
    return judge if judge and judge not in contestants else None


def create_eval_run(
    *,
    dataset: Dataset,
    version: DatasetVersion,
    model: Model | str,
    split: str = "validation",
    judge: Model | str | None = None,
    temperature: float = 0.0,
    max_tokens: int = 512,
    seed: int | None = 0,
    concurrency: int | None = None,
    limit: int | None = None,
    user: Any = None,
    enqueue: bool = True,
    allow_contestant_judge: bool = False,
) -> EvalRun:
    if version.dataset_id != dataset.pk:
        raise EvaluationError(f"{version} is not a version of {dataset.slug}")
    if not version.is_built:
        raise EvaluationError(
            f"{version} is {version.status}; only built versions can be evaluated"
        )
    if split not in SPLITS:
        raise EvaluationError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    info = version.file_info(f"{split}.jsonl")
    if not info or not info.get("examples"):
        raise EvaluationError(f"{version} has no {split} examples to evaluate on")
    try:
        chosen = (
            resolve_model(model, dataset=dataset)
            if isinstance(model, str)
            else ensure_usable(model, dataset)
        )
        chosen_judge = (
            resolve_model(judge, dataset=dataset)
            if isinstance(judge, str) and judge
            else ensure_usable(judge, dataset)
            if isinstance(judge, Model)
            else None
        )
    except UnknownModel as error:
        raise EvaluationError(str(error)) from None
    if chosen_judge is not None and chosen_judge.is_local:
        raise EvaluationError("a judge must answer chat completions over HTTP, not a local model")
    if chosen_judge is not None and chosen_judge.pk == chosen.pk and not allow_contestant_judge:
        raise EvaluationError(
            f"the judge {chosen_judge.ref} is the model evaluated and would score its own "
            "replies; choose another judge (or force it, knowing the scores lean)"
        )
    concurrency = concurrency or int(settings.CURATOR_EVAL_CONCURRENCY)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise EvaluationError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
    if not 0 <= temperature <= 2:
        raise EvaluationError("temperature must be between 0 and 2")
    if limit is not None and limit < 1:
        raise EvaluationError("limit must be a positive number of examples")
    with transaction.atomic():
        run = EvalRun.objects.create(
            dataset=dataset,
            version=version,
            split=split,
            model=chosen,
            judge=chosen_judge,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            concurrency=concurrency,
            limit=limit,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            is_simulated=chosen.is_simulated,
            judge_prompt_version=JUDGE_PROMPT_VERSION if chosen_judge else "",
            judge_prompt=judging.prompt_template(dataset.criteria) if chosen_judge else "",
            examples=min(int(info["examples"]), limit or int(info["examples"])),
        )
        AuditEvent.record(
            actor=user,
            action="eval.start",
            obj=run,
            dataset=dataset,
            model=chosen.ref,
            judge=chosen_judge.ref if chosen_judge else None,
            judge_is_contestant=bool(chosen_judge and chosen_judge.pk == chosen.pk),
            version=version.number,
            split=split,
        )
        if enqueue:
            transaction.on_commit(run.enqueue)
    return run


@dataclass
class Generated:
    item: EvalItem
    completion: Completion | None
    error: str = ""


def _row(run: EvalRun, result: Generated, endpoint: ChatEndpoint | None) -> EvalExample:
    item, completion = result.item, result.completion
    row = EvalExample(
        run=run,
        position=item.position,
        key=item.key,
        conversation_id=item.conversation_id,
        prompt=item.prompt,
        tools=item.tools,
        reference=item.reference,
    )
    if completion is None:
        row.status, row.error, row.metrics = ExampleStatus.FAILED, result.error[:2000], {}
        return row
    row.status = ExampleStatus.OK
    row.output = completion.message
    row.attempts = completion.attempts
    row.latency_ms = completion.latency_ms
    row.prompt_tokens = completion.prompt_tokens
    row.completion_tokens = completion.completion_tokens
    row.cost_usd = (
        endpoint.cost(completion.prompt_tokens, completion.completion_tokens) if endpoint else 0.0
    )
    row.metrics = example_metrics(item.reference, completion.message)
    return row


class _Store:
    """Buffers finished rows and writes them in batches (ignoring rows already there)."""

    def __init__(self, run: EvalRun, done: int) -> None:
        self.rows: list[EvalExample]
        self.run, self.done, self.rows, self.flushed_at = run, done, [], time.monotonic()
        self.simulated = False

    def add(self, row: EvalExample) -> None:
        self.rows.append(row)
        if len(self.rows) >= FLUSH_EVERY or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            EvalExample.objects.bulk_create(self.rows, ignore_conflicts=True)
            self.done += len(self.rows)
            self.rows = []
        fields: dict[str, Any] = {}
        if self.simulated and not self.run.is_simulated:
            fields["is_simulated"] = True
        self.run.beat(done=self.done, **fields)
        self.flushed_at = time.monotonic()


def _pending(run: EvalRun) -> tuple[list[EvalItem], int]:
    # Failed examples are tried again on a retry; stored outputs never are.
    EvalExample.objects.filter(run=run, status=ExampleStatus.FAILED).delete()
    stored = set(EvalExample.objects.filter(run=run).values_list("position", flat=True))
    items = list(iter_eval_set(run.version, run.split, limit=run.limit))
    return [item for item in items if item.position not in stored], len(items)


def generate_remote(
    run: EvalRun,
    items: list[EvalItem],
    store: _Store,
    endpoint: ChatEndpoint,
    *,
    call: Callable[..., Completion] = complete,
) -> None:
    """Generate ``items`` against the endpoint, ``run.concurrency`` at a time."""
    stop = Event()
    succeeded: list[bool] = []

    def one(item: EvalItem) -> Generated:
        if stop.is_set():
            return Generated(item=item, completion=None, error="stopped")
        try:
            return Generated(
                item=item,
                completion=call(
                    endpoint,
                    messages=item.prompt,
                    tools=item.tools,
                    temperature=run.temperature,
                    max_tokens=run.max_tokens,
                    seed=run.seed,
                ),
            )
        except EndpointError as error:
            if error.unreachable and not store.done and not succeeded:
                stop.set()
                raise
            return Generated(item=item, completion=None, error=str(error))

    workers = max(1, min(run.concurrency, endpoint.max_concurrency, len(items) or 1))
    # Finished futures arrive on a queue: waiting on the set of pending futures instead
    # would cost O(pending) per completion.
    finished: Queue[Future[Generated]] = Queue()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"eval-{run.pk}") as pool:
        futures = [pool.submit(one, item) for item in items]
        for future in futures:
            future.add_done_callback(finished.put)
        try:
            for _ in range(len(futures)):
                while True:
                    try:
                        future = finished.get(timeout=5)
                        break
                    except Empty:
                        store.flush()  # heartbeat while every request is slow
                result = future.result()
                if result.error == "stopped":
                    continue
                if result.completion is not None:
                    succeeded.append(True)
                    store.simulated = store.simulated or result.completion.simulated
                store.add(_row(run, result, endpoint))
        except EndpointError:
            stop.set()
            for future in futures:
                future.cancel()
            raise
        finally:
            store.flush()


@contextmanager
def beating(run: EvalRun, *, every: float = 20.0) -> Iterator[None]:
    """Keep the run's heartbeat going from a thread while this one is busy for long
    stretches (loading a large local model, a slow batch), so it is not taken as lost."""
    stop = Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                EvalRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
        finally:
            connection.close()  # this thread's own connection

    thread = Thread(target=beat, name=f"eval-{run.pk}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def generate_local(run: EvalRun, items: list[EvalItem], store: _Store) -> None:
    model = run.model
    adapter = model.name if model.base_id and model.kind == "local_adapter" else None
    base = model.base.name if adapter and model.base else model.name
    batches = local_generation.generate(
        base_model=base,
        adapter_prefix=adapter,
        prompts=[item.prompt for item in items],
        max_new_tokens=run.max_tokens,
        temperature=run.temperature,
        seed=run.seed,
    )
    position = 0
    for replies in batches:
        for reply in replies:
            item = items[position]
            position += 1
            completion = Completion(
                message={"role": "assistant", "content": reply.text},
                latency_ms=reply.latency_ms,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                attempts=1,
                simulated=False,
            )
            store.add(_row(run, Generated(item=item, completion=completion), None))


def judge_outputs(run: EvalRun, *, call_judge: Callable[..., Any] = judging.score) -> None:
    """Score every scored output the judge has not scored yet, on the dataset's rubric."""
    if run.judge is None:
        return
    endpoint = endpoint_for(run.judge)
    criteria = run.dataset.criteria
    rows = list(
        EvalExample.objects.filter(run=run, status=ExampleStatus.OK, judge_mean__isnull=True)
        .exclude(judge_reason__startswith="judge failed")
        .only("id", "prompt", "tools", "reference", "output")
    )

    def one(row: EvalExample) -> EvalExample:
        try:
            result = call_judge(
                endpoint,
                prompt=row.prompt,
                tools=row.tools,
                response=row.output,
                criteria=criteria,
                reference=row.reference,
            )
        except (EndpointError, judging.JudgeError) as error:
            row.judge_reason = f"judge failed: {error}"[:1000]
            return row
        row.judge_scores, row.judge_mean, row.judge_reason = (
            result.scores,
            result.mean,
            result.reason,
        )
        return row

    done = 0
    with ThreadPoolExecutor(
        max_workers=max(1, min(run.concurrency, endpoint.max_concurrency))
    ) as pool:
        batch: list[EvalExample] = []
        for row in pool.map(one, rows):
            batch.append(row)
            if len(batch) >= FLUSH_EVERY:
                EvalExample.objects.bulk_update(
                    batch, ["judge_scores", "judge_mean", "judge_reason"]
                )
                done += len(batch)
                batch = []
                run.beat()
        if batch:
            EvalExample.objects.bulk_update(batch, ["judge_scores", "judge_mean", "judge_reason"])


def finalize_run(run: EvalRun) -> dict[str, Any]:
    """Aggregate the run and end it honestly: failed when no example got an answer,
    succeeded (shown as partial) when some failed, with the first error and the counts."""
    rows = list(
        EvalExample.objects.filter(run=run).values(
            "status", "metrics", "latency_ms", "cost_usd", "judge_mean", "judge_scores"
        )
    )
    metrics = run_metrics(rows, examples=run.total or len(rows))
    failed = EvalExample.objects.filter(run=run, status=ExampleStatus.FAILED)
    first = failed.order_by("position").values_list("position", "error").first()
    metrics["first_error"] = f"example {first[0]}: {first[1]}" if first else None
    metrics["judge_failed"] = EvalExample.objects.filter(
        run=run, judge_reason__startswith="judge failed"
    ).count()
    counts = {"scored": metrics["scored"], "failed": metrics["failed"], "done": len(rows)}
    if rows and not metrics["scored"]:
        run.fail(
            f"no example got an answer: all {metrics['failed']} failed; first error "
            f"{metrics['first_error']}",
            metrics=metrics,
            **counts,
        )
    else:
        run.succeed(metrics=metrics, **counts)
    return metrics


def run_eval_job(*, run_id: int) -> EvalRun:
    """The worker's whole run: claim, generate what is missing, judge, aggregate."""
    run = EvalRun.objects.select_related("dataset", "version", "model", "model__base", "judge").get(
        pk=run_id
    )

    def evaluate() -> None:
        items, total = _pending(run)
        run.beat(total=total, done=total - len(items), examples=total)
        store = _Store(run, total - len(items))
        if run.model.is_local:
            with beating(run):
                generate_local(run, items, store)
            store.flush()
        else:
            if items and run.model.job is not None:
                # A hosted fine-tune answers only once served (Together, Fireworks, Azure):
                # deploy it and wait here, in the worker, rather than send every example to a
                # model that 404s. NotServed ends the run saying what to create or turn on.
                serving_for_evaluation(job=run.model.job)
            endpoint = endpoint_for(run.model)
            run.beat(endpoint_url=endpoint.url)
            generate_remote(run, items, store, endpoint)
        judge_outputs(run)
        finalize_run(run)
        # A deployment made only to evaluate stops billing here (a setting, off by default).
        serving_release_after_evaluation(model=run.model)

    def unreachable(error: EndpointError) -> None:
        run.fail(f"{error} — is the endpoint down? Retry resumes with the examples not stored yet")

    def refused(error: EndpointNotConfigured | EvalSetError | NotServed) -> None:
        run.fail(str(error))

    run.run_claimed(
        evaluate,
        handlers={
            EndpointError: unreachable,
            EndpointNotConfigured: refused,
            EvalSetError: refused,
            NotServed: refused,
        },
        unexpected=lambda error: (
            f"unexpected error ({type(error).__name__}: {error}); Retry resumes where it stopped"
        ),
    )
    return run


def retry_eval_run(*, run: EvalRun, user: Any) -> bool:
    retried = run.retry()
    if retried:
        AuditEvent.record(actor=user, action="eval.retry", obj=run, dataset=run.dataset)
    return retried


def cli_summary(run: EvalRun) -> dict[str, Any]:
    metrics = run.metrics or {}
    return {
        "run": run.pk,
        "status": run.status,
        "outcome": run.outcome,
        "model": run.model.ref,
        "examples": metrics.get("examples", run.examples),
        "scored": metrics.get("scored"),
        "failed": metrics.get("failed"),
        "first_error": metrics.get("first_error"),
        "judge_failed": metrics.get("judge_failed"),
        "simulated": run.is_simulated,
        "error": run.error or None,
        "metrics": {
            "exact_match": metrics.get("exact_match"),
            "rouge_l": metrics.get("rouge_l"),
            "judge_mean": metrics.get("judge_mean"),
            "tool_call_accuracy": metrics.get("tool_call_accuracy"),
            "latency_p50_ms": metrics.get("latency_p50_ms"),
            "cost_usd": metrics.get("cost_usd"),
        },
    }
