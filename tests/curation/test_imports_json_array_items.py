"""A JSON array's records are numbered by item: a one-line array reports each rejected item by
its index, and every rejected item is listed (not one per physical line)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from curation.models import Conversation
from tests.curation.import_helpers import errors_by_line, import_file

pytestmark = pytest.mark.django_db

GOOD = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}
BAD_ROLE = {"conversations": [{"from": "robot", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}


def one_line_array(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "one-line.json"
    other = {"conversations": [{"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Ciao"}]}
    path.write_text(json.dumps([GOOD, BAD_ROLE, other, "not an object"]))
    return path


def test_each_rejected_item_of_a_one_line_array_is_listed_by_its_index(dataset, tmp_path):
    batch = import_file(dataset, one_line_array(tmp_path))
    assert batch.numbered_by == "item"
    assert (batch.imported, batch.invalid) == (2, 2)
    errors = errors_by_line(batch)
    assert set(errors) == {2, 4}
    assert "robot" in errors[2][1] and "not a JSON object" in errors[4][1]
    lines = set(Conversation.objects.filter(batch=batch).values_list("source_line", flat=True))
    assert lines == {1, 3}


def test_the_import_page_and_the_command_say_item_not_line(
    dataset, admin_user, client_for, tmp_path, capsys
):
    path = one_line_array(tmp_path)
    batch = import_file(dataset, path)
    page = client_for(admin_user).get(reverse("import_detail", args=[dataset.slug, batch.pk]))
    text = page.content.decode()
    assert "Items not imported" in text and '<th class="num">Item</th>' in text
    call_command("import_conversations", "--dataset", "other", "--create", str(path))
    out = capsys.readouterr().out
    assert "  item 2: " in out and "  item 4: " in out
    call_command("import_conversations", "--dataset", "third", "--create", "--json", str(path))
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["numbered_by"] == "item"
    assert [error["item"] for error in last["errors"]] == [2, 4]


def test_the_json_errors_of_an_array_file_keep_the_documented_line_key(dataset, tmp_path, capsys):
    call_command(
        "import_conversations",
        "--dataset",
        "x",
        "--create",
        "--json",
        str(one_line_array(tmp_path)),
    )
    errors = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["errors"]
    assert [(e["line"], e["item"], e["numbered_by"]) for e in errors] == [
        (2, 2, "item"),
        (4, 4, "item"),
    ]
    assert all(isinstance(e["reason"], str) and e["reason"] for e in errors)


def test_jsonl_files_keep_numbering_by_line(dataset, tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(BAD_ROLE) + "\n")
    batch = import_file(dataset, path)
    assert batch.numbered_by == "line"
    assert set(errors_by_line(batch)) == {2}
    (error,) = batch.as_summary()["errors"]
    assert error["line"] == 2 and "item" not in error
