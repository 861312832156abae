"""The Imports page says what it imports and, while empty, how to fill it."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_upload_form_offers_preference_and_kto_files_as_imported(dataset, admin_user, client_for):
    page = client_for(admin_user).get(reverse("import_list", args=[dataset.slug]))
    text = page.content.decode()
    assert "not imported yet" not in text
    assert "Preference pairs" in text and "KTO labelled replies" in text


def test_empty_imports_list_tells_an_admin_how_to_import(dataset, admin_user, client_for):
    text = client_for(admin_user).get(reverse("import_list", args=[dataset.slug])).content.decode()
    assert "Nothing imported yet." in text
    assert f"manage.py import_conversations --dataset {dataset.slug} FILE" in text


def test_empty_imports_list_tells_a_reviewer_who_imports(dataset, reviewer, client_for):
    page = client_for(reviewer).get(reverse("import_list", args=[dataset.slug]))
    text = page.content.decode()
    assert "A dataset admin imports conversations here" in text
    assert "import_conversations" not in text
