"""`manage.py setup_demo` (what `make run` calls): stable passwords, an honest description."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from curation.models import Dataset

pytestmark = pytest.mark.django_db


def run(path, *args):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    call_command("setup_demo", "--logins-file", str(path), *args, stdout=out)
    return out.getvalue()


def printed_passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(admin|reviewer)\s+/ (\S+)", output, re.M))


def test_demo_passwords_stay_the_same_across_runs_until_reset(tmp_path):
    path = tmp_path / "var" / "demo-logins.json"
    first = printed_passwords(run(path))
    assert set(first) == {"admin", "reviewer"}
    assert json.loads(path.read_text()) == first
    assert path.stat().st_mode & 0o077 == 0
    second = printed_passwords(run(path))
    assert second == first
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(first["admin"])
    third = printed_passwords(run(path, "--reset-passwords"))
    assert third["admin"] != first["admin"] and third["reviewer"] != first["reviewer"]
    assert get_user_model().objects.get(username="admin").check_password(third["admin"])


def test_the_demo_text_matches_what_the_import_loads(tmp_path):
    output = run(tmp_path / "logins.json")
    dataset = Dataset.objects.get(slug="support-demo")
    batch = dataset.batches.get()
    assert f"{batch.imported} conversations imported" in output
    assert f"{batch.duplicates} exact duplicates skipped" in output
    assert batch.read == batch.imported + batch.duplicates + batch.invalid
    # No count in the description that the import could contradict.
    assert not re.search(r"\b(fifty|\d+) (customer|conversations)", dataset.description, re.I)
