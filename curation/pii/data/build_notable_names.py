"""Builds ``notable_names.txt``, the names of public figures and fictional characters that are
never a private person's (run by hand when the sources change; the file is committed).

Usage: ``python curation/pii/data/build_notable_names.py PANTHEON_TSV FICTIONAL_CSV
[PANTHEON_2020_CSV]``

- ``PANTHEON_TSV``: Pantheon 1.0's ``pantheon.tsv`` (MIT Media Lab; Yu et al., "Pantheon 1.0,
  a manually verified dataset of globally famous biographies", Scientific Data 3, 150075,
  2016, doi:10.1038/sdata.2015.75, CC BY 4.0; data doi:10.7910/DVN/28201): the 11,341 people
  with a biography in more than 25 Wikipedia languages. Column ``Name``.
- ``FICTIONAL_CSV``: a list of 10,000 English Wikipedia article titles from the category tree
  "Fictional characters" (Wikipedia text is CC BY-SA 4.0), column ``Name``.
- ``PANTHEON_2020_CSV`` (optional): people of Pantheon's 2020 update (biographies in more than
  15 Wikipedia languages, page views to 2020; https://pantheon.world), column ``name``: the
  public figures famous since Pantheon 1.0 was compiled in 2014 ("Emmanuel Macron"); Pantheon
  by Datawheel, CC BY-SA 4.0. Read as published in the MIT-licensed R package ``fullhouse``
  (``data/hpi2020.rda``, 68,650 people born up to 1980), written out as CSV
  (``name,gender,birthyear,hpi``).

Only full names are kept (two to four words, letters, no digits, not "The …"): a single word
("Aaron", "Hans") is also an everyday given name and proves nothing. Each line is one name,
case-folded, in Unicode NFC, marked ``p`` (Pantheon) or ``f`` (fictional).
"""

from __future__ import annotations

import csv
import sys
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parent / "notable_names.txt"
_SKIP_WORDS = frozenset({"the", "statue", "list", "of", "and", "&"})


def _full_name(name: str) -> str | None:
    name = unicodedata.normalize("NFC", " ".join(name.split()))
    words = name.split()
    if not 2 <= len(words) <= 4 or any(ch.isdigit() or ch in '(),:/"' for ch in name):
        return None
    if any(word.casefold() in _SKIP_WORDS for word in words):
        return None
    if not all(word[0].isalpha() and word[0].isupper() for word in words if len(word) > 3):
        return None
    return name.casefold()


def main(pantheon: Path, fictional: Path, pantheon_2020: Path | None = None) -> None:
    names: dict[str, str] = {}
    with pantheon.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            name = _full_name(row["Name"])
            if name:
                names[name] = "p"
    if pantheon_2020 is not None:
        with pantheon_2020.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                name = _full_name(row["name"])
                if name:
                    names[name] = "p"
    with fictional.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            name = _full_name(row["Name"])
            if name:
                names.setdefault(name, "f")
    lines = [f"{kind}\t{name}\n" for name, kind in sorted(names.items())]
    OUT.write_text("".join(lines), encoding="utf-8")
    print(f"{len(lines)} names written to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
