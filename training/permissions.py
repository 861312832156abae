"""Who may see or change each training object: one ``get_X_for_user`` per kind of object.

Each loads the object through its dataset with ``curation.permissions.get_dataset_for_user``
(404 for outsiders, 403 for a reviewer where ``admin`` is asked for), so a view never looks
an object up by id alone.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import F as models_f
from django.db.models import Q
from django.http import Http404, HttpRequest

from curation.models import Dataset
from curation.permissions import get_dataset_for_user, is_dataset_admin
from training.evaluation.models import BlindPair, Comparison, EvalRun
from training.models import FineTuneJob
from training.registry.models import Model
from training.registry.stages import RetrainRun


def get_finetune_for_user(request: HttpRequest, slug: str, job_id: int) -> FineTuneJob:
    """The job if the user is an admin of its dataset (404 for outsiders, 403 reviewers)."""
    dataset = get_dataset_for_user(request, slug, admin=True)
    try:
        job = FineTuneJob.objects.select_related("version", "created_by").get(
            pk=job_id, dataset=dataset
        )
    except FineTuneJob.DoesNotExist:
        raise Http404("No such fine-tune job.") from None
    job.dataset = dataset
    job.version.dataset = dataset
    return job


BLIND_HIDDEN = (
    "This is part of a comparison open for blind review: until every pair has its verdicts, "
    "reviewers see neither model names, run ids, replies by model nor the judge's verdicts."
)


def sees_blind_results(request: HttpRequest, dataset: Dataset) -> bool:
    """Dataset admins and site staff see everything; reviewers see open comparisons blind."""
    return bool(request.user.is_staff or is_dataset_admin(dataset))


def blind_open(dataset: Dataset) -> tuple[set[int], set[int]]:
    """Ids of the dataset's comparisons open for blind review, and of their runs."""
    comparisons: set[int] = set()
    runs: set[int] = set()
    for comparison_id, run_a, run_b in (
        BlindPair.objects.filter(comparison__dataset=dataset)
        .filter(verdict_count__lt=models_f("comparison__reviews_needed"))
        .values_list("comparison_id", "comparison__run_a_id", "comparison__run_b_id")
        .distinct()
    ):
        comparisons.add(comparison_id)
        runs.update((run_a, run_b))
    return comparisons, runs


def get_run_for_user(
    request: HttpRequest, slug: str, run_id: int, *, admin: bool = False
) -> EvalRun:
    dataset = get_dataset_for_user(request, slug, admin=admin)
    run = (
        EvalRun.objects.select_related("model", "model__base", "judge", "version", "created_by")
        .filter(pk=run_id, dataset=dataset)
        .first()
    )
    if run is None:
        raise Http404("No such evaluation run.")
    if not sees_blind_results(request, dataset) and run.pk in blind_open(dataset)[1]:
        raise PermissionDenied(BLIND_HIDDEN)
    run.dataset = run.version.dataset = dataset
    return run


def get_comparison_for_user(
    request: HttpRequest,
    slug: str,
    comparison_id: int,
    *,
    admin: bool = False,
    results: bool = False,
) -> Comparison:
    """The comparison; with ``results`` (its page, its exports) a reviewer is refused while
    it is open for blind review. The blind page itself asks without ``results``."""
    dataset = get_dataset_for_user(request, slug, admin=admin)
    comparison = (
        Comparison.objects.select_related("run_a__model", "run_b__model", "run_a__version", "judge")
        .filter(pk=comparison_id, dataset=dataset)
        .first()
    )
    if comparison is None:
        raise Http404("No such comparison.")
    if results and not sees_blind_results(request, dataset) and comparison.open_for_blind_review:
        raise PermissionDenied(BLIND_HIDDEN)
    comparison.dataset = dataset
    return comparison


def get_model_for_user(
    request: HttpRequest, slug: str, model_id: int, *, admin: bool = False
) -> tuple[Dataset, Model]:
    """A model the dataset knows (trained on it, staged for it, or evaluated on it) and may
    name: another dataset's fine-tune is "not found" unless shared with this one."""
    dataset = get_dataset_for_user(request, slug, admin=admin)
    model = (
        Model.objects.usable_by(dataset)
        .filter(pk=model_id)
        .filter(Q(dataset=dataset) | Q(stages__dataset=dataset) | Q(eval_runs__dataset=dataset))
        .select_related("base", "version", "job", "job__version")
        .distinct()
        .first()
    )
    if model is None:
        raise Http404("No such model.")
    return dataset, model


def get_retrain_for_user(
    request: HttpRequest, slug: str, run_id: int, *, admin: bool = False
) -> RetrainRun:
    dataset = get_dataset_for_user(request, slug, admin=admin)
    run = (
        RetrainRun.objects.filter(dataset=dataset, pk=run_id)
        .select_related(
            "like", "version", "finetune", "candidate_run", "production_run", "comparison"
        )
        .first()
    )
    if run is None:
        raise Http404("No such retraining.")
    run.dataset = dataset
    return run
