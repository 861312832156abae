"""Label corrections to ``support_dev.jsonl`` / ``support_holdout.jsonl`` (kept for provenance).

Run once, by hand: ``python tests/data/pii_support/fix_labels.py``. It is idempotent: a value
already covered by a label is left as it is.

The annotator (``build.py``) missed some personal data that its own scheme labels: ids after an
order/reference/policy/account cue in shapes it did not know, customers' full names given as
an answer ("Its <name>."), and addresses without the word "address" before them. They were
found by reading the detector's reported false redactions (detections in messages without
any label) and each was checked by hand; every mention of the value in its conversation is
labelled. Detections that are not personal data (amounts, product models, public authors,
masked placeholders such as "303-XXXX…") were left unlabelled: they stay false redactions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (split, conversation id, entity type, value): every case-insensitive, whole-word mention.
FIXES: tuple[tuple[str, str, str, str], ...] = (
    # development half
    ("dev", "conv_0301", "ACCOUNT_ID", "112-AAAAAAAA-BBBBBB"),
    ("dev", "conv_1526", "PERSON", "Priya Sharma"),
    ("dev", "conv_3226", "PERSON", "Priya Banerjee"),
    ("dev", "conv_4476", "PERSON", "vikram desai"),
    ("dev", "conv_0955", "PERSON", "vikram singh"),
    ("dev", "conv_3401", "ACCOUNT_ID", "1234ABCD5678EFGH"),
    ("dev", "conv_16", "ACCOUNT_ID", "LD45678902"),
    ("dev", "conv_26", "ACCOUNT_ID", "1234567890"),
    ("dev", "conv_46", "ACCOUNT_ID", "1234567890"),
    ("dev", "conv_5731", "ACCOUNT_ID", "UPI123ABC456DEF789"),
    ("dev", "conv_2145", "STREET_ADDRESS", "House number 56, Sector 17"),
    ("dev", "conv_2145", "ZIP_CODE", "122001"),
    ("dev", "conv_3662", "STREET_ADDRESS", "101, Green Avenue"),
    ("dev", "conv_4049", "STREET_ADDRESS", "B-502, Lotus Heights"),
    ("dev", "conv_4933", "STREET_ADDRESS", "24, MG Road"),
    ("dev", "conv_4933", "ZIP_CODE", "560001"),
    ("dev", "conv_5290", "STREET_ADDRESS", "B-204, Shanti Niketan, Goregaon East"),
    ("dev", "conv_5290", "ZIP_CODE", "400063"),
    ("dev", "conv_3595", "ZIP_CODE", "110001"),
    ("dev", "conv_2833", "ZIP_CODE", "560001"),
    # held-back half (labels only; no rule reads these)
    ("holdout", "conv_0251", "ACCOUNT_ID", "456-789-012"),
    ("holdout", "conv_1051", "ACCOUNT_ID", "654-321-987-654"),
    ("holdout", "conv_4962", "ACCOUNT_ID", "TATA1234"),
    ("holdout", "conv_5101", "ACCOUNT_ID", "789-456-123"),
    ("holdout", "conv_5053", "ACCOUNT_ID", "123-456-789"),
    ("holdout", "conv_2660", "ACCOUNT_ID", "666-777-888-HHH"),
    ("holdout", "conv_4778", "ACCOUNT_ID", "AMZN123456789012"),
    ("holdout", "conv_4828", "ACCOUNT_ID", "XYZ789ABC"),
    ("holdout", "conv_12", "ACCOUNT_ID", "GHJ7890654"),
    ("holdout", "conv_25", "ACCOUNT_ID", "1234567890"),
    ("holdout", "conv_29", "ACCOUNT_ID", "HDFC-DMAT-20240229-1234"),
    ("holdout", "conv_2751", "PERSON", "Priya Sharma"),
    ("holdout", "conv_4151", "PERSON", "Ramesh Kumar"),
    ("holdout", "conv_0081", "PERSON", "Meera Sharma"),
    ("holdout", "conv_0147", "PERSON", "Rohan Verma"),
    ("holdout", "conv_2044", "PERSON", "Rohan Verma"),
    ("holdout", "conv_2532", "PERSON", "Ravi Kumar"),
    ("holdout", "conv_3026", "STREET_ADDRESS", "456 Park Ave"),
    ("holdout", "conv_3326", "STREET_ADDRESS", "101, Green Park"),
    ("holdout", "conv_2340", "STREET_ADDRESS", "123, Defence colony"),
    ("holdout", "conv_3339", "STREET_ADDRESS", "4/20, Green street"),
    ("holdout", "conv_4644", "STREET_ADDRESS", "Flat No. 4B, Sunshine Apartments, Sarjapur Road"),
    ("holdout", "conv_5229", "STREET_ADDRESS", "Flat 101, ABC Apartments"),
    ("holdout", "conv_3948", "STREET_ADDRESS", "78, Anand Vihar Extension"),
    ("holdout", "conv_3948", "ZIP_CODE", "110092"),
    ("holdout", "conv_3907", "ZIP_CODE", "560001"),
    ("holdout", "conv_0845", "ZIP_CODE", "600017"),
    # The customer (labelled "Rajesh" in the romanised messages) addressed in Devanagari.
    ("holdout", "conv_2", "PERSON", "राजेश"),
)


def main() -> None:
    for split in ("dev", "holdout"):
        path = HERE / f"support_{split}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        by_id = {row["id"]: row for row in rows}
        added = 0
        for fix_split, conversation, kind, value in FIXES:
            if fix_split != split:
                continue
            pattern = re.compile(
                rf"(?<![\w/])(?<!\d-){re.escape(value)}(?![\w/]|-\d)", re.IGNORECASE
            )
            found = 0
            for message in by_id[conversation]["messages"]:
                text, spans = message["content"], message["spans"]
                for match in pattern.finditer(text):
                    found += 1
                    if any(s["start"] < match.end() and match.start() < s["end"] for s in spans):
                        continue
                    spans.append(
                        {
                            "entity_type": kind,
                            "start": match.start(),
                            "end": match.end(),
                            "value": match.group(),
                        }
                    )
                    spans.sort(key=lambda s: s["start"])
                    added += 1
            assert found, (split, conversation, value)
        path.write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
        )
        print(f"{split}: {added} labels added")


if __name__ == "__main__":
    main()
