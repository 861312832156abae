""" "With warnings N" says which warnings: on the import page, with what each means and a link
to the conversations, and in the import command's output."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.conftest import DATA
from tests.curation.import_helpers import import_file

pytestmark = pytest.mark.django_db


def test_the_import_page_names_each_warning_with_its_count_and_meaning(
    dataset, admin_user, client_for
):
    batch = import_file(dataset, DATA / "alpaca.jsonl", fmt="alpaca")
    assert batch.warnings == batch.imported > 0
    page = client_for(admin_user).get(reverse("import_detail", args=[dataset.slug, batch.pk]))
    text = page.content.decode()
    assert f"No system message: {batch.imported}" in text
    assert "normal for Alpaca and ShareGPT files without a system turn" in text
    link = reverse("conversation_list", args=[dataset.slug])
    assert f"{link}?batch={batch.pk}&amp;flag=no_system_message" in text


def test_the_import_command_says_which_warnings(dataset, capsys):
    path = str(DATA / "alpaca.jsonl")
    call_command("import_conversations", "--dataset", dataset.slug, "--format", "alpaca", path)
    out = capsys.readouterr().out
    assert "with warnings" in out and "(no system message " in out


def test_the_import_commands_json_counts_each_warning(dataset, capsys):
    path = str(DATA / "openai_ok.jsonl")
    call_command("import_conversations", "--dataset", dataset.slug, "--json", path)
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert isinstance(last["warning_counts"], dict)
    assert sum(last["warning_counts"].values()) >= (1 if last["warnings"] else 0)
