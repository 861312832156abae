from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from curation.forms import AddFindingForm, PiiSettingsForm
from curation.http import HtmxHttpRequest
from curation.models import FindingDecision, PiiFinding
from curation.permissions import (
    get_conversation_for_user,
    get_dataset_for_user,
    get_finding_for_user,
    get_pii_run_for_user,
    is_dataset_admin,
)
from curation.selectors.chat import message_segments, pii_chat
from curation.selectors.pii import approved_unpurged_count, recent_runs
from curation.selectors.pii import pii_overview as overview_of
from curation.selectors.review_queue import can_edit
from curation.services.pii.findings import (
    PiiDecisionError,
    add_reviewer_findings,
    set_finding_decision,
)
from curation.services.pii.retention import purge_originals
from curation.services.pii.runs import (
    pii_run_retry,
    pii_settings_update,
    start_detection,
)
from curation.views.flash import flash_queued


def pii_overview(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    runs = recent_runs(dataset)
    template = "curation/pii_overview.html"
    if request.htmx and request.GET.get("fragment") == "progress":
        template += "#pii-progress"
    return render(
        request,
        template,
        {
            "dataset": dataset,
            "run": next((r for r in runs if r.is_active), None),
            "runs": runs,
            "overview": overview_of(dataset=dataset),
            "is_admin": is_dataset_admin(dataset),
        },
    )


def pii_settings(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    form = PiiSettingsForm(request.POST or None, instance=dataset)
    if request.method == "POST" and form.is_valid():
        pii_settings_update(
            dataset=form.save(commit=False), user=request.user, changed=form.changed_data
        )
        messages.success(
            request,
            "PII settings saved. Re-run detection to apply them to conversations already scanned.",
        )
        return redirect("pii_overview", slug=dataset.slug)
    return render(
        request, "curation/pii_settings.html", {"dataset": dataset, "form": form, "is_admin": True}
    )


@require_POST
def pii_rerun(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    run = start_detection(dataset=dataset, user=request.user, rescan_all=True)
    if run is None:
        messages.success(request, "Detection queued for 0 conversations.")
    else:
        flash_queued(request, run, f"Detection queued for {run.total} conversations.")
    return redirect("pii_overview", slug=dataset.slug)


@require_POST
def pii_retry(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_pii_run_for_user(request, slug, run_id)
    if pii_run_retry(run=run, user=request.user):
        flash_queued(
            request, run, "Retrying; conversations already analyzed by this run are skipped."
        )
    else:
        messages.error(request, "Only a failed run can be retried.")
    return redirect("pii_overview", slug=slug)


def pii_purge(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    count = approved_unpurged_count(dataset)
    if request.method == "POST":
        if request.POST.get("confirm") != str(count):
            messages.error(
                request, "The number of conversations changed; check it and confirm again."
            )
            return redirect("pii_purge", slug=dataset.slug)
        purged = purge_originals(dataset=dataset, user=request.user)
        messages.success(
            request,
            f"Purged the originals of {purged} approved conversations; their redacted text stays.",
        )
        return redirect("pii_overview", slug=dataset.slug)
    return render(
        request,
        "curation/pii_purge_confirm.html",
        {"dataset": dataset, "count": count, "is_admin": True},
    )


def _view(request: HttpRequest) -> str:
    return request.GET.get("view") or request.POST.get("view") or "original"


def conversation_chat(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    """The chat panel (original with highlights, or redacted), for htmx view switching."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    return render(request, "partials/pii_chat.html", pii_chat(conversation, view=_view(request)))


def _decide(request: HttpRequest, finding: PiiFinding) -> str:
    """Apply the posted decision (or toggle); returns an error message, or ""."""
    decision = request.POST.get("decision")
    if decision not in FindingDecision.values:
        decision = (
            FindingDecision.KEEP
            if finding.decision == FindingDecision.REDACT
            else FindingDecision.REDACT
        )
    try:
        set_finding_decision(finding=finding, decision=decision, user=request.user)
    except PiiDecisionError as error:
        return str(error)
    return ""


@require_POST
def finding_decide(
    request: HtmxHttpRequest, slug: str, conversation_id: int, finding_id: int
) -> HttpResponse:
    finding = get_finding_for_user(request, slug, conversation_id, finding_id)
    conversation = finding.conversation
    error = _decide(request, finding)
    if request.htmx:
        context = pii_chat(conversation, view=_view(request))
        return render(request, "partials/pii_chat.html", {**context, "pii_error": error})
    if error:
        messages.error(request, error)
    return redirect(conversation.get_absolute_url())


@require_POST
def review_finding_decide(
    request: HtmxHttpRequest, slug: str, conversation_id: int, finding_id: int
) -> HttpResponse:
    """Keep or redact a finding from the review page; answers with the review chat."""
    finding = get_finding_for_user(request, slug, conversation_id, finding_id)
    conversation = finding.conversation
    error = _decide(request, finding)
    review_url = reverse("review_conversation", args=[slug, conversation.pk])
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(review_url)
    conversation.refresh_from_db()
    dataset = conversation.dataset
    return render(
        request,
        "partials/review_chat.html",
        {
            "dataset": dataset,
            "conversation": conversation,
            "chat_messages": message_segments(conversation),
            "can_edit": can_edit(conversation, request.user, is_admin=is_dataset_admin(dataset)),
            "pii_error": error,
        },
    )


@require_POST
def finding_add(request: HtmxHttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id)
    if conversation.originals_purged_at is not None:
        raise PermissionDenied("The original text was purged; nothing is left to redact.")
    form = AddFindingForm(request.POST)
    error = ""
    created: list[PiiFinding] = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = add_reviewer_findings(
                conversation=conversation,
                text=data["text"],
                entity_type=data["entity_type"],
                user=request.user,
                message_index=data.get("message_index"),
                field=data.get("field") or None,
                start=data.get("start"),
            )
            if not request.htmx:
                messages.success(request, f"Redacted {len(created)} occurrence(s).")
        except ValueError as exc:
            error = str(exc)
    else:
        error = "; ".join(
            f"{name}: {' '.join(map(str, errs))}" for name, errs in form.errors.items()
        )
    if request.htmx:
        context = {**pii_chat(conversation, view=_view(request)), "pii_error": error}
        html = render_to_string("partials/pii_chat.html", context, request=request)
        if not error:
            # The form comes back empty and the page's finding count follows (out of band).
            html += render_to_string(
                "partials/pii_add_form.html", {**context, "oob": True}, request=request
            )
        return HttpResponse(html)
    if error:
        messages.error(request, error)
    return redirect(conversation.get_absolute_url())
