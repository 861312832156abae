"""The judge pre-scoring training data: a background job over a dataset or a filter.

Each conversation's redacted text (never the original: it may leave for an outside judge)
is split at its last assistant turn and the reply is scored on the dataset's rubric without
a reference. A pre-score is a hint for reviewers and a filter for bulk actions
(``review_bulk --where 'judge<3'``); it is never a reviewer's score.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from curation.models import AuditEvent, Conversation, Dataset
from curation.selectors.conversations import ConversationFilter
from curation.selectors.redaction import redacted_messages
from training.evaluation import judge as judging
from training.evaluation.client import EndpointError, EndpointNotConfigured, endpoint_for
from training.evaluation.evalset import split_example
from training.evaluation.judge_format import JUDGE_PROMPT_VERSION
from training.evaluation.models import PreScore, PreScoreRun
from training.evaluation.prescore_filter import PreScoreError
from training.registry.models import Model
from training.registry.services import UnknownModel, ensure_usable, resolve_model

logger = logging.getLogger(__name__)

CHUNK = 100


def create_prescore_run(
    *,
    dataset: Dataset,
    judge: Model | str,
    filter: dict[str, str] | None = None,
    threshold: float = 3.0,
    concurrency: int = 8,
    user: Any = None,
    enqueue: bool = True,
) -> PreScoreRun:
    try:
        chosen = (
            resolve_model(judge, dataset=dataset)
            if isinstance(judge, str)
            else ensure_usable(judge, dataset)
        )
    except UnknownModel as error:
        raise PreScoreError(str(error)) from None
    if chosen.is_local:
        raise PreScoreError("a judge must answer chat completions over HTTP, not a local model")
    applied = ConversationFilter.from_params(filter or {}).filters
    with transaction.atomic():
        run = PreScoreRun.objects.create(
            dataset=dataset,
            judge=chosen,
            filter=applied,
            threshold=threshold,
            concurrency=max(1, min(64, concurrency)),
            is_simulated=chosen.is_simulated,
            judge_prompt_version=JUDGE_PROMPT_VERSION,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user, action="eval.prescore", obj=run, dataset=dataset, judge=chosen.ref
        )
        if enqueue:
            transaction.on_commit(run.enqueue)
    return run


def _selected(run: PreScoreRun) -> QuerySet[Conversation]:
    conversations = ConversationFilter.from_params(run.filter).apply(
        Conversation.objects.filter(dataset=run.dataset)
    )
    return conversations.order_by("id")


def run_prescore_job(*, run_id: int) -> PreScoreRun:
    run = PreScoreRun.objects.select_related("dataset", "judge").get(pk=run_id)

    def prescore() -> None:
        endpoint = endpoint_for(run.judge)
        criteria = run.dataset.criteria or judging.DEFAULT_CRITERIA
        conversations = _selected(run)
        run.beat(total=conversations.count(), done=0)

        def one(job: tuple[Conversation, list[dict[str, Any]], dict[str, Any]]) -> PreScore | None:
            # Only the judge call runs on the pool's threads: the ORM stays on this one.
            conversation, prompt, reply = job
            try:
                result = judging.score(
                    endpoint,
                    prompt=prompt,
                    tools=conversation.tools,
                    response=reply,
                    criteria=criteria,
                    reference=None,
                )
            except judging.JudgeError as error:
                logger.warning("pre-score of %s: %s", conversation.pk, error)
                return None
            return PreScore(
                conversation=conversation,
                dataset=run.dataset,
                run=run,
                scores=result.scores,
                mean=result.mean,
                judge=run.judge.ref,
                prompt_version=JUDGE_PROMPT_VERSION,
                reason=result.reason,
            )

        done = below = 0
        last_id = 0
        with ThreadPoolExecutor(max_workers=run.concurrency) as pool:
            while True:
                chunk = list(conversations.filter(id__gt=last_id)[:CHUNK])
                if not chunk:
                    break
                last_id = chunk[-1].pk
                jobs = []
                for conversation in chunk:
                    parts = split_example({"messages": redacted_messages(conversation)})
                    if parts is not None:
                        jobs.append((conversation, parts[0], parts[1]))
                scores = [score for score in pool.map(one, jobs) if score is not None]
                # The latest pre-score replaces an older one.
                PreScore.objects.bulk_create(
                    scores,
                    update_conflicts=True,
                    unique_fields=["conversation"],
                    update_fields=["run", "scores", "mean", "judge", "prompt_version", "reason"],
                )
                below += sum(1 for score in scores if score.mean < run.threshold)
                done += len(chunk)
                run.beat(done=done, below=below)
        run.succeed(done=done, below=below)

    def unreachable(error: EndpointError | EndpointNotConfigured) -> None:
        run.fail(f"judge: {error}")

    run.run_claimed(
        prescore,
        handlers={EndpointError: unreachable, EndpointNotConfigured: unreachable},
        unexpected=lambda error: f"unexpected error ({type(error).__name__}: {error})",
    )
    return run
