"""The chat presenter: PII segments, code blocks, tool calls and edit diffs."""

from __future__ import annotations

import pytest

from curation.models import Conversation
from curation.selectors.chat import message_segments, word_diff
from tests.factories import ConversationFactory, PiiFindingFactory

pytestmark = pytest.mark.django_db


def test_message_segments_mark_pii_split_code_and_pretty_print_tools(dataset):
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "I am Maria Lopez"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'},
        {"role": "assistant", "content": "Run:\n```python\nprint('<b>')\n```\nDone."},
    ]
    conversation = ConversationFactory(dataset=dataset, original=messages)
    PiiFindingFactory(
        conversation=conversation, message_index=1, start=5, end=16, entity_type="PERSON"
    )
    shown = message_segments(Conversation.objects.get(pk=conversation.pk))
    user = shown[1]["blocks"][0]["segments"]
    assert [s["text"] for s in user] == ["I am ", "Maria Lopez"]
    assert user[1]["finding"].entity_type == "PERSON"
    assert shown[2]["tool_calls"][0]["name"] == "lookup"
    assert '"q": "x"' in shown[2]["tool_calls"][0]["pretty"]
    assert (
        shown[3]["blocks"][0]["kind"] == "code"
        and '"ok": true' in shown[3]["blocks"][0]["segments"][0]["text"]
    )
    kinds = [(block["kind"], block["lang"]) for block in shown[4]["blocks"]]
    assert kinds == [("text", ""), ("code", "python"), ("text", "")]
    assert shown[4]["blocks"][1]["segments"][0]["text"] == "print('<b>')"


def test_the_edit_diff_is_per_word():
    runs = word_diff("The cat sat on the mat.\nBye.", "The dog sat on the mat.\nBye.")
    assert runs == [
        ("same", "The "),
        ("del", "cat"),
        ("add", "dog"),
        ("same", " sat on the mat.\nBye."),
    ]
    assert "".join(t for k, t in runs if k != "add") == "The cat sat on the mat.\nBye."
