"""Analyse each distinct text of a dataset once: the per-text detector's findings, cached.

Support traffic repeats itself (greetings, templates, system prompts), and the per-text
detector's result depends only on the text, the dataset's PII settings, the detector itself
and the context it is given. So a text's spans are stored under a digest of exactly those,
per dataset, and reused by every later chunk, import or ingest of that dataset. What depends
on the whole conversation (another occurrence of a detected value) is resolved per
conversation afterwards, by the caller, on cached and fresh spans alike.

The key covers:
- the text exactly as analysed (no normalisation that changes characters: the spans' offsets
  point into it), so a message that differs by one personal value is analysed again;
- the settings fingerprint: every PII setting, the spaCy model and its version, the detector
  packages' versions and the detector's own code, so changed entities, thresholds or rules
  re-analyse;
- the context key: whatever else the detector reads for the text (an agent's preceding
  question, a region, languages), as one canonical value; ``NO_CONTEXT`` where none.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Hashable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from django.conf import settings

from curation.models import PiiTextAnalysis
from curation.pii.config import NO_CONTEXT, PiiConfig, TextContext
from curation.pii.engine import configured_model_name, get_engine

# A span as cached and returned: (start, end, entity type, score rounded to 4 places).
Span = tuple[int, int, str, float]


# Every package whose code or data the detector reads (name lists, phone metadata, the Chinese
# tagger's dictionary): a new version may find other spans.
_DETECTOR_PACKAGES = (
    "spacy",
    "presidio-analyzer",
    "wordfreq",
    "regex",
    "phonenumbers",
    "jieba",
    "probablepeople",
    "Faker",
    "tldextract",
)
_DETECTOR_CODE = Path(__file__).resolve().parents[2] / "pii"
# Rows per bulk insert and keys per lookup query.
_BATCH = 2000


@functools.cache
def _detector_code_digest() -> str:
    """A digest of the detector's source and data files (curation/pii/**, bytecode aside),
    read once per process: a deploy that changes a rule or a shipped list changes every key,
    so nothing found by old rules is reused."""
    digest = hashlib.sha256()
    files = (
        path
        for path in _DETECTOR_CODE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    for path in sorted(files):
        digest.update(path.relative_to(_DETECTOR_CODE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _versions(model_name: str) -> tuple[tuple[str, str], ...]:
    found = []
    for package in (*_DETECTOR_PACKAGES, model_name.replace("_", "-")):
        try:
            found.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            found.append((package, "-"))
    return tuple(found)


def settings_fingerprint(config: PiiConfig) -> str:
    """32 hex digits naming everything, besides text and context, that decides the spans."""
    model = configured_model_name()
    payload = json.dumps(
        {
            "config": dataclasses.asdict(config),
            "model": model,
            "versions": _versions(model),
            "code": _detector_code_digest(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, tuple | list):
        return [_canonical(item) for item in value]
    if isinstance(value, frozenset | set):
        return sorted((_canonical(item) for item in value), key=repr)
    if isinstance(value, dict):
        return sorted((str(key), _canonical(item)) for key, item in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            (field.name, _canonical(getattr(value, field.name)))
            for field in dataclasses.fields(value)
        ]
    raise TypeError(f"PII context values must be plain data, not {type(value).__name__}")


def context_key(context: Hashable) -> bytes:
    """A stable digest of a detection context (the same in every process); empty for none."""
    if context == NO_CONTEXT:
        return b""
    canonical = json.dumps(_canonical(context), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def text_key(fingerprint: str, context: bytes, text: str) -> bytes:
    digest = hashlib.sha256(fingerprint.encode())
    digest.update(b"\x1f")
    digest.update(context)
    digest.update(b"\x1f")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


@dataclasses.dataclass(frozen=True, slots=True)
class Analysis:
    """Spans per item (in the items' order) and, per item, whether it was served without the
    pipeline (from the cache, or an identical item earlier in the same call)."""

    spans: list[list[Span]]
    reused: list[bool]


def analyze_texts(
    *, dataset_id: int, items: Sequence[tuple[str, Hashable]], config: PiiConfig
) -> Analysis:
    """Per-text detection for ``(text, context)`` items of one dataset, each distinct one
    analysed once: found in the dataset's cache, or analysed and stored there.

    With ``CURATOR_PII_CACHE`` off every item goes through the pipeline (the reference the
    cache is checked against).
    """
    if not settings.CURATOR_PII_CACHE:
        return Analysis(spans=_run_pipeline(items, config), reused=[False] * len(items))
    fingerprint = settings_fingerprint(config)
    context_keys: dict[Hashable, bytes] = {}
    keys = []
    for text, context in items:
        if context not in context_keys:
            context_keys[context] = context_key(context)
        keys.append(text_key(fingerprint, context_keys[context], text))
    distinct = list(dict.fromkeys(keys))
    known: dict[bytes, list[Span]] = {}
    for start in range(0, len(distinct), _BATCH):
        rows = PiiTextAnalysis.objects.filter(
            dataset_id=dataset_id, key__in=distinct[start : start + _BATCH]
        ).values_list("key", "spans")
        known.update((bytes(key), [tuple(span) for span in spans]) for key, spans in rows)
    first_item = {key: index for index, key in reversed(list(enumerate(keys)))}
    missing = [key for key in distinct if key not in known]
    fresh = _run_pipeline([items[first_item[key]] for key in missing], config)
    known.update(zip(missing, fresh, strict=True))
    PiiTextAnalysis.objects.bulk_create(
        [
            PiiTextAnalysis(
                dataset_id=dataset_id,
                key=key,
                fingerprint=fingerprint,
                spans=[list(span) for span in spans],
            )
            # In key order: workers storing the same new texts at once then wait for one
            # another on the unique index instead of deadlocking in opposite orders.
            for key, spans in sorted(zip(missing, fresh, strict=True))
        ],
        batch_size=_BATCH,
        # Another worker may have stored the same text meanwhile: its spans are the same.
        ignore_conflicts=True,
    )
    analysed = {first_item[key] for key in missing}
    return Analysis(
        spans=[known[key] for key in keys],
        reused=[index not in analysed for index in range(len(keys))],
    )


def _run_pipeline(items: Sequence[tuple[str, Hashable]], config: PiiConfig) -> list[list[Span]]:
    """The detector over ``items``, one ``nlp.pipe`` pass per context, results in order."""
    engine = get_engine()
    batch_size = settings.CURATOR_PII_PIPE_BATCH
    by_context: dict[Hashable, list[int]] = {}
    for index, (_, context) in enumerate(items):
        by_context.setdefault(context, []).append(index)
    result: list[list[Span]] = [[] for _ in items]
    for context, indexes in by_context.items():
        detections = engine.iter_analyze(
            (items[index][0] for index in indexes),
            config,
            batch_size=batch_size,
            contexts=cast(TextContext, context),
            ner_prefilter=settings.CURATOR_PII_NER_PREFILTER,
        )
        for index, found in zip(indexes, detections, strict=True):
            result[index] = [
                (d.start, d.end, d.entity_type, round(float(d.score), 4)) for d in found
            ]
    return result


def forget_other_settings(*, dataset_id: int, config: PiiConfig) -> int:
    """Drop a dataset's cached analyses made under other settings or detector code."""
    deleted, _ = (
        PiiTextAnalysis.objects.filter(dataset_id=dataset_id)
        .exclude(fingerprint=settings_fingerprint(config))
        .delete()
    )
    return deleted
