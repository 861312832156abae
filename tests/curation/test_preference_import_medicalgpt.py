"""MedicalGPT-style preference rows (`conversations` + string `chosen`/`rejected`) import as
pairs instead of being refused line by line.

tests/data/preference/medicalgpt_toolcall_dpo.jsonl is the first two lines of
data/reward/toolcall_dpo_zh_demo.jsonl in github.com/shibing624/MedicalGPT (commit
6b14ad5941b6d78de290814860f5d106330904d3), Apache License 2.0.
"""

from __future__ import annotations

import json

import pytest

from curation.models import PreferencePair
from tests.conftest import DATA
from tests.curation.import_helpers import import_file

pytestmark = pytest.mark.django_db


def test_string_chosen_and_rejected_beside_conversations_import_as_pairs(dataset):
    batch = import_file(dataset, DATA / "preference" / "medicalgpt_toolcall_dpo.jsonl")
    assert batch.detected_format == "preference"
    assert (batch.read, batch.imported, batch.invalid) == (2, 2, 0)
    first = PreferencePair.objects.get(conversation__batch=batch, conversation__source_line=1)
    assert first.conversation.original == [
        {"role": "user", "content": "北京今天天气怎么样？"},  # noqa: RUF001 (the data, verbatim)
        {"role": "assistant", "content": 'Action: get_weather\nAction Input: {"city": "北京"}\n'},
    ]
    assert first.alternative == [
        {"role": "assistant", "content": "北京今天天气晴朗，气温大约25度。"}  # noqa: RUF001
    ]
    assert first.conversation.tools[0]["function"]["name"] == "get_weather"
    second = PreferencePair.objects.get(conversation__batch=batch, conversation__source_line=2)
    roles = [m["role"] for m in second.conversation.original]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert second.alternative == [{"role": "assistant", "content": "北京今天28度。"}]


def test_an_empty_string_reply_is_refused_naming_it(dataset, tmp_path):
    path = tmp_path / "empty.jsonl"
    row = {"conversations": [{"from": "human", "value": "Hi"}], "chosen": "Hello!", "rejected": ""}
    path.write_text(json.dumps(row) + "\n")
    batch = import_file(dataset, path)
    error = batch.line_errors.get()
    assert error.field == "rejected" and "non-empty string" in error.reason
