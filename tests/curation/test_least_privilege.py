"""Least privilege: who creates datasets, who grants staff accounts, and the last admin."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from curation.models import Dataset, Membership, Role
from curation.services.memberships import MembershipError, membership_change_role
from tests.factories import DatasetFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_dataset_creation_is_for_site_staff_by_default(client_for, admin_user):
    client = client_for(admin_user)
    assert client.get(reverse("dataset_create")).status_code == 403
    response = client.post(
        reverse("dataset_create"), {"name": "Mine", "base_model": "gpt-4.1-mini-2025-04-14"}
    )
    assert response.status_code == 403 and not Dataset.objects.filter(slug="mine").exists()
    assert reverse("dataset_create").encode() not in client.get(reverse("dataset_list")).content


def test_site_staff_create_datasets(client_for, db):
    staff = UserFactory(username="ops", is_staff=True)
    client = client_for(staff)
    assert reverse("dataset_create").encode() in client.get(reverse("dataset_list")).content
    response = client.post(
        reverse("dataset_create"), {"name": "Ops", "base_model": "gpt-4.1-mini-2025-04-14"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(dataset__slug="ops", user=staff).role == Role.ADMIN


def test_a_setting_opens_dataset_creation_to_everyone(client_for, admin_user, settings):
    settings.CURATOR_ANYONE_CAN_CREATE_DATASETS = True
    response = client_for(admin_user).post(
        reverse("dataset_create"), {"name": "Mine", "base_model": "gpt-4.1-mini-2025-04-14"}
    )
    assert response.status_code == 302 and Dataset.objects.filter(slug="mine").exists()


def test_only_site_staff_can_add_a_staff_account(client_for, dataset, admin_user):
    UserFactory(username="root", is_staff=True)
    url = reverse("dataset_members", args=[dataset.slug])
    response = client_for(admin_user).post(url, {"username": "root", "role": "reviewer"})
    assert response.status_code == 200
    assert b"only they can add a staff account" in response.content
    assert not Membership.objects.filter(dataset=dataset, user__username="root").exists()
    staff = UserFactory(username="ops", is_staff=True)
    MembershipFactory(dataset=dataset, user=staff, role=Role.ADMIN)
    response = client_for(staff).post(url, {"username": "root", "role": "reviewer"})
    assert response.status_code == 302
    assert Membership.objects.filter(dataset=dataset, user__username="root").exists()


def test_a_demoted_admin_can_no_longer_change_members(dataset, admin_user, reviewer):
    other = UserFactory(username="other")
    MembershipFactory(dataset=dataset, user=other, role=Role.ADMIN)
    own = Membership.objects.get(dataset=dataset, user=admin_user)
    membership_change_role(dataset=dataset, actor=other, member_id=own.pk, role=Role.REVIEWER)
    reviewer_member = Membership.objects.get(dataset=dataset, user=reviewer)
    with pytest.raises(MembershipError, match="Only dataset admins"):
        membership_change_role(
            dataset=dataset, actor=admin_user, member_id=reviewer_member.pk, role=Role.ADMIN
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("trial", range(5))
def test_two_admins_demoting_each_other_at_once_leave_one_admin(trial):
    dataset = DatasetFactory(slug=f"race-{trial}")
    alice, bob = UserFactory(username=f"alice{trial}"), UserFactory(username=f"bob{trial}")
    alice_member = MembershipFactory(dataset=dataset, user=alice, role=Role.ADMIN)
    bob_member = MembershipFactory(dataset=dataset, user=bob, role=Role.ADMIN)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor, member) -> None:  # type: ignore[no-untyped-def]
        try:
            start.wait()
            membership_change_role(
                dataset=dataset, actor=actor, member_id=member.pk, role=Role.REVIEWER
            )
            outcomes.append("demoted")
        except MembershipError as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(alice, bob_member)),
        threading.Thread(target=demote, args=(bob, alice_member)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["Only dataset admins can change members.", "demoted"]
    assert Membership.objects.filter(dataset=dataset, role=Role.ADMIN).count() == 1
