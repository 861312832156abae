"""How ``chinese_uner_dev.jsonl`` and ``chinese_uner_holdout.jsonl`` were made (kept for
provenance; it reads the unpacked source and shares no code with the detector).

Usage: ``python tests/data/pii_support/build_chinese_uner.py UNER_DIR``

``UNER_DIR`` holds ``zh_gsdsimp-ud-dev.iob2`` and ``zh_gsdsimp-ud-test.iob2`` of Universal NER's
UNER_Chinese-GSDSIMP (https://github.com/UniversalNER/UNER_Chinese-GSDSIMP, commit 1f03075;
labels and text CC BY-SA 4.0): 1,000 Simplified-Chinese Wikipedia sentences of the UD Chinese
GSDSimp treebank, whose person, place and organisation names were labelled by hand by the
UNER annotators (IOB2 over the treebank's words). Every sentence is kept, text unchanged; each
``PER`` mention becomes a span, ``PERSON_ZH`` when it is written in Chinese characters and
``PERSON`` otherwise (Latin letters: "Kate Moss"); the other labels are not personal data and are
dropped). One sentence is one conversation of one user message, in the support-set format.

The split is by a hash of the sentence id (odd → held back), made before any rule was changed
against this set.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import regex

HERE = Path(__file__).resolve().parent
# A name written in Chinese characters, transliterations with their middle dot included
# ("汤玛斯·约翰"); names in Latin letters are labelled PERSON instead.
_HAN_NAME = regex.compile(r"\p{Han}+(?:[·・‧•]\p{Han}+)*")
FILES = ("zh_gsdsimp-ud-dev.iob2", "zh_gsdsimp-ud-test.iob2")


def holdout(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 2 == 1  # noqa: S324 - a split


def sentences(path: Path) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(sentence id, text, [(word, IOB2 tag)]) per sentence of an UNER ``.iob2`` file."""
    found: list[tuple[str, str, list[tuple[str, str]]]] = []
    sent_id, text, words = "", "", []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("# sent_id = "):
            sent_id = line.removeprefix("# sent_id = ")
        elif line.startswith("# text = "):
            text = line.removeprefix("# text = ")
        elif line.startswith("#"):
            continue
        elif not line.strip():
            if words:
                found.append((sent_id, text, words))
            sent_id, text, words = "", "", []
        else:
            columns = line.split("\t")
            words.append((columns[1], columns[2]))
    return found


def person_spans(text: str, words: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Character spans of the PER mentions: the words are found in order in the text (the
    treebank's text joins them, with spaces only between Latin words)."""
    spans: list[dict[str, Any]] = []
    position = 0
    current: list[int] | None = None
    for word, tag in words:
        start = text.index(word, position)
        end = position = start + len(word)
        if tag == "B-PER":
            if current:
                spans.append({"start": current[0], "end": current[1]})
            current = [start, end]
        elif tag == "I-PER" and current is not None:
            current[1] = end
        else:
            if current:
                spans.append({"start": current[0], "end": current[1]})
            current = None
    if current:
        spans.append({"start": current[0], "end": current[1]})
    return [
        {
            "entity_type": "PERSON_ZH" if _HAN_NAME.fullmatch(value) else "PERSON",
            **span,
            "value": value,
        }
        for span in spans
        for value in [text[span["start"] : span["end"]]]
    ]


def main(uner: Path) -> None:
    parts: dict[str, list[str]] = {"dev": [], "holdout": []}
    for name in FILES:
        for sent_id, text, words in sentences(uner / name):
            key = f"{name}:{sent_id}"
            row = {
                "source": "uner-zh-gsdsimp",
                "id": key,
                "region": "",
                "languages": ["zh"],
                "messages": [{"role": "user", "content": text, "spans": person_spans(text, words)}],
            }
            parts["holdout" if holdout(key) else "dev"].append(json.dumps(row, ensure_ascii=False))
    for part, lines in parts.items():
        (HERE / f"chinese_uner_{part}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(part, len(lines), "sentences")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
