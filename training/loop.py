"""Where a dataset stands in the loop, and the one thing to do next.

import → personal data → review → version → train → evaluate → promote → feed back. The
dataset page and the home page show the steps and one next action with its count ("312
waiting for review — Review"), so a newcomer never has to guess what comes after a step. The
next action follows the newest version through training, evaluation and promotion once one
exists; before that, and after a promotion, it works through the conversations upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse

from curation.models import ConversationStatus, Dataset, JobStatus, Role
from curation.models.pii import PiiRun
from curation.models.versions import DatasetVersion, VersionStatus
from curation.selectors.dashboards import status_counts
from training.evaluation.models import Comparison, EvalRun
from training.evaluation.services.runs import judge_against_base
from training.models import FineTuneJob
from training.registry.feedback import ingested
from training.registry.models import Model
from training.registry.stages import ModelStage, StageName

STEPS = (
    ("import", "Import"),
    ("pii", "Personal data"),
    ("review", "Review"),
    ("version", "Version"),
    ("train", "Fine-tune"),
    ("evaluate", "Evaluate"),
    ("promote", "Promote"),
    ("feedback", "Feed back"),
)


@dataclass
class Step:
    key: str
    label: str
    summary: str = ""
    state: str = "todo"  # done, current, todo or off


@dataclass
class NextAction:
    step: str
    text: str  # what is waiting, with its count
    button: str = ""  # the action's name; empty when someone else must act
    url: str = ""
    post: bool = False  # the action is a form post (one click), not a page
    who: str = ""  # who acts, when it is not the viewer
    step_label: str = ""


@dataclass
class Loop:
    steps: list[Step] = field(default_factory=list)
    next: NextAction | None = None


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def dataset_loop(dataset: Dataset, *, role: str) -> Loop:
    """The loop for a member of `dataset` with `role` (reviewer or admin)."""
    admin = role == Role.ADMIN
    slug = dataset.slug
    counts = status_counts(dataset)
    total = counts["total"]
    pending = counts[ConversationStatus.PENDING_PII]
    in_review = counts[ConversationStatus.IN_REVIEW]
    approved = counts[ConversationStatus.APPROVED]
    importing = dataset.batches.active().exists()
    detecting = PiiRun.objects.filter(dataset=dataset).active().exists()
    version = (
        DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.SUCCEEDED)
        .order_by("-number")
        .first()
    )
    building = DatasetVersion.objects.filter(dataset=dataset).active().first()
    new_approved = approved
    if version is not None:
        new_approved = (
            dataset.conversations.filter(status=ConversationStatus.APPROVED)
            .exclude(id__in=version.members.values("conversation_id"))
            .count()
        )
    job = (
        FineTuneJob.objects.filter(version=version).order_by("-id").first()
        if version is not None
        else None
    )
    model = Model.objects.filter(job=job).first() if job is not None else None
    runs = EvalRun.objects.filter(model=model) if model is not None else EvalRun.objects.none()
    finished = runs.filter(status=JobStatus.SUCCEEDED).order_by("-id").first()
    run_done = finished is not None
    compare_url = reverse("eval_home", args=[slug])
    if finished is not None and model is not None and model.base_id:
        base_run = (
            EvalRun.objects.filter(
                model_id=model.base_id,
                version_id=finished.version_id,
                split=finished.split,
                status=JobStatus.SUCCEEDED,
            )
            .order_by("-id")
            .first()
        )
        if base_run is not None:
            # The judge "Evaluate vs base" uses, so the comparison has a verdict without
            # asking a newcomer to name one; never one of the two models compared, which the
            # comparison would refuse.
            judge = judge_against_base(model)
            query = {
                "run_a": base_run.pk,
                "run_b": finished.pk,
                **({"judge": judge} if judge else {}),
            }
            compare_url = reverse("eval_comparison_create", args=[slug]) + "?" + urlencode(query)
    run_active = runs.active().exists()
    # "Evaluate vs base" scores the fine-tune's own validation split; a small version can
    # hold none (the split is a hash of each conversation), and the button would only fail.
    # The job (and so its model) is the latest version's: its validation split is that one's.
    held_back = version.validation_examples if version is not None else 0
    compared = (
        model is not None
        and Comparison.objects.filter(status=JobStatus.SUCCEEDED)
        .filter(Q(run_a__model=model) | Q(run_b__model=model))
        .exists()
    )
    production = (
        ModelStage.objects.select_related("model")
        .filter(dataset=dataset, stage=StageName.PRODUCTION)
        .first()
    )
    promoted = model is not None and production is not None and production.model_id == model.pk
    fed_back = ingested(dataset).count()

    steps = {key: Step(key, label) for key, label in STEPS}
    steps["import"].summary = _n(total, "conversation") if total else "nothing yet"
    steps["import"].state = "done" if total else "todo"
    if not dataset.pii_detection:
        steps["pii"].summary, steps["pii"].state = "detection off", "off"
    else:
        steps["pii"].summary = f"{pending:,} waiting" if pending else ("done" if total else "")
        steps["pii"].state = "done" if total and not pending else "todo"
    steps["review"].summary = f"{in_review:,} waiting · {approved:,} approved"
    steps["review"].state = "done" if approved and not in_review else "todo"
    if version is not None:
        steps["version"].summary = f"v{version.number} · {_n(version.examples, 'example')}"
        steps["version"].state = "done"
    else:
        steps["version"].summary = "none yet"
    if job is not None:
        steps["train"].summary = f"#{job.pk} {job.get_status_display().lower()}"
        steps["train"].state = "done" if job.status == JobStatus.SUCCEEDED else "todo"
    if model is not None:
        steps["evaluate"].summary = (
            "compared" if compared else ("evaluated" if run_done else "not yet")
        )
        steps["evaluate"].state = "done" if compared else "todo"
    if production is not None:
        steps["promote"].summary = production.model.label or production.model.name
        steps["promote"].state = "done" if promoted else "todo"
    if fed_back:
        steps["feedback"].summary = _n(fed_back, "conversation") + " fed back"
        steps["feedback"].state = "done"

    action = _next_action(
        slug=slug,
        admin=admin,
        total=total,
        importing=importing,
        pending=pending if dataset.pii_detection else 0,
        detecting=detecting,
        in_review=in_review,
        new_approved=new_approved,
        version=version,
        building=building,
        job=job,
        model=model,
        run_done=run_done,
        run_active=run_active,
        held_back=held_back,
        compare_url=compare_url,
        compared=compared,
        promoted=promoted,
    )
    steps[action.step].state = "current"
    action.step_label = steps[action.step].label
    return Loop(steps=list(steps.values()), next=action)


def _next_action(
    *,
    slug: str,
    admin: bool,
    total: int,
    importing: bool,
    pending: int,
    detecting: bool,
    in_review: int,
    new_approved: int,
    version: DatasetVersion | None,
    building: DatasetVersion | None,
    job: FineTuneJob | None,
    model: Model | None,
    run_done: bool,
    run_active: bool,
    held_back: int,
    compare_url: str,
    compared: bool,
    promoted: bool,
) -> NextAction:
    admins = "a dataset admin"
    if importing:
        return NextAction(
            "import", "An import is running", "Follow it", reverse("import_list", args=[slug])
        )
    if not total and version is None:
        if admin:
            return NextAction(
                "import",
                "No conversations yet",
                "Import conversations",
                reverse("import_list", args=[slug]),
            )
        return NextAction("import", "No conversations yet", who=f"{admins} imports them")
    upstream = version is None or promoted
    if upstream or not admin:
        if pending:
            text = f"{pending:,} waiting for personal-data detection"
            if detecting:
                return NextAction("pii", text, "Follow it", reverse("pii_overview", args=[slug]))
            return NextAction("pii", text, "Personal data", reverse("pii_overview", args=[slug]))
        if in_review:
            return NextAction(
                "review",
                f"{in_review:,} waiting for review",
                "Review",
                reverse("review_start", args=[slug]),
            )
    if building is not None:
        return NextAction(
            "version",
            f"Version {building.number} is being built",
            "Follow it",
            reverse("version_detail", args=[slug, building.number]),
        )
    if upstream and new_approved:
        since = f" since version {version.number}" if version is not None else ""
        text = f"{new_approved:,} approved{since}, not in a version yet"
        if admin:
            return NextAction(
                "version", text, "New version", reverse("version_create", args=[slug])
            )
        return NextAction("version", text, who=f"{admins} builds the next version")
    if version is None:
        return NextAction(
            "review",
            "Nothing approved yet",
            "Review",
            reverse("conversation_list", args=[slug]),
        )
    if promoted:
        return NextAction(
            "feedback",
            "Production conversations and their feedback come back through the API",
            "Make an ingest token",
            reverse("token_list"),
        )
    if not admin:
        return NextAction("review", "Nothing waiting for your review", who=f"{admins} trains")
    if job is None:
        return NextAction(
            "train",
            f"Version {version.number} ({_n(version.examples, 'example')}) is not fine-tuned yet",
            "Fine-tune",
            reverse("finetune_launch", args=[slug]),
        )
    job_url = reverse("finetune_detail", args=[slug, job.pk])
    if job.is_active:
        return NextAction("train", f"Fine-tune #{job.pk} is {job.status}", "Follow it", job_url)
    if job.status != JobStatus.SUCCEEDED or model is None:
        return NextAction("train", f"Fine-tune #{job.pk} {job.status}", "Open it", job_url)
    if run_active:
        return NextAction(
            "evaluate", "An evaluation is running", "Follow it", reverse("eval_home", args=[slug])
        )
    if not run_done and not held_back:
        return NextAction(
            "evaluate",
            f"Fine-tune #{job.pk} cannot be evaluated vs its base: version "
            f"{version.number} holds no validation examples. Import more "
            "conversations and build a new version, or evaluate on another split",
            "New evaluation",
            reverse("eval_run_create", args=[slug]),
        )
    if not run_done:
        return NextAction(
            "evaluate",
            f"Fine-tune #{job.pk} is not evaluated yet",
            "Evaluate vs base",
            reverse("eval_quick", args=[slug, model.pk]),
            post=True,
        )
    if not compared:
        return NextAction(
            "evaluate",
            f"Fine-tune #{job.pk} is evaluated, not yet compared with its base",
            "Compare with its base",
            compare_url,
        )
    return NextAction(
        "promote",
        f"Fine-tune #{job.pk} is compared, not promoted",
        "Promote",
        reverse("registry_model", args=[slug, model.pk]),
    )
