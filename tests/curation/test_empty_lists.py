"""Every list, while empty, says how to fill it (or who does)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def text(client, name, *args):  # type: ignore[no-untyped-def]
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200, name
    return response.content.decode()


def test_empty_lists_tell_an_admin_how_to_fill_them(dataset, admin_user, client_for):
    client = client_for(admin_user)
    slug = dataset.slug
    assert "Import some" in text(client, "conversation_list", slug)
    assert "Freeze the approved examples" in text(client, "version_list", slug)
    assert "Launch a fine-tune” trains on a built version" in text(client, "finetune_list", slug)
    assert "“New evaluation”" in text(client, "eval_home", slug)
    assert "fine-tune a version or evaluate a model" in text(client, "registry_home", slug)
    assert "Make one with the form above" in text(client, "token_list")
    assert "appear here as people make them" in text(client, "audit_log", slug)
    assert "Detection starts by itself after each import" in text(client, "pii_overview", slug)


def test_empty_lists_tell_a_reviewer_who_fills_them(dataset, reviewer, client_for):
    client = client_for(reviewer)
    slug = dataset.slug
    assert "A dataset admin imports them" in text(client, "conversation_list", slug)
    assert "A dataset admin freezes the approved conversations" in text(
        client, "version_list", slug
    )
    assert "A dataset admin imports conversations here" in text(client, "import_list", slug)
