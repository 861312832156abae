"""Creating a dataset asks who reviews it: existing accounts become its reviewers at once, or
an invitation link lets them join."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Invitation, Membership, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="staff", is_staff=True)


def test_the_new_dataset_form_lists_accounts_to_review_it(staff, client_for):
    UserFactory(username="rita")
    page = client_for(staff).get(reverse("dataset_create")).content.decode()
    assert "Who reviews it?" in page
    assert 'type="checkbox" name="reviewers"' in page and "rita" in page
    assert "Also make an invitation link" in page


def test_chosen_reviewers_are_members_of_the_new_dataset(staff, client_for):
    rita, sam = UserFactory(username="rita"), UserFactory(username="sam")
    UserFactory(username="not-chosen")
    response = client_for(staff).post(
        reverse("dataset_create"),
        {
            "name": "Billing chats",
            "base_model": "gpt-4.1-mini-2025-04-14",
            "reviewers": [rita.pk, sam.pk],
        },
    )
    assert response.status_code == 302
    roles = dict(
        Membership.objects.filter(dataset__slug="billing-chats").values_list(
            "user__username", "role"
        )
    )
    assert roles == {"staff": Role.ADMIN, "rita": Role.REVIEWER, "sam": Role.REVIEWER}


def test_asking_for_an_invitation_link_shows_it_on_the_members_page(staff, client_for):
    client = client_for(staff)
    response = client.post(
        reverse("dataset_create"),
        {"name": "Billing chats", "base_model": "gpt-4.1-mini-2025-04-14", "invite": "on"},
        follow=True,
    )
    invitation = Invitation.objects.get(dataset__slug="billing-chats")
    assert response.redirect_chain[-1][0] == reverse("dataset_members", args=["billing-chats"])
    assert invitation.get_absolute_url() in response.content.decode()


def test_a_non_staff_creator_is_not_offered_staff_accounts(client_for, settings):
    settings.CURATOR_ANYONE_CAN_CREATE_DATASETS = True
    creator = UserFactory(username="creator")
    UserFactory(username="somestaff", is_staff=True)
    UserFactory(username="colleague")
    page = client_for(creator).get(reverse("dataset_create")).content.decode()
    assert "colleague" in page and "somestaff" not in page
