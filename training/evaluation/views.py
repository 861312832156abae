"""Evaluation pages. Reviewers of a dataset see its runs, comparisons and pre-scores and do
blind side-by-side review; only its admins start runs, comparisons and pre-scoring (they
cost money)."""

from __future__ import annotations

import csv
import json
import time
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.http import HtmxHttpRequest
from curation.models import Dataset
from curation.permissions import get_dataset_for_user, is_dataset_admin
from training.evaluation import selectors
from training.evaluation.forms import ComparisonForm, PreScoreForm, RunForm
from training.evaluation.metrics import METRIC_LABELS
from training.evaluation.models import BlindPair
from training.evaluation.services import blind
from training.evaluation.services.comparisons import (
    ComparisonError,
    comparison_summary,
    create_comparison,
    export_rows,
    metric_table,
    regressions,
)
from training.evaluation.services.prescore import PreScoreError, create_prescore_run
from training.evaluation.services.runs import (
    EvaluationError,
    create_eval_run,
    judge_against_base,
    retry_eval_run,
)
from training.permissions import (
    blind_open,
    get_comparison_for_user,
    get_run_for_user,
    sees_blind_results,
)
from training.registry.models import Model
from training.registry.services import model_choices, production_model_id


def _context(dataset: Dataset, **extra: Any) -> dict[str, Any]:
    return {"dataset": dataset, "is_admin": is_dataset_admin(dataset), **extra}


