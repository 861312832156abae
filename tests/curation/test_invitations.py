"""An invitation link adds whoever opens it, signed in, to the dataset as a reviewer, until it
expires or a dataset admin revokes it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from curation.models import AuditEvent, Invitation, Membership, Role
from curation.services.memberships import invitation_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(dataset, admin_user):  # type: ignore[no-untyped-def]
    return invitation_create(dataset=dataset, actor=admin_user)


def test_opening_the_link_and_joining_makes_a_reviewer(dataset, invitation, client_for):
    newcomer = UserFactory(username="newcomer")
    client = client_for(newcomer)
    page = client.get(invitation.get_absolute_url())
    assert page.status_code == 200 and f"Join {dataset.name}" in page.content.decode()
    response = client.post(invitation.get_absolute_url())
    assert response.status_code == 302 and response.url == dataset.get_absolute_url()
    assert Membership.objects.get(dataset=dataset, user=newcomer).role == Role.REVIEWER
    assert AuditEvent.objects.filter(action="member.join", actor=newcomer).exists()
    invitation.refresh_from_db()
    assert invitation.accepted == 1


def test_signed_out_visitors_are_sent_to_log_in_first(invitation, client_for):
    response = client_for(None).get(invitation.get_absolute_url())
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_a_revoked_link_joins_nobody(dataset, admin_user, invitation, client_for):
    client = client_for(admin_user)
    client.post(reverse("invitation_revoke", args=[dataset.slug, invitation.pk]))
    newcomer = UserFactory(username="newcomer")
    response = client_for(newcomer).post(invitation.get_absolute_url())
    assert response.status_code == 404
    assert "expired or was revoked" in response.content.decode()
    assert not Membership.objects.filter(user=newcomer).exists()


def test_an_expired_link_joins_nobody(invitation, client_for):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(1))
    newcomer = UserFactory(username="newcomer")
    assert client_for(newcomer).post(invitation.get_absolute_url()).status_code == 404
    assert not Membership.objects.filter(user=newcomer).exists()


def test_a_forged_link_is_refused(invitation, client_for):
    newcomer = UserFactory(username="newcomer")
    forged = reverse("invitation_accept", args=[str(invitation.pk)])
    response = client_for(newcomer).post(forged)
    assert response.status_code == 404
    assert not Membership.objects.filter(user=newcomer).exists()


def test_an_admin_keeps_their_role_when_opening_a_reviewer_link(
    dataset, admin_user, invitation, client_for
):
    client_for(admin_user).post(invitation.get_absolute_url())
    assert Membership.objects.get(dataset=dataset, user=admin_user).role == Role.ADMIN


def test_only_dataset_admins_make_or_revoke_links(dataset, reviewer, invitation, client_for):
    client = client_for(reviewer)
    assert client.post(reverse("invitation_create", args=[dataset.slug])).status_code == 403
    revoke = reverse("invitation_revoke", args=[dataset.slug, invitation.pk])
    assert client.post(revoke).status_code == 403
    assert Invitation.objects.filter(dataset=dataset).count() == 1


def test_outsiders_cannot_make_links_for_a_dataset_they_are_not_in(dataset, outsider, client_for):
    response = client_for(outsider).post(reverse("invitation_create", args=[dataset.slug]))
    assert response.status_code == 404


def test_the_members_page_shows_the_link_to_admins_only(
    dataset, admin_user, reviewer, invitation, client_for
):
    url = reverse("dataset_members", args=[dataset.slug])
    assert invitation in invitations_linked(client_for(admin_user).get(url).content.decode())
    assert invitation not in invitations_linked(client_for(reviewer).get(url).content.decode())


def invitations_linked(html: str) -> list[Invitation | None]:
    """The invitations a page's links name. A link's token is signed with the current second
    (signing.dumps), so a link rendered a second apart differs character for character."""
    prefix = re.escape(reverse("invitation_accept", args=["TOKEN"]).split("TOKEN")[0])
    return [Invitation.from_token(token) for token in re.findall(prefix + r'([^/"]+)/', html)]
