"""Tool function names follow OpenAI's rule (^[a-zA-Z0-9_-]{1,64}$) on import, with a clear
error for the line and field, and a version refuses to export a stored one that does not."""

from __future__ import annotations

import json

import pytest

from curation.models import DatasetVersion, VersionStatus
from curation.services.versions.build import run_build_job
from curation.services.versions.preview import create_version, normalize_filter
from tests.curation.import_helpers import errors_by_line, import_file
from tests.curation.version_helpers import approved

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def conversation(tool_name: str, call_name: str = "lookup") -> dict:
    tool = {"type": "function", "function": {"name": tool_name}}
    call = {"id": "c1", "type": "function", "function": {"name": call_name, "arguments": "{}"}}
    return {
        "messages": [
            {"role": "user", "content": "Where is order 7?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
            {"role": "assistant", "content": "It has shipped."},
        ],
        "tools": [tool],
    }


def test_bad_function_names_are_refused_line_by_line_and_good_ones_kept(dataset, tmp_path):
    lines = [
        conversation("lookup_order"),
        conversation(XSS),
        conversation("lookup", XSS),
        conversation("x" * 65),
        conversation("a" * 64, "a" * 64),
        {**conversation("ok"), "tools": None, "functions": [{"name": "has space"}]},
    ]
    path = tmp_path / "tools.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    batch = import_file(dataset, path)
    assert batch.imported == 2
    errors = errors_by_line(batch)
    assert set(errors) == {2, 3, 4, 6}
    assert errors[2][0] == "tools[0].function.name" and "not allowed" in errors[2][1]
    assert errors[3][0] == "messages[1].tool_calls[0].function.name"
    assert "1 to 64" in errors[4][1]
    assert errors[6][0] == "tools[0].name"


def test_a_version_refuses_a_stored_conversation_with_a_bad_function_name(dataset):
    approved(dataset, 2)
    [bad] = approved(dataset, 1, tools=[{"type": "function", "function": {"name": XSS}}])
    version = create_version(dataset=dataset, user=None, filter=normalize_filter(), enqueue=False)
    run_build_job(version_id=version.pk)
    version = DatasetVersion.objects.get(pk=version.pk)
    assert version.status == VersionStatus.FAILED
    assert f"conversation {bad.pk}: tools[0].function.name" in version.error


def test_a_version_refuses_a_bad_name_in_a_tool_call_of_a_conversation_without_tools(dataset):
    # Exported as stored (no finding, no edit): the build's fast path for such rows must
    # still read the assistant's tool calls when the row has no tool definitions.
    approved(dataset, 2)
    [bad] = approved(dataset, 1, original=conversation("lookup", call_name=XSS)["messages"])
    version = create_version(dataset=dataset, user=None, filter=normalize_filter(), enqueue=False)
    run_build_job(version_id=version.pk)
    version = DatasetVersion.objects.get(pk=version.pk)
    assert version.status == VersionStatus.FAILED
    assert f"conversation {bad.pk}: messages[1].tool_calls[0].function.name" in version.error
