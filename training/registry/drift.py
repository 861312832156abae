"""Production vs training: recent ingested conversations against the version the production
model was trained on — token lengths, turn counts, tool use, novelty (no near-duplicate
prompt in the training data, by MinHash as the duplicate finder uses) and feedback over time.

Both sides are redacted text (production conversations as their PII run left them, the
version's files as exported); the training side is a uniform random sample (reservoir,
seeded by the file's sha256) of at most MAX_TRAINING examples, not the file's first lines.
Per feature the page gives the population stability index over the histogram's buckets and
the two-sample Kolmogorov-Smirnov statistic with its p-value (scipy); no warning is given
before ``drift_min_sample`` recent conversations.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.core.files.storage import default_storage
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from curation.models import Dataset, DatasetVersion
from curation.quality import band_parameters, minhash_signature
from curation.token_count import count_conversations
from training.registry.feedback import NEGATIVE, RATED, feedback_counts, ingested, settings_for
from training.registry.promotion import production_stage

TOKEN_EDGES = [0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
TURN_EDGES = [1, 2, 3, 4, 6, 8, 12, 20]
# A production prompt with a training prompt at least this similar (MinHash Jaccard) is
# "seen"; below it, novel.
NOVELTY_JACCARD = 0.5
NUM_PERM = 64
MAX_TRAINING = 20000
MAX_PRODUCTION = 2000
# PSI above this is the usual "significant shift" (Siddiqi, Credit Risk Scorecards, 2006).
PSI_WARNING = 0.25
# Empty buckets get this share, so the index stays finite.
PSI_FLOOR = 1e-4


def _bucket_labels(edges: list[int]) -> list[str]:
    labels = [
        str(low) if high - 1 == low else f"{low}-{high - 1}"
        for low, high in itertools.pairwise(edges)
    ]
    return [*labels, f"{edges[-1]}+"]


def _histogram(values: list[int], edges: list[int]) -> list[float]:
    counts = [0] * len(edges)
    for value in values:
        counts[max(0, bisect.bisect_right(edges, value) - 1)] += 1
    total = len(values) or 1
    return [round(count / total, 4) for count in counts]


def _prompt(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation up to its last assistant turn: what the user asked."""
    last = max(
        (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=len(messages)
    )
    return messages[:last] or messages


def _turns(messages: list[dict[str, Any]]) -> int:
    return sum(1 for message in messages if message.get("role") == "user")


def _uses_tools(messages: list[dict[str, Any]], tools: Any) -> bool:
    return bool(tools) or any(message.get("tool_calls") for message in messages)


def _training_examples(version: DatasetVersion) -> list[dict[str, Any]]:
    """A uniform random sample of the training file (reservoir sampling, Algorithm R),
    the same for the same file."""
    info = version.file_info("train.jsonl")
    if not info or not version.is_built:
        return []
    rng = random.Random(str(info.get("sha256", "")))
    sample: list[bytes] = []
    seen = 0
    with default_storage.open(info["name"], "rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            seen += 1
            if len(sample) < MAX_TRAINING:
                sample.append(line)
            else:
                slot = rng.randrange(seen)
                if slot < MAX_TRAINING:
                    sample[slot] = line
    return [orjson.loads(line) for line in sample]


def population_stability(production: list[float], training: list[float]) -> float | None:
    """PSI = Σ (p - t) · ln(p / t) over the buckets' shares."""
    if not sum(production) or not sum(training):
        return None
    return float(
        sum(
            (max(p, PSI_FLOOR) - max(t, PSI_FLOOR))
            * math.log(max(p, PSI_FLOOR) / max(t, PSI_FLOOR))
            for p, t in zip(production, training, strict=True)
        )
    )


def shift(production: list[int], training: list[int], edges: list[int]) -> dict[str, Any]:
    """PSI over the buckets and the two-sample KS statistic over the raw values."""
    from scipy import stats  # imported on use: the URL config reaches this module

    result: dict[str, Any] = {
        "psi": population_stability(_histogram(production, edges), _histogram(training, edges)),
        "ks": None,
        "ks_p": None,
    }
    if production and training:
        test = stats.ks_2samp(production, training)
        result["ks"], result["ks_p"] = float(test.statistic), float(test.pvalue)
    return result


@dataclass(frozen=True)
class TrainingProfile:
    count: int
    tokens: list[int]
    turns: list[int]
    tool_share: float
    signatures: list[bytes]


@functools.lru_cache(maxsize=8)
def _profile_of(version_id: int, sha256: str) -> TrainingProfile:
    """The training side of the drift page. A built version never changes (its file's sha256
    is part of the key), so it is computed once per process."""
    version = DatasetVersion.objects.get(pk=version_id)
    examples = _training_examples(version)
    messages = [example.get("messages") or [] for example in examples]
    return TrainingProfile(
        count=len(examples),
        tokens=[
            total
            for total, _ in count_conversations(
                [(m, example.get("tools")) for m, example in zip(messages, examples, strict=True)]
            )
        ],
        turns=[_turns(m) for m in messages],
        tool_share=(
            sum(_uses_tools(m, e.get("tools")) for m, e in zip(messages, examples, strict=True))
            / len(examples)
            if examples
            else 0.0
        ),
        signatures=[minhash_signature(_prompt(m), num_perm=NUM_PERM) for m in messages],
    )


def _training_profile(version: DatasetVersion) -> TrainingProfile | None:
    info = version.file_info("train.jsonl")
    if not info or not version.is_built:
        return None
    return _profile_of(version.pk, str(info.get("sha256", "")))


class _NeighbourIndex:
    """LSH buckets over training prompts, verified by the share of equal MinHash values."""

    def __init__(self, signatures: list[bytes]) -> None:
        # Imported here: the URL config reaches this module, and numpy is not needed to start.
        import numpy as np

        self.bands, self.rows = band_parameters(NOVELTY_JACCARD, NUM_PERM)
        self.matrix = (
            np.frombuffer(b"".join(signatures), dtype="<u4").reshape(len(signatures), NUM_PERM)
            if signatures
            else np.zeros((0, NUM_PERM), dtype="<u4")
        )
        self.buckets: dict[tuple[int, bytes], list[int]] = {}
        for index, signature in enumerate(signatures):
            for band, key in self._keys(signature):
                self.buckets.setdefault((band, key), []).append(index)

    def _keys(self, signature: bytes) -> list[tuple[int, bytes]]:
        width = self.rows * 4
        return [(band, signature[band * width : (band + 1) * width]) for band in range(self.bands)]

    def has_neighbour(self, signature: bytes) -> bool:
        import numpy as np

        candidates: set[int] = set()
        for key in self._keys(signature):
            candidates.update(self.buckets.get(key, ()))
        if not candidates:
            return False
        probe = np.frombuffer(signature, dtype="<u4")
        rows = self.matrix[sorted(candidates)]
        similarity = (rows == probe).mean(axis=1)
        return bool((similarity >= NOVELTY_JACCARD).any())


def drift_report(dataset: Dataset) -> dict[str, Any]:
    """Everything the drift page shows (also the dashboard's warnings)."""
    settings = settings_for(dataset)
    since = timezone.now() - timedelta(days=settings.drift_window_days)
    production = production_stage(dataset)
    version = production.model.version if production else None
    recent = list(
        ingested(dataset)
        .filter(created_at__gte=since)
        .order_by("-created_at")
        .values("original", "redacted", "tools", "token_count")[:MAX_PRODUCTION]
    )
    for row in recent:
        # Compare like with like: the training file holds redacted text.
        row["original"] = row["redacted"] or row["original"]
    profile = _training_profile(version) if version else None
    novelty: float | None = None
    if profile and profile.signatures and recent:
        index = _NeighbourIndex(profile.signatures)
        novel = sum(
            not index.has_neighbour(minhash_signature(_prompt(row["original"]), num_perm=NUM_PERM))
            for row in recent
        )
        novelty = novel / len(recent)
    production_tools = Counter(_uses_tools(row["original"], row["tools"]) for row in recent)
    training_count = profile.count if profile else 0
    train_tokens = profile.tokens if profile else []
    training_turns = profile.turns if profile else []
    days = list(
        ingested(dataset)
        .filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            total=Count("id"),
            rated=Count("id", filter=RATED),
            negative=Count("id", filter=NEGATIVE),
        )
        .order_by("day")
    )
    counts = feedback_counts(dataset)
    negative_total = sum(day["negative"] for day in days)
    rated_total = sum(day["rated"] for day in days)
    negative_rate = negative_total / rated_total if rated_total else None
    warnings = []
    enough = len(recent) >= settings.drift_min_sample
    if not enough and recent:
        warnings_note = (
            f"{len(recent)} recent conversations: drift warnings wait for "
            f"{settings.drift_min_sample}"
        )
    else:
        warnings_note = ""
    if (
        enough
        and settings.novelty_threshold is not None
        and novelty is not None
        and novelty > settings.novelty_threshold
    ):
        warnings.append(
            f"{novelty:.0%} of recent production prompts have no near-duplicate in the "
            f"training data (threshold {settings.novelty_threshold:.0%})"
        )
    if (
        enough
        and settings.negative_feedback_threshold is not None
        and negative_rate is not None
        and negative_rate > settings.negative_feedback_threshold
    ):
        warnings.append(
            f"{negative_rate:.0%} of rated production conversations got negative feedback "
            f"(threshold {settings.negative_feedback_threshold:.0%})"
        )
    tokens: dict[str, Any] = {
        "labels": _bucket_labels(TOKEN_EDGES),
        "production": _histogram([row["token_count"] for row in recent], TOKEN_EDGES),
        "training": _histogram(train_tokens, TOKEN_EDGES),
    }
    turns: dict[str, Any] = {
        "labels": _bucket_labels(TURN_EDGES),
        "production": _histogram([_turns(row["original"]) for row in recent], TURN_EDGES),
        "training": _histogram(training_turns, TURN_EDGES),
    }
    tokens["shift"] = shift([row["token_count"] for row in recent], train_tokens, TOKEN_EDGES)
    turns["shift"] = shift([_turns(row["original"]) for row in recent], training_turns, TURN_EDGES)
    for name, part in (("token length", tokens), ("turn count", turns)):
        part["rows"] = list(zip(part["labels"], part["production"], part["training"], strict=True))
        psi = part["shift"]["psi"]
        if enough and psi is not None and psi > PSI_WARNING:
            warnings.append(
                f"{name} has shifted from the training data: PSI {psi:.2f} (above "
                f"{PSI_WARNING}), KS {part['shift']['ks']:.2f}"
            )
    return {
        "production": production.model if production else None,
        "version": version,
        "window_days": settings.drift_window_days,
        "recent": len(recent),
        "training": training_count,
        "novelty": novelty,
        "negative_rate": negative_rate,
        "counts": counts,
        "warnings": warnings,
        "warnings_note": warnings_note,
        "min_sample": settings.drift_min_sample,
        "tokens": tokens,
        "turns": turns,
        "tools": {
            "production": production_tools[True] / len(recent) if recent else None,
            "training": profile.tool_share if profile and profile.count else None,
        },
        "days": [
            {
                "day": day["day"].isoformat(),
                "total": day["total"],
                "rated": day["rated"],
                "negative": day["negative"],
                "rate": day["negative"] / day["rated"] if day["rated"] else None,
            }
            for day in days
        ],
    }


def chart(report: dict[str, Any], key: str) -> dict[str, Any]:
    """A charts.js bar chart (shares in percent) of production vs training."""
    part = report[key]
    return {
        "labels": part["labels"],
        "datasets": [
            {"label": "Production", "data": [round(100 * v, 1) for v in part["production"]]},
            {"label": "Training", "data": [round(100 * v, 1) for v in part["training"]]},
        ],
    }


def feedback_chart(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "labels": [day["day"] for day in report["days"]],
        "datasets": [
            {"label": "Rated", "data": [day["rated"] for day in report["days"]]},
            {"label": "Negative", "data": [day["negative"] for day in report["days"]]},
        ],
    }


def dashboard_warnings(dataset: Dataset) -> list[str]:
    """The drift warnings, only computed where an admin set a threshold."""
    settings = settings_for(dataset)
    if settings.novelty_threshold is None and settings.negative_feedback_threshold is None:
        return []
    if not ingested(dataset).exists():
        return []
    return drift_report(dataset)["warnings"]
