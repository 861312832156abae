from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from curation.forms import AddFindingForm, PiiSettingsForm
from curation.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    FindingDecision,
    PiiFinding,
)
from curation.permissions import get_conversation_for_user, get_dataset_for_user, is_dataset_admin
from curation.pii.highlight import highlighted_messages
from curation.pii.policy import KNOWN_ENTITIES
from curation.services import pii as pii_service
from curation.services import reviews as review_service

RUN_HISTORY = 20


def pii_overview(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    pii_service.reconcile_runs(dataset_id=dataset.pk)
    runs = list(dataset.pii_runs.select_related("created_by")[:RUN_HISTORY])
    run = next((r for r in runs if r.is_active), None)
    template = "curation/pii_overview.html"
    if request.htmx and request.GET.get("fragment") == "progress":
        template += "#pii-progress"
    return render(
        request,
        template,
        {
            "dataset": dataset,
            "run": run,
            "runs": runs,
            "overview": pii_service.pii_overview(dataset=dataset),
            "is_admin": is_dataset_admin(dataset),
        },
    )


def pii_settings(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    form = PiiSettingsForm(request.POST or None, instance=dataset)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            if not dataset.pii_detection:
                pii_service.skip_detection(dataset=dataset)
            AuditEvent.record(
                actor=request.user,
                action="pii.settings",
                obj=dataset,
                dataset=dataset,
                changed=sorted(form.changed_data),
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
    run = pii_service.start_detection(dataset=dataset, user=request.user, rescan_all=True)
    messages.success(request, f"Detection queued for {run.total if run else 0} conversations.")
    return redirect("pii_overview", slug=dataset.slug)


@require_POST
def pii_retry(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    run = dataset.pii_runs.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such detection run.")
    run.refresh_lost()
    if run.retry():
        AuditEvent.record(actor=request.user, action="pii.retry", obj=run, dataset=dataset)
        messages.success(
            request, "Retrying; conversations already analyzed by this run are skipped."
        )
    else:
        messages.error(request, "Only a failed run can be retried.")
    return redirect("pii_overview", slug=dataset.slug)


def pii_purge(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    count = dataset.conversations.filter(
        status=ConversationStatus.APPROVED, originals_purged_at__isnull=True
    ).count()
    if request.method == "POST":
        if request.POST.get("confirm") != str(count):
            messages.error(
                request, "The number of conversations changed; check it and confirm again."
            )
            return redirect("pii_purge", slug=dataset.slug)
        purged = pii_service.purge_originals(dataset=dataset, user=request.user)
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


def _chat_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    view = request.GET.get("view") or request.POST.get("view") or "original"
    purged = conversation.originals_purged_at is not None
    findings = [] if purged else list(conversation.findings.all())
    counts = {
        "total": len(findings),
        "redacted": sum(f.decision == FindingDecision.REDACT for f in findings),
        "kept": sum(f.decision == FindingDecision.KEEP for f in findings),
    }
    base = {
        "dataset": conversation.dataset,
        "conversation": conversation,
        "purged": purged,
        "pii_counts": counts,
        "entity_types": KNOWN_ENTITIES,
    }
    if view == "redacted" or purged:
        shown = pii_service.redacted_messages(conversation)
        return {**base, "messages_list": shown, "view": "redacted", "can_edit": False}
    return {
        **base,
        "messages_list": highlighted_messages(conversation.current_messages(), findings),
        "findings": findings,
        "view": "original",
        "can_edit": True,
    }


def conversation_chat(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    """The chat panel (original with highlights, or redacted), for htmx view switching."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    return render(request, "partials/pii_chat.html", _chat_context(request, conversation))


def _finding(conversation: Conversation, finding_id: int) -> PiiFinding:
    finding = PiiFinding.objects.filter(pk=finding_id, conversation=conversation).first()
    if finding is None:
        raise Http404("No such finding.")
    return finding


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
        pii_service.set_finding_decision(finding=finding, decision=decision, user=request.user)
    except pii_service.PiiDecisionError as error:
        return str(error)
    return ""


@require_POST
def finding_decide(
    request: HttpRequest, slug: str, conversation_id: int, finding_id: int
) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id)
    error = _decide(request, _finding(conversation, finding_id))
    if request.htmx:
        context = _chat_context(request, conversation)
        return render(request, "partials/pii_chat.html", {**context, "pii_error": error})
    if error:
        messages.error(request, error)
    return redirect(conversation.get_absolute_url())


@require_POST
def review_finding_decide(
    request: HttpRequest, slug: str, conversation_id: int, finding_id: int
) -> HttpResponse:
    """Keep or redact a finding from the review page; answers with the review chat."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    error = _decide(request, _finding(conversation, finding_id))
    review_url = reverse("review_conversation", args=[slug, conversation.pk])
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(review_url)
    conversation = Conversation.objects.select_related("dataset").get(pk=conversation.pk)
    dataset = conversation.dataset
    return render(
        request,
        "partials/review_chat.html",
        {
            "dataset": dataset,
            "conversation": conversation,
            "chat_messages": review_service.message_segments(conversation),
            "can_edit": review_service.can_edit(
                conversation, request.user, is_admin=is_dataset_admin(dataset)
            ),
            "pii_error": error,
        },
    )


@require_POST
def finding_add(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id)
    if conversation.originals_purged_at is not None:
        raise PermissionDenied("The original text was purged; nothing is left to redact.")
    form = AddFindingForm(request.POST)
    error = ""
    created: list[PiiFinding] = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = pii_service.add_reviewer_findings(
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
        error = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
    if request.htmx:
        context = {**_chat_context(request, conversation), "pii_error": error}
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