def eval_home(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    open_comparisons, open_runs = blind_open(dataset)
    if sees_blind_results(request, dataset):
        open_comparisons, open_runs = set(), set()
    runs = Paginator(selectors.runs_for(dataset).exclude(pk__in=open_runs), 25).get_page(
        request.GET.get("page")
    )
    template = "evaluation/home.html"
    if request.htmx and request.GET.get("fragment") == "runs":
        template += "#run-table"
    return render(
        request,
        template,
        _context(
            dataset,
            runs=runs,
            any_active=any(run.is_active for run in runs),
            comparisons=selectors.comparisons_for(dataset)[:20],
            blind_ids=open_comparisons,
            finetunes=selectors.finetunes_to_evaluate(dataset),
        ),
    )


def eval_run_create(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    form = RunForm(request.POST or None, dataset=dataset, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = create_eval_run(
                dataset=dataset,
                version=data["version"],
                split=data["split"],
                model=data["model"],
                judge=data["judge"] or None,
                temperature=data["temperature"],
                max_tokens=data["max_tokens"],
                seed=data["seed"],
                concurrency=data["concurrency"],
                limit=data["limit"],
                user=request.user,
                allow_contestant_judge=data["allow_contestant_judge"],
            )
        except EvaluationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Evaluation #{run.pk} queued.")
            return redirect(run.get_absolute_url())
    return render(
        request,
        "evaluation/run_create.html",
        _context(dataset, form=form, choices=model_choices(dataset)),
    )


@require_POST
def eval_quick(request: HttpRequest, slug: str, model_id: int) -> HttpResponse:
    """Evaluate a fine-tune and its base on the fine-tune's validation split, same settings."""
    dataset = get_dataset_for_user(request, slug, admin=True)
    model = (
        Model.objects.filter(pk=model_id, dataset=dataset).select_related("base", "version").first()
    )
    if model is None or model.base is None or model.version is None:
        raise Http404("No such fine-tuned model.")
    judge = judge_against_base(model)
    if judge is None:
        messages.info(
            request,
            "No judge: the only candidates were the two models compared. Set "
            "CURATOR_EVAL_JUDGE to a third model to get judge scores.",
        )
    try:
        for target in (model.base, model):
            create_eval_run(
                dataset=dataset,
                version=model.version,
                model=target,
                judge=judge,
                user=request.user,
            )
    except EvaluationError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Evaluating {model} and its base {model.base.name} on {model.version.label} "
            "validation. Compare them when both finish.",
        )
    return redirect("eval_home", dataset.slug)


def eval_run_detail(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_run_for_user(request, slug, run_id)
    if request.htmx and request.GET.get("fragment") == "progress":
        return render(
            request, "evaluation/_run_progress.html", {"run": run, "dataset": run.dataset}
        )
    show = request.GET.get("show", "")
    examples = Paginator(selectors.run_examples(run, show=show), 20).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "evaluation/run_detail.html",
        _context(
            run.dataset,
            run=run,
            examples=examples,
            show=show,
            labels=METRIC_LABELS,
        ),
    )


@require_POST
def eval_run_retry(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_run_for_user(request, slug, run_id, admin=True)
    if not retry_eval_run(run=run, user=request.user):
        messages.error(request, "Only a failed run can be retried.")
    return redirect(run.get_absolute_url())


def eval_runs_compare(request: HttpRequest, slug: str) -> HttpResponse:
    """Two or more runs side by side: metrics with deltas from the first and 95 % intervals."""
    dataset = get_dataset_for_user(request, slug)
    ids = [int(value) for value in request.GET.getlist("runs") if value.isdigit()]
    found = {
        run.pk: run for run in selectors.runs_for(dataset).filter(pk__in=ids, status="succeeded")
    }
    # The baseline (first column, run A) is production's run when one is ticked, else the
    # oldest: deltas then read as "what the newer model changed".
    production = production_model_id(dataset)
    runs = sorted(
        (found[pk] for pk in dict.fromkeys(ids) if pk in found),
        key=lambda run: (run.model_id != production, run.created_at, run.pk),
    )
    if len(runs) < 2:
        messages.error(request, "Pick two or more finished runs to compare.")
        return redirect("eval_home", dataset.slug)
    sets = {(run.version_id, run.split) for run in runs}
    return render(
        request,
        "evaluation/runs_compare.html",
        _context(
            dataset,
            runs=runs,
            table=metric_table(runs),
            same_set=len(sets) == 1,
            form=ComparisonForm(
                dataset=dataset, initial={"run_a": runs[0].pk, "run_b": runs[1].pk}
            ),
        ),
    )


def eval_comparison_create(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    form = ComparisonForm(request.POST or None, dataset=dataset, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            comparison = create_comparison(
                run_a=data["run_a"],
                run_b=data["run_b"],
                judge=data["judge"] or None,
                reviews_needed=data["reviews_needed"],
                user=request.user,
                allow_contestant_judge=data["allow_contestant_judge"],
            )
        except ComparisonError as error:
            form.add_error(None, str(error))
        else:
            return redirect(comparison.get_absolute_url())
    return render(
        request,
        "evaluation/comparison_create.html",
        _context(dataset, form=form, choices=model_choices(dataset)),
    )


def eval_comparison_detail(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    comparison = get_comparison_for_user(request, slug, comparison_id, results=True)
    runs = [comparison.run_a, comparison.run_b]
    summary = comparison_summary(comparison)
    chart = {
        "labels": ["Judge", "People"],
        "a": [summary["judge"]["a_wins"], summary["human"]["a_wins"]],
        "ties": [
            summary["judge"]["ties"] + summary["judge"]["both_bad"],
            summary["human"]["ties"] + summary["human"]["both_bad"],
        ],
        "b": [summary["judge"]["b_wins"], summary["human"]["b_wins"]],
        "criteria": [c["key"] for c in summary["per_criterion"]],
        "criteria_a": [c["a"] for c in summary["per_criterion"]],
        "criteria_b": [c["b"] for c in summary["per_criterion"]],
    }
    return render(
        request,
        "evaluation/comparison_detail.html",
        _context(
            comparison.dataset,
            comparison=comparison,
            runs=runs,
            table=metric_table(runs),
            summary=summary,
            chart=chart,
            regressions=regressions(comparison),
            simulated=any(run.is_simulated for run in runs),
        ),
    )


def eval_comparison_export(
    request: HttpRequest, slug: str, comparison_id: int, fmt: str
) -> HttpResponseBase:
    if fmt not in {"csv", "json"}:
        raise Http404("Export as .csv or .json.")
    comparison = get_comparison_for_user(request, slug, comparison_id, results=True)
    rows = export_rows(comparison)
    name = f"{comparison.dataset.slug}-comparison-{comparison.pk}"
    if fmt == "json":
        response: HttpResponseBase = JsonResponse(
            {
                "comparison": comparison.pk,
                "runs": [comparison.run_a_id, comparison.run_b_id],
                "summary": comparison_summary(comparison),
                "examples": rows,
            },
            json_dumps_params={"ensure_ascii": False},
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
        return response

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    columns = list(rows[0]) if rows else ["position"]

    def cell(value: Any) -> Any:
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        # Conversation text is untrusted: a cell a spreadsheet would run as a formula is
        # quoted (OWASP's advice against CSV injection).
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            value = "'" + value
        return value

    def lines() -> Any:
        yield writer.writerow(columns)
        for row in rows:
            yield writer.writerow([cell(row[c]) for c in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def eval_blind(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    """The blind side-by-side page: GET leases the next pair, POST records a verdict or a skip."""
    comparison = get_comparison_for_user(request, slug, comparison_id)
    if request.method == "POST":
        raw = request.POST.get("pair", "")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            return HttpResponseBadRequest(
                "The form's pair must be a pair number; reload the blind review page.",
                content_type="text/plain; charset=utf-8",
            )
        pair = (
            BlindPair.objects.filter(pk=int(raw), comparison=comparison)
            .select_related("comparison__dataset")
            .first()
        )
        if pair is None:
            raise Http404("No such pair.")
        choice = request.POST.get("choice", "")
        if choice == "skip":
            blind.skip_pair(pair=pair, reviewer=request.user)
        else:
            try:
                started = float(request.POST.get("started") or 0)
            except ValueError:
                started = 0
            criteria = {
                c["key"]: request.POST[f"criterion_{c['key']}"]
                for c in comparison.dataset.criteria
                if request.POST.get(f"criterion_{c['key']}") in {"left", "right", "tie"}
            }
            try:
                blind.submit_verdict(
                    pair=pair,
                    reviewer=request.user,
                    choice=choice,
                    criteria=criteria,
                    seconds=(time.time() - started) if started else None,
                )
            except blind.VerdictError as error:
                messages.error(request, str(error))
        return redirect("eval_blind", comparison.dataset.slug, comparison.pk)
    pair = blind.claim_next_pair(comparison=comparison, reviewer=request.user)
    return render(
        request,
        "evaluation/blind.html",
        _context(
            comparison.dataset,
            comparison=comparison,
            pair=pair,
            sides=blind.pair_sides(pair) if pair else None,
            criteria=comparison.dataset.criteria,
            progress=blind.blind_progress(comparison, request.user),
            started=time.time(),
        ),
    )


def eval_prescore(request: HttpRequest, slug: str) -> HttpResponse:
    """Judge pre-scores of the dataset's conversations: a filter and a sort, and (for admins)
    a form that starts pre-scoring."""
    dataset = get_dataset_for_user(request, slug)
    form = PreScoreForm(request.POST or None)
    if request.method == "POST":
        if not is_dataset_admin(dataset):
            raise PermissionDenied("Only dataset admins start pre-scoring.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                create_prescore_run(
                    dataset=dataset,
                    judge=data["judge"],
                    filter={"status": data["status"]} if data["status"] else {},
                    threshold=data["threshold"],
                    user=request.user,
                )
            except PreScoreError as error:
                form.add_error("judge", str(error))
            else:
                messages.success(request, "Pre-scoring queued.")
                return redirect("eval_prescore", dataset.slug)

    def number(name: str) -> float | None:
        try:
            return float(request.GET[name]) if request.GET.get(name) else None
        except ValueError:
            return None

    below, above, sort = number("below"), number("above"), request.GET.get("sort", "low")
    rows = Paginator(
        selectors.prescores(dataset, below=below, above=above, sort=sort), 50
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "evaluation/prescore.html",
        _context(
            dataset,
            form=form,
            rows=rows,
            below=below,
            above=above,
            sort=sort,
            runs=selectors.prescore_runs(dataset)[:10],
        ),
    )
