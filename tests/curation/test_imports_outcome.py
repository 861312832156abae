"""An import's outcome is honest: succeeded, partial (some lines rejected) or failed
(nothing imported), on the pages and in the CLI's exit status and JSON."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from curation.models import ImportOutcome, JobStatus
from tests.conftest import DATA, ROOT, database_url
from tests.curation.import_helpers import import_file

pytestmark = pytest.mark.django_db

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


def write_lines(path, rows):  # type: ignore[no-untyped-def]
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows))
    return path


def test_a_clean_file_succeeds(dataset):
    batch = import_file(dataset, DATA / "alpaca.jsonl", fmt="alpaca")
    batch = import_file(dataset, DATA / "openai_ok.jsonl")
    assert batch.outcome == ImportOutcome.SUCCEEDED
    assert batch.outcome_message.endswith("3 imported")


def test_a_file_with_rejected_lines_is_partial(dataset, tmp_path):
    batch = import_file(dataset, write_lines(tmp_path / "some.jsonl", [GOOD, "{broken"]))
    assert batch.outcome == ImportOutcome.PARTIAL
    assert "1 imported, 1 lines rejected" in batch.outcome_message


def test_a_file_whose_every_line_is_invalid_failed_even_though_the_job_ran(dataset, tmp_path):
    batch = import_file(
        dataset, write_lines(tmp_path / "bad.jsonl", [{"messages": []}, {"messages": "x"}])
    )
    assert batch.status == JobStatus.SUCCEEDED
    assert batch.outcome == ImportOutcome.FAILED
    assert "nothing imported: 2 of 2 lines are invalid" in batch.outcome_message


def test_a_file_of_known_conversations_only_succeeds_with_nothing_new(dataset, tmp_path):
    path = write_lines(tmp_path / "again.jsonl", [GOOD])
    import_file(dataset, path)
    again = import_file(dataset, path)
    assert again.outcome == ImportOutcome.SUCCEEDED
    assert again.outcome_message == "again.jsonl: nothing new: all 1 are already in the dataset"


def test_known_conversations_beside_invalid_lines_are_partial_not_failed(dataset, tmp_path):
    import_file(dataset, write_lines(tmp_path / "first.jsonl", [GOOD]))
    again = import_file(dataset, write_lines(tmp_path / "again.jsonl", [GOOD, "{broken"]))
    assert again.outcome == ImportOutcome.PARTIAL


def test_cli_reimport_of_an_unchanged_file_exits_zero_saying_nothing_new(dataset, tmp_path, capsys):
    path = write_lines(tmp_path / "nightly.jsonl", [GOOD])
    call_command("import_conversations", "--dataset", dataset.slug, str(path))
    capsys.readouterr()
    call_command("import_conversations", "--dataset", dataset.slug, "--json", str(path))
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["outcome"] == "succeeded"
    assert (last["imported"], last["duplicates"]) == (0, 1)
    assert "nothing new" in last["message"]


def test_detail_page_of_a_reimport_says_nothing_new(dataset, admin_user, client_for, tmp_path):
    path = write_lines(tmp_path / "again.jsonl", [GOOD])
    import_file(dataset, path)
    again = import_file(dataset, path)
    page = client_for(admin_user).get(reverse("import_detail", args=[dataset.slug, again.pk]))
    text = page.content.decode()
    assert "nothing new: all 1 are already in the dataset" in text
    assert "Failed" not in text


def test_list_and_detail_pages_show_the_outcome(dataset, admin_user, client_for, tmp_path):
    failed = import_file(
        dataset, write_lines(tmp_path / "bad.jsonl", [{"messages": []}, {"messages": "x"}])
    )
    partial = import_file(dataset, write_lines(tmp_path / "some.jsonl", [GOOD, "{broken"]))
    client = client_for(admin_user)
    listing = client.get(reverse("import_list", args=[dataset.slug])).content.decode()
    assert "badge-outcome-failed" in listing and "Failed: nothing imported" in listing
    assert "badge-outcome-partial" in listing and "Succeeded with rejected lines" in listing
    assert ">Succeeded<" not in listing
    detail = client.get(reverse("import_detail", args=[dataset.slug, failed.pk])).content.decode()
    assert "Failed: nothing imported" in detail and "2 of 2 lines are invalid" in detail
    detail = client.get(reverse("import_detail", args=[dataset.slug, partial.pk])).content.decode()
    assert "Succeeded with rejected lines" in detail


def test_cli_exits_zero_when_some_lines_imported_and_json_ends_with_the_outcome(
    dataset, tmp_path, capsys
):
    path = write_lines(tmp_path / "some.jsonl", [GOOD, "{broken"])
    call_command("import_conversations", "--dataset", dataset.slug, "--json", str(path))
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["outcome"] == "partial"
    assert (last["imported"], last["invalid"]) == (1, 1)
    assert last["errors"][0]["line"] == 2


def test_cli_fails_with_one_line_when_nothing_was_imported_and_json_still_ends_with_it(
    dataset, tmp_path, capsys
):
    path = write_lines(tmp_path / "bad.jsonl", [{"messages": []}, "{broken"])
    with pytest.raises(CommandError) as raised:
        call_command("import_conversations", "--dataset", dataset.slug, "--json", str(path))
    assert "nothing imported" in str(raised.value) and "\n" not in str(raised.value)
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["outcome"] == "failed"


def test_cli_names_a_file_of_a_kind_not_imported_in_one_line(dataset, capsys):
    with pytest.raises(CommandError) as raised:
        call_command(
            "import_conversations", "--dataset", dataset.slug, str(DATA / "llamafactory_v1.jsonl")
        )
    assert "this is LLaMA-Factory v1 data" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_cli_with_several_files_succeeds_when_any_imported(dataset, tmp_path, capsys):
    good = write_lines(tmp_path / "good.jsonl", [GOOD])
    call_command(
        "import_conversations",
        "--dataset",
        dataset.slug,
        "--json",
        str(good),
        str(DATA / "llamafactory_v1.jsonl"),
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["outcome"] == "partial" and last["imported"] == 1


@pytest.mark.django_db(transaction=True)
def test_cli_process_exit_status_follows_the_outcome(tmp_path):
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
    }
    bad = write_lines(tmp_path / "bad.jsonl", ["{broken"])
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_conversations",
            "--dataset",
            "cli-exit",
            "--create",
            str(bad),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("CommandError: bad.jsonl: ")
    good = write_lines(tmp_path / "good.jsonl", [GOOD, "{broken"])
    result = subprocess.run(
        [sys.executable, "manage.py", "import_conversations", "--dataset", "cli-exit", str(good)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
