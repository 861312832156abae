"""Print the labelled support set's misses (and, with ``--false``, false redactions) by kind.

Run: ``.venv/bin/python tests/benchmarks/pii_misses.py dev|holdout [--false]``.

For diagnosis only. Rules are written against the ``dev`` half; misses read on ``holdout``
may show a label error (fixed in ``tests/data/pii_support/fix_labels.py``) or a general cause
to be fixed and checked on ``dev``, but no rule or comment may cite held-back text.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from curation.pii.conversation import analyze_conversation
    from curation.pii.engine import PiiConfig, get_engine
    from tests.pii_labelled import caught, kind_of, load_support

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("split", choices=["dev", "holdout"])
    parser.add_argument("--false", action="store_true", help="also print false redactions")
    args = parser.parse_args()
    engine, config = get_engine(), PiiConfig()
    misses: Counter[str] = Counter()
    for conversation in load_support(args.split):
        found = analyze_conversation(
            engine,
            [(m["role"], m["content"]) for m in conversation["messages"]],
            config,
            region=conversation["region"],
            languages=tuple(conversation["languages"]),
        )
        for index, (message, detections) in enumerate(
            zip(conversation["messages"], found, strict=True)
        ):
            text, spans = message["content"], [(d.start, d.end) for d in detections]
            for gold in message["spans"]:
                if not caught(text, gold["start"], gold["end"], spans):
                    kind = kind_of(gold["entity_type"])
                    misses[kind] += 1
                    print(
                        f"MISS {kind} {gold['value']!r} {conversation['id']}#{index}: {text[:160]!r}"
                    )
            if args.false and not message["spans"]:
                for d in detections:
                    print(f"FALSE {d.entity_type} {d.text!r} {conversation['id']}#{index}")
    print("misses by kind:", dict(misses))


if __name__ == "__main__":
    main()
