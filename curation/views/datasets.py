from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation.forms import DatasetCreateForm, DatasetSettingsForm, MemberAddForm
from curation.models import AuditEvent, ConversationStatus, Membership, Role
from curation.permissions import get_dataset_for_user, is_dataset_admin
from curation.services.reviews import review_dashboard, status_counts


def dataset_list(request: HttpRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("dataset")
        .annotate(conversation_count=Count("dataset__conversations"))
        .order_by("dataset__name")
    )
    return render(request, "curation/dataset_list.html", {"memberships": memberships})


def dataset_create(request: HttpRequest) -> HttpResponse:
    form = DatasetCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            dataset = form.save(commit=False)
            dataset.created_by = request.user
            dataset.save()
            Membership.objects.create(dataset=dataset, user=request.user, role=Role.ADMIN)
            AuditEvent.record(
                actor=request.user, action="dataset.create", obj=dataset, dataset=dataset
            )
        messages.success(request, f"Created {dataset.name}. You are its admin.")
        return redirect(dataset)
    return render(request, "curation/dataset_create.html", {"form": form})


def dataset_detail(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    counts = status_counts(dataset)
    batches = dataset.batches.select_related("created_by")[:5]
    for batch in batches:
        batch.refresh_lost()
    return render(
        request,
        "curation/dataset_detail.html",
        {
            "dataset": dataset,
            "counts": counts,
            "statuses": [
                (status.value, status.label, counts[status.value]) for status in ConversationStatus
            ],
            "batches": batches,
            "is_admin": is_dataset_admin(dataset),
            **review_dashboard(dataset),
        },
    )


def dataset_settings(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    form = DatasetSettingsForm(request.POST or None, instance=dataset)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            AuditEvent.record(
                actor=request.user,
                action="dataset.settings",
                obj=dataset,
                dataset=dataset,
                changed=sorted(form.changed_data),
            )
        messages.success(request, "Settings saved.")
        return redirect("dataset_settings", slug=dataset.slug)
    return render(
        request,
        "curation/dataset_settings.html",
        {"dataset": dataset, "form": form, "is_admin": True},
    )


def dataset_members(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    admin = is_dataset_admin(dataset)
    form = MemberAddForm(request.POST or None, dataset=dataset)
    if request.method == "POST":
        if not admin:
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("Only dataset admins can add members.")
        if form.is_valid():
            user = form.cleaned_data["username"]
            with transaction.atomic():
                member = Membership.objects.create(
                    dataset=dataset, user=user, role=form.cleaned_data["role"]
                )
                AuditEvent.record(
                    actor=request.user,
                    action="member.add",
                    obj=member,
                    dataset=dataset,
                    user=user.username,
                    role=member.role,
                )
            messages.success(
                request, f"Added {user.username} as {member.get_role_display().lower()}."
            )
            return redirect("dataset_members", slug=dataset.slug)
    members = dataset.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "curation/dataset_members.html",
        {
            "dataset": dataset,
            "members": members,
            "form": form,
            "is_admin": admin,
            "roles": Role.choices,
        },
    )


@require_POST
def member_update(request: HttpRequest, slug: str, member_id: int) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    member = get_object_or_404(Membership, pk=member_id, dataset=dataset)
    action = request.POST.get("action")
    admins = dataset.memberships.filter(role=Role.ADMIN)
    is_last_admin = member.role == Role.ADMIN and admins.count() == 1
    if action == "remove":
        if is_last_admin:
            messages.error(
                request, "A dataset needs at least one admin; make someone else admin first."
            )
        else:
            with transaction.atomic():
                AuditEvent.record(
                    actor=request.user,
                    action="member.remove",
                    obj=member,
                    dataset=dataset,
                    user=member.user.username,
                )
                member.delete()
            messages.success(request, f"Removed {member.user.username}.")
    elif action == "role" and request.POST.get("role") in Role.values:
        new_role = request.POST["role"]
        if is_last_admin and new_role != Role.ADMIN:
            messages.error(
                request, "A dataset needs at least one admin; make someone else admin first."
            )
        else:
            with transaction.atomic():
                member.role = new_role
                member.save(update_fields=["role"])
                AuditEvent.record(
                    actor=request.user,
                    action="member.role",
                    obj=member,
                    dataset=dataset,
                    user=member.user.username,
                    role=new_role,
                )
            messages.success(
                request, f"{member.user.username} is now {member.get_role_display().lower()}."
            )
    else:
        messages.error(request, "Unknown action.")
    return redirect("dataset_members", slug=dataset.slug)
