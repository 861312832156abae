from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.forms import DatasetCreateForm, DatasetSettingsForm, MemberAddForm
from curation.http import AuthenticatedHttpRequest
from curation.models import ConversationStatus, Invitation, Membership, Role
from curation.permissions import (
    can_create_datasets,
    get_dataset_for_user,
    is_dataset_admin,
    require_dataset_creator,
)
from curation.selectors.dashboards import review_dashboard, status_counts
from curation.services import memberships
from curation.services.memberships import MembershipError


def dataset_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("dataset")
        .annotate(conversation_count=Count("dataset__conversations"))
        .order_by("dataset__name")
    )
    return render(
        request,
        "curation/dataset_list.html",
        {"memberships": memberships, "can_create": can_create_datasets(request.user)},
    )


def dataset_create(request: HttpRequest) -> HttpResponse:
    require_dataset_creator(request)
    form = DatasetCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        reviewers = list(form.cleaned_data["reviewers"])
        dataset = memberships.dataset_create(
            dataset=form.save(commit=False),
            user=request.user,
            reviewers=reviewers,
            invite=form.cleaned_data["invite"],
        )
        added = (
            f" {len(reviewers)} reviewer{'s' if len(reviewers) != 1 else ''} added."
            if reviewers
            else ""
        )
        if form.cleaned_data["invite"]:
            messages.success(
                request,
                f"Created {dataset.name}. You are its admin.{added} Send the invitation link "
                "below to your reviewers.",
            )
            return redirect("dataset_members", slug=dataset.slug)
        messages.success(request, f"Created {dataset.name}. You are its admin.{added}")
        return redirect(dataset)
    return render(request, "curation/dataset_create.html", {"form": form})


def dataset_detail(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    counts = status_counts(dataset)
    batches = dataset.batches.select_related("created_by")[:5]
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
        memberships.dataset_settings_save(
            dataset=form.save(commit=False), changed=form.changed_data, actor=request.user
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
            raise PermissionDenied("Only dataset admins can add members.")
        if form.is_valid():
            user = form.cleaned_data["username"]
            try:
                member = memberships.membership_add(
                    dataset=dataset, actor=request.user, user=user, role=form.cleaned_data["role"]
                )
            except MembershipError as error:
                form.add_error("username", str(error))
            else:
                messages.success(
                    request, f"Added {user.username} as {member.get_role_display().lower()}."
                )
                return redirect("dataset_members", slug=dataset.slug)
    members = dataset.memberships.select_related("user").order_by("user__username")
    invitations = (
        [i for i in dataset.invitations.select_related("created_by") if i.is_usable]
        if admin
        else []
    )
    return render(
        request,
        "curation/dataset_members.html",
        {
            "dataset": dataset,
            "members": members,
            "form": form,
            "is_admin": admin,
            "roles": Role.choices,
            "invitations": invitations,
            "invitation_days": memberships.INVITATION_DAYS,
        },
    )


@require_POST
def invitation_create(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    try:
        memberships.invitation_create(dataset=dataset, actor=request.user)
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Invitation link made: send it to your reviewers.")
    return redirect("dataset_members", slug=dataset.slug)


@require_POST
def invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    try:
        memberships.invitation_revoke(
            dataset=dataset, actor=request.user, invitation_id=invitation_id
        )
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Invitation link revoked: it no longer works.")
    return redirect("dataset_members", slug=dataset.slug)


def invitation_accept(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    """Anyone signed in who holds the link may see which dataset it is for and join it."""
    invitation = Invitation.from_token(token)
    if invitation is None or not invitation.is_usable:
        return render(
            request, "curation/invitation_invalid.html", {"invitation": invitation}, status=404
        )
    member = Membership.objects.filter(dataset=invitation.dataset, user=request.user).first()
    if member is not None:
        return redirect(invitation.dataset)
    if request.method == "POST":
        try:
            member = memberships.invitation_accept(invitation=invitation, user=request.user)
        except MembershipError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                f"You joined {invitation.dataset.name} as {member.get_role_display().lower()}.",
            )
            return redirect(invitation.dataset)
    return render(request, "curation/invitation_accept.html", {"invitation": invitation})


@require_POST
def member_update(request: HttpRequest, slug: str, member_id: int) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    action = request.POST.get("action")
    try:
        if action == "remove":
            member = memberships.membership_remove(
                dataset=dataset, actor=request.user, member_id=member_id
            )
            messages.success(request, f"Removed {member.user.username}.")
        elif action == "role":
            member = memberships.membership_change_role(
                dataset=dataset,
                actor=request.user,
                member_id=member_id,
                role=request.POST.get("role", ""),
            )
            messages.success(
                request, f"{member.user.username} is now {member.get_role_display().lower()}."
            )
        else:
            messages.error(request, "Unknown action.")
    except MembershipError as error:
        messages.error(request, str(error))
    return redirect("dataset_members", slug=dataset.slug)
