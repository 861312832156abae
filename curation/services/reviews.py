"""Review workflow: the queue, decisions, approval rules, edits, adjudication and bulk actions.

The queue hands each reviewer the next conversation that needs them with
`SELECT … FOR UPDATE SKIP LOCKED` and a lease on the row (Conversation.leased_to /
lease_expires_at), so two reviewers never hold the same conversation at once. A reviewer
holds one lease per dataset for the conversation on screen, plus, while the page prefetches,
the one behind it; opening another conversation by its address moves the lease there.
Exact duplicates (the blocking `duplicate` flag: a later copy of a conversation) are never
offered: reviewing the first copy is enough, and "keep one" on the duplicates page settles
the rest.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Aggregate, Count, Exists, FloatField, OuterRef, Q, QuerySet
from django.utils import timezone

from curation.flags import DUPLICATE
from curation.models import (
    FLAG_LABELS,
    Adjudication,
    AdjudicationStatus,
    AuditEvent,
    Conversation,
    ConversationRevision,
    ConversationStatus,
    Dataset,
    Decision,
    Review,
    ReviewSkip,
)
from curation.pagination import estimate_rows
from curation.params import parse_float, parse_int, parse_text
from curation.services.preference_reviews import pair_record_edit
from curation.texts import message_text

REVIEWABLE = (
    ConversationStatus.IN_REVIEW,
    ConversationStatus.APPROVED,
    ConversationStatus.REJECTED,
)


class ReviewError(Exception):
    """A review action that cannot be done; the message is shown to the reviewer."""


# -- the queue ----------------------------------------------------------------------------


def lease_seconds() -> int:
    return settings.CURATOR_REVIEW_LEASE_SECONDS


def _open_for(dataset: Dataset, reviewer: Any, now: Any) -> QuerySet[Conversation]:
    """Conversations this reviewer may be handed: needing reviews, not reviewed or skipped
    by them, and not under another reviewer's live lease."""
    return (
        Conversation.objects.filter(dataset=dataset)
        .needing_review(dataset.reviews_needed)
        .exclude(flags__contains=[DUPLICATE])
        .filter(Q(leased_to__isnull=True) | Q(lease_expires_at__lt=now) | Q(leased_to=reviewer))
        .exclude(Exists(Review.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)))
        .exclude(Exists(ReviewSkip.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)))
    )


# The cap on "N left" counts: past it the page says "1,000+", so the count stays a bounded
# walk of the queue's index at any dataset size.
LEFT_CAP = 500


def queue_position(
    *, dataset: Dataset, reviewer: Any, exclude: Collection[int] = ()
) -> dict[str, Any]:
    """What the review page says about where the reviewer stands: how many conversations are
    left for them (the one on screen included; at most LEFT_CAP counted) and how many they
    have reviewed in this dataset. `exclude`: conversations already decided on the screen
    but not yet here (a prefetched page is rendered before the decision lands)."""
    with transaction.atomic():
        _probe_per_row()
        left = len(
            _open_for(dataset, reviewer, timezone.now())
            .exclude(pk__in=list(exclude))
            .order_by("id")
            .values_list("id", flat=True)[: LEFT_CAP + 1]
        )
    reviewed = Review.objects.filter(dataset=dataset, reviewer=reviewer).exclude(
        conversation_id__in=list(exclude)
    ).count() + len(exclude)
    return {"left": min(left, LEFT_CAP), "more": left > LEFT_CAP, "reviewed": reviewed}


def queue_explanation(*, dataset: Dataset, reviewer: Any) -> list[dict[str, Any]]:
    """Why conversations still in review are not offered to this reviewer, as
    [{"reason": key, "count": N}] for the reasons that apply (the empty queue says this,
    so "In review: 2" on the dashboard beside "nothing left" is explained)."""
    now = timezone.now()
    in_review = Conversation.objects.filter(dataset=dataset, status=ConversationStatus.IN_REVIEW)
    mine = Review.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)
    skipped = ReviewSkip.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)
    counts = in_review.aggregate(
        duplicate=Count("id", filter=Q(flags__contains=[DUPLICATE])),
        reviewed=Count("id", filter=Q(Exists(mine)) & Q(review_count__lt=dataset.reviews_needed)),
        skipped=Count("id", filter=Q(Exists(skipped)) & ~Q(Exists(mine))),
        conflict=Count(
            "id",
            filter=Q(review_count__gte=dataset.reviews_needed)
            & Q(Exists(Adjudication.objects.filter(conversation=OuterRef("pk")))),
        ),
        held=Count(
            "id",
            filter=Q(lease_expires_at__gte=now)
            & ~Q(leased_to=reviewer)
            & Q(leased_to__isnull=False)
            & ~Q(Exists(mine)),
        ),
    )
    return [{"reason": key, "count": value} for key, value in counts.items() if value]


def _serialize_claims(dataset: Dataset, reviewer: Any) -> None:
    """One claim at a time per reviewer and dataset.

    The page claims twice at once (the prefetch beside a decision or a J/K step); without
    this, one request could skip the row the other has locked and release its lease.
    Other reviewers are not held up: the lock is keyed by both ids and ends with the
    transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"curator.review_queue:{dataset.pk}:{reviewer.pk}"],
        )


def _probe_per_row() -> None:
    """Make the queue query check "not reviewed / skipped by me" row by row.

    With a merge or hash anti-join the planner may read every review of the dataset to find
    one conversation (seen at 1M rows: 650 ms); as a nested loop each candidate, taken in id
    order, costs one probe of the (reviewer, conversation) unique index, whatever the size.
    SET LOCAL ends with the claim's transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute("SET LOCAL enable_hashjoin = off")


def claim_next(
    *, dataset: Dataset, reviewer: Any, exclude: Collection[int] = ()
) -> Conversation | None:
    """Lease the next conversation that needs this reviewer, or None when none is left.

    A live lease the reviewer already holds comes first (a reload, or the conversation that
    was prefetched). `exclude` names conversations not to return (the one on screen while
    prefetching); their leases are kept, every other lease of the reviewer is released.
    """
    now = timezone.now()
    with transaction.atomic():
        _serialize_claims(dataset, reviewer)
        _probe_per_row()
        candidates = _open_for(dataset, reviewer, now).exclude(pk__in=list(exclude))
        # My live leases first, found through the leased_to index (a handful of rows), then
        # checked against the queue's conditions.
        mine = list(
            Conversation.objects.filter(
                dataset=dataset, leased_to=reviewer, lease_expires_at__gte=now
            )
            .exclude(pk__in=list(exclude))
            .values_list("id", flat=True)[:10]
        )
        held = (
            candidates.filter(pk__in=mine)
            .order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
            if mine
            else None
        )
        # SKIP LOCKED: a row another reviewer is claiming right now is passed over, not
        # waited for; once their lease commits, the lease condition excludes it.
        chosen = held or (
            candidates.order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
        )
        Conversation.objects.filter(dataset=dataset, leased_to=reviewer).exclude(
            pk__in=[*exclude, *([chosen.pk] if chosen else [])]
        ).update(leased_to=None, lease_expires_at=None)
        if chosen is None:
            return None
        Conversation.objects.filter(pk=chosen.pk).update(
            leased_to=reviewer, lease_expires_at=now + timedelta(seconds=lease_seconds())
        )
    conversation = Conversation.objects.select_related("dataset").get(pk=chosen.pk)
    conversation.dataset = dataset
    return conversation


def claim(*, conversation: Conversation, reviewer: Any) -> bool:
    """Lease this conversation for the reviewer if it is free and needs them (opening it by
    its address). Returns whether the reviewer now holds it."""
    now = timezone.now()
    with transaction.atomic():
        _serialize_claims(conversation.dataset, reviewer)
        _probe_per_row()
        row = (
            _open_for(conversation.dataset, reviewer, now)
            .filter(pk=conversation.pk)
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
        )
        if row is None:
            return False
        until = now + timedelta(seconds=lease_seconds())
        # One live lease per reviewer and dataset: opening conversations by their address
        # (thirty tabs) moves the lease rather than hoarding thirty.
        Conversation.objects.filter(dataset=conversation.dataset, leased_to=reviewer).exclude(
            pk=row.pk
        ).update(leased_to=None, lease_expires_at=None)
        Conversation.objects.filter(pk=row.pk).update(leased_to=reviewer, lease_expires_at=until)
    conversation.leased_to, conversation.lease_expires_at = reviewer, until
    return True


def release(*, conversation: Conversation, reviewer: Any) -> None:
    Conversation.objects.filter(pk=conversation.pk, leased_to=reviewer).update(
        leased_to=None, lease_expires_at=None
    )


def leased_by_other(conversation: Conversation, reviewer: Any) -> bool:
    return (
        conversation.leased_to_id is not None
        and conversation.leased_to_id != reviewer.pk
        and conversation.lease_expires_at is not None
        and conversation.lease_expires_at >= timezone.now()
    )


def skip(*, conversation: Conversation, reviewer: Any) -> None:
    """Pass on a conversation: the queue stops offering it to this reviewer."""
    with transaction.atomic():
        ReviewSkip.objects.get_or_create(conversation=conversation, reviewer=reviewer)
        release(conversation=conversation, reviewer=reviewer)
        AuditEvent.record(
            actor=reviewer, action="review.skip", obj=conversation, dataset=conversation.dataset
        )


# -- decisions and the approval rule --------------------------------------------------------


def outcome(decisions: Iterable[str], *, needed: int, rule: str) -> str | None:
    """What a conversation's reviews add up to: "approve", "reject", "conflict", or None
    while fewer than `needed` reviews are in. Unanimous: every review must agree. Majority:
    more of one than the other; a tie is a conflict."""
    decisions = list(decisions)
    if len(decisions) < needed:
        return None
    approvals = decisions.count(Decision.APPROVE)
    rejections = len(decisions) - approvals
    if rule == "majority":
        if approvals == rejections:
            return "conflict"
        return Decision.APPROVE if approvals > rejections else Decision.REJECT
    if rejections == 0:
        return Decision.APPROVE
    if approvals == 0:
        return Decision.REJECT
    return "conflict"


def clean_scores(dataset: Dataset, raw: Mapping[str, Any], *, require_all: bool) -> dict[str, int]:
    scores: dict[str, int] = {}
    missing = []
    for criterion in dataset.criteria:
        value = raw.get(criterion["key"])
        if value in (None, ""):
            missing.append(criterion["name"])
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ReviewError(
                f"{criterion['name']}: a score is a whole number from 1 to 5."
            ) from None
        if not 1 <= number <= 5:
            raise ReviewError(f"{criterion['name']}: a score is a whole number from 1 to 5.")
        scores[criterion["key"]] = number
    if require_all and missing:
        raise ReviewError(f"Score every criterion before approving ({', '.join(missing)} missing).")
    return scores


def submit_review(
    *,
    conversation: Conversation,
    reviewer: Any,
    decision: str,
    scores: Mapping[str, Any],
    comment: str = "",
    seconds: float | None = None,
) -> Review:
    """Record (or change) this reviewer's review and settle the conversation's status."""
    if decision not in Decision.values:
        raise ReviewError("Choose approve or reject.")
    dataset = conversation.dataset
    cleaned = clean_scores(dataset, scores, require_all=decision == Decision.APPROVE)
    with transaction.atomic():
        # Row lock: concurrent reviews of one conversation count and settle one at a time.
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        review = Review.objects.filter(conversation=locked, reviewer=reviewer).first()
        if locked.status not in REVIEWABLE:
            raise ReviewError("This conversation is not open for review yet (PII scan pending).")
        if _is_adjudicated(locked):
            raise ReviewError("A dataset admin has made the final decision on this conversation.")
        if review is None:
            if (
                locked.review_count >= dataset.reviews_needed
                or locked.status != ConversationStatus.IN_REVIEW
            ):
                raise ReviewError("This conversation already has all the reviews it needs.")
            if leased_by_other(locked, reviewer):
                raise ReviewError(
                    "Your lease on this conversation ran out and another reviewer has it now."
                )
            review = Review(
                conversation=locked, dataset=dataset, reviewer=reviewer, seconds=seconds
            )
            action = "review.submit"
        else:
            action = "review.update"
        before = {"decision": review.decision, "scores": review.scores} if review.pk else None
        review.decision, review.scores, review.comment = decision, cleaned, comment.strip()
        review.save()
        locked.dataset = dataset
        _refresh_review_fields(locked)
        Conversation.objects.filter(pk=locked.pk, leased_to=reviewer).update(
            leased_to=None, lease_expires_at=None
        )
        AuditEvent.record(
            actor=reviewer,
            action=action,
            obj=conversation,
            dataset=dataset,
            decision=decision,
            scores=cleaned,
            **({"before": before} if before else {}),
        )
        status = settle(conversation=locked, actor=reviewer)
    conversation.status, conversation.review_count = status, locked.review_count
    return review


def _is_adjudicated(conversation: Conversation) -> bool:
    return Adjudication.objects.filter(
        conversation=conversation, status=AdjudicationStatus.RESOLVED
    ).exists()


def _refresh_review_fields(conversation: Conversation) -> None:
    reviews = list(conversation.reviews.values_list("scores", flat=True))
    values = [v for scores in reviews for v in scores.values() if isinstance(v, int)]
    conversation.review_count = len(reviews)
    conversation.score_avg = round(sum(values) / len(values), 3) if values else None
    Conversation.objects.filter(pk=conversation.pk).update(
        review_count=conversation.review_count, score_avg=conversation.score_avg
    )


def settle(*, conversation: Conversation, actor: Any = None) -> str:
    """Apply the dataset's approval rule to the reviews in; a conflict opens an adjudication.
    A resolved adjudication is final and is never overridden here. Returns the status."""
    dataset = conversation.dataset
    if _is_adjudicated(conversation):
        return conversation.status
    result = outcome(
        conversation.reviews.values_list("decision", flat=True),
        needed=dataset.reviews_needed,
        rule=dataset.approval_rule,
    )
    status = {
        Decision.APPROVE: ConversationStatus.APPROVED,
        Decision.REJECT: ConversationStatus.REJECTED,
    }.get(result, ConversationStatus.IN_REVIEW)
    if result == "conflict":
        Adjudication.objects.get_or_create(conversation=conversation, defaults={"dataset": dataset})
    else:
        # A reviewer changing their mind can dissolve a conflict nobody has settled yet.
        Adjudication.objects.filter(
            conversation=conversation, status=AdjudicationStatus.OPEN
        ).delete()
    if status != conversation.status:
        Conversation.objects.filter(pk=conversation.pk).update(status=status)
        conversation.status = status
        if status == ConversationStatus.APPROVED:
            _after_approval(conversation, actor)
    return status


def _after_approval(conversation: Conversation, actor: Any) -> None:
    try:
        from curation.services.pii import purge_if_configured
    except ImportError:  # the PII workflow is optional to this one
        return
    purge_if_configured(conversation=conversation, user=actor)


def adjudicate(
    *, adjudication: Adjudication, admin: Any, decision: str, comment: str = ""
) -> Adjudication:
    """A dataset admin's final decision on a conflict."""
    if decision not in Decision.values:
        raise ReviewError("Choose approve or reject.")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=adjudication.conversation_id)
        conversation.dataset = adjudication.dataset
        adjudication.status = AdjudicationStatus.RESOLVED
        adjudication.decision = decision
        adjudication.comment = comment.strip()
        adjudication.resolved_by = admin
        adjudication.resolved_at = timezone.now()
        adjudication.save()
        status = (
            ConversationStatus.APPROVED
            if decision == Decision.APPROVE
            else ConversationStatus.REJECTED
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            status=status, leased_to=None, lease_expires_at=None
        )
        AuditEvent.record(
            actor=admin,
            action="review.adjudicate",
            obj=conversation,
            dataset=adjudication.dataset,
            decision=decision,
            comment=adjudication.comment,
        )
        if status == ConversationStatus.APPROVED and conversation.status != status:
            conversation.status = status
            _after_approval(conversation, admin)
    return adjudication


def decide_conversations(
    *,
    dataset: Dataset,
    conversations: QuerySet[Conversation],
    decision: str,
    user: Any,
    any_status: bool = False,
    audit: bool = True,
    description: str = "",
) -> int:
    """An admin's decision on many conversations at once (bulk action, keep-one). Only
    conversations in review are touched unless `any_status`; open conflicts among them are
    resolved by this decision. Returns how many changed."""
    if decision not in Decision.values:
        raise ReviewError("Choose approve or reject.")
    status = (
        ConversationStatus.APPROVED if decision == Decision.APPROVE else ConversationStatus.REJECTED
    )
    targets = conversations.filter(dataset=dataset).exclude(status=status)
    if not any_status:
        targets = targets.filter(status=ConversationStatus.IN_REVIEW)
    else:
        targets = targets.exclude(status=ConversationStatus.PENDING_PII)
    now = timezone.now()
    with transaction.atomic():
        ids = list(targets.values_list("id", flat=True))
        changed = 0
        for start in range(0, len(ids), 10000):
            chunk = ids[start : start + 10000]
            changed += Conversation.objects.filter(pk__in=chunk).update(
                status=status, leased_to=None, lease_expires_at=None, updated_at=now
            )
            Adjudication.objects.filter(
                conversation_id__in=chunk, status=AdjudicationStatus.OPEN
            ).update(
                status=AdjudicationStatus.RESOLVED,
                decision=decision,
                resolved_by=user,
                resolved_at=now,
                comment="bulk decision",
            )
        if audit:
            AuditEvent.record(
                actor=user,
                action=f"review.bulk_{decision}",
                dataset=dataset,
                count=changed,
                filter=description,
            )
        if status == ConversationStatus.APPROVED and dataset.purge_originals_after_approval and ids:
            try:
                from curation.services.pii import purge_originals
            except ImportError:
                pass
            else:
                purge_originals(dataset=dataset, user=user, conversation_ids=ids)
    return changed


# -- edits ----------------------------------------------------------------------------------


def can_edit(conversation: Conversation, user: Any, *, is_admin: bool) -> bool:
    if not conversation.original:
        return False  # originals purged: only the redacted copy is left
    if is_admin:
        return True
    return conversation.status == ConversationStatus.IN_REVIEW and not leased_by_other(
        conversation, user
    )


def edit_message(
    *, conversation: Conversation, user: Any, message_index: int, text: str
) -> ConversationRevision | None:
    """Save a reviewer's new text for an assistant message as a revision (the original is
    kept), then recount tokens, rescan the message for PII and refresh quality signals.
    Returns None when the text did not change."""
    messages = conversation.current_messages()
    if not 0 <= message_index < len(messages) or messages[message_index].get("role") != "assistant":
        raise ReviewError("Only assistant messages can be edited.")
    text = text.replace("\r\n", "\n")
    before = message_text(messages[message_index])
    if text == before:
        return None
    if not text.strip() and not messages[message_index].get("tool_calls"):
        raise ReviewError("An assistant reply cannot be empty; reject the conversation instead.")
    with transaction.atomic():
        revision = ConversationRevision.objects.create(
            conversation=conversation,
            message_index=message_index,
            before=before,
            after=text,
            author=user,
        )
        _recount_tokens(conversation)
        AuditEvent.record(
            actor=user,
            action="conversation.edit",
            obj=conversation,
            dataset=conversation.dataset,
            message_index=message_index,
            revision=revision.pk,
            chars_before=len(before),
            chars_after=len(text),
        )
    _rescan_pii(conversation, [message_index])
    # An edit of the final reply teaches a preference: original = rejected, edit = chosen.
    pair_record_edit(conversation=conversation, message_index=message_index, user=user)
    from curation.services.quality import refresh_quality

    refresh_quality(conversation_ids=[conversation.pk])
    conversation.refresh_from_db()
    return revision


# Datasets whose PII settings the warm-up prepares (the most recent ones).
WARM_UP_DATASETS = 20


def warm_up() -> None:
    """Load what a reviewer's first edit needs (the token encoding, the PII engine, and the
    recognizers of each recent dataset's PII settings, whose patterns compile on first use:
    seconds in all on a small machine) so the first Save after a server start is as quick
    as the rest. The web server calls this in a background thread at start
    (CURATOR_WARM_UP)."""
    from django.db import DatabaseError, connections

    from curation.pii.engine import PiiConfig, get_engine
    from curation.services.pii import pii_config_for
    from curation.token_count import count_conversations

    count_conversations([([{"role": "assistant", "content": "Warming up."}], None)])
    engine = get_engine()
    configs = {PiiConfig().cache_key(): PiiConfig()}
    try:
        for dataset in Dataset.objects.order_by("-id")[:WARM_UP_DATASETS]:
            config = pii_config_for(dataset)
            configs.setdefault(config.cache_key(), config)
    except DatabaseError:
        pass  # not migrated yet: the defaults are still worth loading
    finally:
        connections.close_all()
    for config in configs.values():
        engine.analyze_texts(["Warming up for Ada Lovelace, ada@example.com."], config)


def _recount_tokens(conversation: Conversation) -> None:
    from curation.token_count import count_conversations

    [(tokens, assistant_tokens)] = count_conversations(
        [(conversation.current_messages(), conversation.tools)]
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        token_count=tokens, assistant_tokens=assistant_tokens
    )
    conversation.token_count, conversation.assistant_tokens = tokens, assistant_tokens


def _rescan_pii(conversation: Conversation, indexes: list[int]) -> None:
    try:
        from curation.services.pii import rescan_messages
    except ImportError:  # the PII workflow is not installed: nothing to rescan
        return
    rescan_messages(conversation=conversation, message_indexes=indexes)


# -- history (J/K) ---------------------------------------------------------------------------


def neighbours(
    *, dataset: Dataset, reviewer: Any, conversation: Conversation
) -> tuple[int | None, int | None]:
    """(previous, next) conversation ids in this reviewer's own review history around
    `conversation`; next is None at the end of the history (the queue comes next)."""
    mine = Review.objects.filter(dataset=dataset, reviewer=reviewer)
    current = mine.filter(conversation=conversation).values_list("id", flat=True).first()
    if current is None:
        previous = mine.order_by("-id").values_list("conversation_id", flat=True).first()
        return previous, None
    previous = (
        mine.filter(id__lt=current)
        .order_by("-id")
        .values_list("conversation_id", flat=True)
        .first()
    )
    following = (
        mine.filter(id__gt=current).order_by("id").values_list("conversation_id", flat=True).first()
    )
    return previous, following


# -- display ------------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*```([^\n`]*)\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)


def _blocks(text: str, segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split highlighted segments at fenced code blocks: [{kind, lang, segments}]. The fence
    lines themselves are presentation and are not shown."""
    ranges: list[tuple[int, int, str, str]] = []
    position = 0
    for match in _FENCE.finditer(text):
        if match.start() > position:
            ranges.append((position, match.start(), "text", ""))
        end = match.end(2)
        if end > match.start(2) and text[end - 1] == "\n":
            end -= 1
        ranges.append((match.start(2), end, "code", match.group(1).strip()))
        position = match.end()
    if position < len(text):
        ranges.append((position, len(text), "text", ""))
    if len(ranges) == 1 and ranges[0][2] == "text":
        return [{"kind": "text", "lang": "", "segments": segments}]
    placed = []
    offset = 0
    for segment in segments:
        placed.append((offset, offset + len(segment["text"]), segment))
        offset += len(segment["text"])
    blocks = []
    for start, end, kind, lang in ranges:
        pieces = []
        for seg_start, seg_end, segment in placed:
            low, high = max(start, seg_start), min(end, seg_end)
            if low < high:
                pieces.append(
                    {**segment, "text": segment["text"][low - seg_start : high - seg_start]}
                )
        blocks.append({"kind": kind, "lang": lang, "segments": pieces})
    return blocks


_WORDS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """(kind, text) runs of a word-level diff, kind same, del or add, in reading order: an
    edit that fixes one word shows that word, not the whole paragraph twice. Templates escape
    the text like any other conversation text."""
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("del", "".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("add", "".join(new[j1:j2])))
    return runs


def _pretty_json(text: str) -> str | None:
    import json

    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(value, dict | list):
        return None
    return json.dumps(value, indent=2, ensure_ascii=False)


def message_segments(
    conversation: Conversation, *, redacted: bool = False, findings: Iterable[Any] | None = None
) -> list[dict[str, Any]]:
    """The conversation's current messages ready for `partials/review_chat.html`.

    Each message: index, role, name, tool_call_id, weight, `blocks` (text and fenced code,
    each a list of segments {text, finding?}), `parts` (non-text content parts), `tool_calls`
    ({id, name, segments, pretty}), `edited` and `diff` (original → current). A segment with
    a finding is a PII span; the template escapes every segment's text. With `redacted`, the
    messages are `redacted_messages(conversation)` and carry no findings.
    """
    from curation.pii.highlight import highlighted_messages

    if redacted:
        from curation.services.pii import redacted_messages

        messages, found = redacted_messages(conversation), []
    else:
        messages = conversation.messages_for_display()
        found = (
            list(findings)
            if findings is not None
            else (list(conversation.findings.all()) if conversation.original else [])
        )
    revisions: dict[int, list[ConversationRevision]] = {}
    for revision in conversation.revisions.all():
        revisions.setdefault(revision.message_index, []).append(revision)
    shown = []
    for index, message in enumerate(highlighted_messages(messages, found)):
        content = message.get("content")
        blocks: list[dict[str, Any]] = []
        parts: list[str] = []
        if isinstance(content, str):
            pretty = _pretty_json(content) if message.get("role") == "tool" else None
            if pretty is not None and not any(s.get("finding") for s in message["segments"]):
                blocks = [{"kind": "code", "lang": "json", "segments": [{"text": pretty}]}]
            else:
                blocks = _blocks(content, message["segments"])
        elif isinstance(content, list):
            text_parts = iter(message.get("part_segments", []))
            for part in content:
                if not isinstance(part, dict):
                    continue
                segments = next(text_parts, [])
                if part.get("type", "text") == "text":
                    blocks.extend(_blocks("".join(s["text"] for s in segments), segments))
                else:
                    parts.append(str(part.get("type")))
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            segments = call.get("segments") or []
            has_pii = any(s.get("finding") for s in segments)
            calls.append(
                {
                    "id": call.get("id", ""),
                    "name": function.get("name", ""),
                    "segments": segments,
                    "pretty": None if has_pii else _pretty_json(str(function.get("arguments", ""))),
                }
            )
        history = revisions.get(index, [])
        shown.append(
            {
                "index": index,
                "role": message.get("role", ""),
                "name": message.get("name", ""),
                "tool_call_id": message.get("tool_call_id", ""),
                "weight": message.get("weight"),
                "blocks": blocks,
                "parts": parts,
                "tool_calls": calls,
                "text": message_text(message),
                # A reply that only calls tools has no text worth editing.
                "editable": message.get("role") == "assistant"
                and (message.get("content") is not None or not message.get("tool_calls")),
                "edited": bool(history) and not redacted,
                "diff": word_diff(history[0].before, history[-1].after)
                if history and not redacted
                else [],
                "revisions": len(history),
            }
        )
    return shown


# -- filters (conversation list, bulk actions) -----------------------------------------------

SORTS = {
    "newest": ("-id", "Newest first"),
    "oldest": ("id", "Oldest first"),
    "quality": ("quality_score", "Lowest quality first"),
    "-quality": ("-quality_score", "Highest quality first"),
    "score": ("score_avg", "Lowest review score first"),
    "-score": ("-score_avg", "Highest review score first"),
    "tokens": ("token_count", "Fewest tokens first"),
    "-tokens": ("-token_count", "Most tokens first"),
}


def _float(value: str | None) -> float | None:
    return parse_float(value)


# Feedback that came with ingested production conversations (kept in their metadata).
FEEDBACK_FILTERS: dict[str, tuple[str, Q]] = {
    "negative": (
        "Negative (thumbs down or score ≤ 2)",
        Q(metadata__feedback="down") | Q(metadata__score__lte=2),
    ),
    "down": ("Thumbs down", Q(metadata__feedback="down")),
    "low_score": ("Score ≤ 2", Q(metadata__score__lte=2)),
    "up": ("Thumbs up", Q(metadata__feedback="up")),
    "rated": ("Any feedback", Q(metadata__has_key="feedback") | Q(metadata__has_key="score")),
}


@dataclass
class ConversationFilter:
    """The conversation list's filters, parsed from a query string and applied to a queryset.
    The list, the bulk-action confirmation and the CLI all filter through this."""

    status: str = ""
    flag: str = ""
    batch: int | None = None
    reviewer: str = ""
    score_min: float | None = None
    score_max: float | None = None
    quality_min: float | None = None
    quality_max: float | None = None
    cluster: int | None = None
    q: str = ""
    # Production feedback of ingested conversations (see FEEDBACK_FILTERS).
    feedback: str = ""
    sort: str = "newest"
    applied: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ConversationFilter:
        found = cls()
        get = params.get
        if get("status") in ConversationStatus.values:
            found.status = get("status")
        if get("flag") in {"passing", "any", "none", *FLAG_LABELS}:
            found.flag = get("flag")
        found.batch = parse_int(get("batch"))
        found.reviewer = parse_text(get("reviewer"), max_length=150)
        found.score_min, found.score_max = _float(get("score_min")), _float(get("score_max"))
        found.quality_min, found.quality_max = (
            _float(get("quality_min")),
            _float(get("quality_max")),
        )
        found.cluster = parse_int(get("cluster"))
        found.q = parse_text(get("q"), max_length=200)
        if get("feedback") in FEEDBACK_FILTERS:
            found.feedback = get("feedback")
        if get("sort") in SORTS:
            found.sort = get("sort")
        for name in (
            "status",
            "flag",
            "batch",
            "reviewer",
            "score_min",
            "score_max",
            "quality_min",
            "quality_max",
            "cluster",
            "q",
            "feedback",
        ):
            value = getattr(found, name)
            if value not in (None, ""):
                found.applied[name] = str(value)
        if found.sort != "newest":
            found.applied["sort"] = found.sort
        return found

    def apply(self, conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
        if self.status:
            conversations = conversations.filter(status=self.status)
        if self.flag == "passing":
            conversations = conversations.passing()
        elif self.flag == "any":
            conversations = conversations.exclude(flags=[])
        elif self.flag == "none":
            conversations = conversations.filter(flags=[])
        elif self.flag:
            conversations = conversations.with_flag(self.flag)
        if self.batch is not None:
            conversations = conversations.filter(batch_id=self.batch)
        if self.reviewer:
            conversations = conversations.filter(
                Exists(
                    Review.objects.filter(
                        conversation=OuterRef("pk"), reviewer__username=self.reviewer
                    )
                )
            )
        if self.score_min is not None:
            conversations = conversations.filter(score_avg__gte=self.score_min)
        if self.score_max is not None:
            conversations = conversations.filter(score_avg__lte=self.score_max)
        if self.quality_min is not None:
            conversations = conversations.filter(quality_score__gte=self.quality_min)
        if self.quality_max is not None:
            conversations = conversations.filter(quality_score__lte=self.quality_max)
        if self.cluster is not None:
            conversations = conversations.filter(near_dup_cluster=self.cluster)
        if self.q:
            conversations = conversations.search(self.q)
        if self.feedback:
            conversations = conversations.filter(FEEDBACK_FILTERS[self.feedback][1])
        return conversations

    @property
    def filters(self) -> dict[str, str]:
        """Applied filters without the sort order (what narrows the set)."""
        return {key: value for key, value in self.applied.items() if key != "sort"}

    def query(self, *, sort: bool = True) -> str:
        return urlencode(self.applied if sort else self.filters)

    def summary(self) -> list[tuple[str, str]]:
        """The applied filters as a person reads them: [("Status", "In review"), …]."""
        flags = {
            "passing": "Passing (no blocking flag)",
            "any": "Has any flag",
            "none": "No flag at all",
            **FLAG_LABELS,
        }
        shown: list[tuple[str, str]] = []
        if self.q:
            shown.append(("Search", f"“{self.q}”"))
        if self.status:
            shown.append(("Status", str(ConversationStatus(self.status).label)))
        if self.flag:
            shown.append(("Problems", flags.get(self.flag, self.flag)))
        if self.reviewer:
            shown.append(("Reviewed by", self.reviewer))
        for label, low, high in (
            ("Review score", self.score_min, self.score_max),
            ("Quality", self.quality_min, self.quality_max),
        ):
            if low is not None or high is not None:
                shown.append((label, _range_text(low, high)))
        if self.batch is not None:
            shown.append(("Import", f"#{self.batch}"))
        if self.cluster is not None:
            shown.append(("Duplicate cluster", str(self.cluster)))
        return shown

    def describe(self) -> str:
        return (
            "; ".join(f"{label}: {value}" for label, value in self.summary()) or "all conversations"
        )


def _range_text(low: float | None, high: float | None) -> str:
    def number(value: float) -> str:
        return f"{value:g}"

    if low is not None and high is not None:
        return f"{number(low)} to {number(high)}"
    return f"at least {number(low)}" if low is not None else f"at most {number(high)}"


# -- numbers for the dashboard and the stats page --------------------------------------------

TOKEN_BUCKETS = [0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]


class Median(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


# Past this many conversations (the planner's estimate) the dashboard stops counting rows on
# every view: counts come from PostgreSQL's estimates ("about"), and agreement and score
# histograms from the latest reviews (a bounded sample), so a page view costs the same at
# 1M conversations as at 10k.
DASHBOARD_EXACT_LIMIT = 200_000
AGREEMENT_SAMPLE = 2_000  # conversations with two or more reviews, the latest ones
SCORE_SAMPLE = 10_000  # reviews, the latest ones


def is_large_dataset(dataset: Dataset) -> bool:
    return estimate_rows(dataset.conversations.all()) > DASHBOARD_EXACT_LIMIT


def status_counts(dataset: Dataset) -> dict[str, Any]:
    """Conversations per status and in total, for the dashboard; PostgreSQL's estimates for a
    large dataset ("estimated": True), exact counts otherwise."""
    conversations = dataset.conversations.all()
    if is_large_dataset(dataset):
        counts: dict[str, Any] = {
            status.value: estimate_rows(conversations.filter(status=status.value))
            for status in ConversationStatus
        }
        counts["total"] = sum(counts.values())
        counts["estimated"] = True
        return counts
    counts = conversations.aggregate(
        total=Count("id"),
        **{
            status.value: Count("id", filter=Q(status=status.value))
            for status in ConversationStatus
        },
    )
    counts["estimated"] = False
    return counts


def review_progress(dataset: Dataset) -> dict[str, Any]:
    decided_statuses = [ConversationStatus.APPROVED, ConversationStatus.REJECTED]
    if is_large_dataset(dataset):
        conversations = dataset.conversations.all()
        counts = {
            "reviewable": estimate_rows(conversations.filter(status__in=REVIEWABLE)),
            "decided": estimate_rows(conversations.filter(status__in=decided_statuses)),
        }
        reviews = estimate_rows(Review.objects.filter(dataset=dataset))
        estimated = True
    else:
        counts = dataset.conversations.aggregate(
            reviewable=Count("id", filter=Q(status__in=REVIEWABLE)),
            decided=Count("id", filter=Q(status__in=decided_statuses)),
        )
        reviews = Review.objects.filter(dataset=dataset).count()
        estimated = False
    reviewable = counts["reviewable"]
    return {
        **counts,
        "estimated": estimated,
        "reviews": reviews,
        "conflicts": Adjudication.objects.filter(
            dataset=dataset, status=AdjudicationStatus.OPEN
        ).count(),
        "percent": round(100 * counts["decided"] / reviewable) if reviewable else 0,
    }


def score_histograms(dataset: Dataset, *, sample: int | None = None) -> list[dict[str, Any]]:
    """Per rubric criterion, how many reviews gave 1, 2, 3, 4 and 5 (over the latest
    `sample` reviews when given: a large dataset's dashboard)."""
    table = Review._meta.db_table
    reviews = (
        f"(SELECT scores FROM {table} WHERE dataset_id = %s ORDER BY id DESC LIMIT %s)"  # noqa: S608
        if sample
        else f"(SELECT scores FROM {table} WHERE dataset_id = %s)"  # noqa: S608
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.key, s.value, count(*) FROM {reviews} r, "  # noqa: S608
            "jsonb_each_text(r.scores) s GROUP BY 1, 2",
            [dataset.pk, sample] if sample else [dataset.pk],
        )
        rows = cursor.fetchall()
    counts: dict[str, list[int]] = {criterion["key"]: [0] * 5 for criterion in dataset.criteria}
    for key, value, count in rows:
        if key in counts and value in {"1", "2", "3", "4", "5"}:
            counts[key][int(value) - 1] = count
    return [
        {"key": criterion["key"], "name": criterion["name"], "counts": counts[criterion["key"]]}
        for criterion in dataset.criteria
    ]


def _sample_percent(rows: int) -> float:
    """TABLESAMPLE SYSTEM percentage that reads about ROW_SAMPLE of `rows` rows."""
    return min(100.0, 100.0 * ROW_SAMPLE / max(rows, 1))


# Rows a large dataset's token and PII charts read (a TABLESAMPLE of pages), scaled up.
ROW_SAMPLE = 10_000


def token_histogram(dataset: Dataset, *, large: bool = False) -> dict[str, list[Any]]:
    """Conversations per token-count bucket; for a large dataset, estimated from a sample of
    the table's pages ("estimated": True)."""
    edges = TOKEN_BUCKETS
    table = Conversation._meta.db_table
    percent = _sample_percent(estimate_rows(dataset.conversations.all())) if large else 100.0
    sample = f"TABLESAMPLE SYSTEM ({percent:.4f})" if percent < 100 else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT width_bucket(token_count, %s::int[]), count(*) FROM {table} {sample} "  # noqa: S608
            "WHERE dataset_id = %s GROUP BY 1",
            [edges[1:], dataset.pk],
        )
        found = {bucket: round(count * 100 / percent) for bucket, count in cursor.fetchall()}
    labels = [f"<{_short(edge)}" for edge in edges[1:]] + [f"≥{_short(edges[-1])}"]
    return {"labels": labels, "counts": [found.get(bucket, 0) for bucket in range(len(edges))]}


def _short(number: int) -> str:
    return f"{number // 1024}k" if number >= 1024 else str(number)


def _multi_reviewed(
    dataset: Dataset, *, sample: int | None = None
) -> list[tuple[int, int, dict[str, Any], str]]:
    """Reviews of conversations with two or more of them; with `sample`, of the latest
    `sample` such conversations only (agreement is then an estimate over them)."""
    reviews = Review.objects.filter(dataset=dataset, conversation__review_count__gte=2)
    if sample:
        latest = (
            Conversation.objects.filter(dataset=dataset, review_count__gte=2)
            .order_by("-id")
            .values("id")[:sample]
        )
        reviews = Review.objects.filter(dataset=dataset, conversation_id__in=latest)
    return list(reviews.values_list("conversation_id", "reviewer_id", "scores", "decision"))


def agreement(
    dataset: Dataset, rows: list[tuple[int, int, dict[str, Any], str]] | None = None
) -> dict[str, Any]:
    """Krippendorff's alpha per criterion (ordinal) and on the decision (nominal), over the
    conversations with two or more reviews; None where alpha is undefined."""
    from curation.agreement import krippendorff_alpha, units_from_reviews

    sample_units = None
    if rows is None:
        sample_units = AGREEMENT_SAMPLE if is_large_dataset(dataset) else None
        rows = _multi_reviewed(dataset, sample=sample_units)
    per_criterion: dict[str, dict[int, dict[int, int]]] = {c["key"]: {} for c in dataset.criteria}
    decisions: dict[int, dict[int, str]] = {}
    for conversation_id, reviewer_id, scores, decision in rows:
        decisions.setdefault(reviewer_id, {})[conversation_id] = decision
        for key, value in scores.items():
            if key in per_criterion and isinstance(value, int):
                per_criterion[key].setdefault(reviewer_id, {})[conversation_id] = value
    criteria = []
    sampled = sample_units is not None and len({row[0] for row in rows}) >= sample_units
    for criterion in dataset.criteria:
        by_reviewer = per_criterion[criterion["key"]]
        alpha = (
            krippendorff_alpha(units_from_reviews(by_reviewer), level="ordinal")
            if by_reviewer
            else None
        )
        criteria.append({"key": criterion["key"], "name": criterion["name"], "alpha": alpha})
    return {
        "criteria": criteria,
        "decision": krippendorff_alpha(units_from_reviews(decisions), level="nominal")
        if decisions
        else None,
        "units": len({row[0] for row in rows}),
        # True when only the latest AGREEMENT_SAMPLE conversations were looked at.
        "sampled": sampled,
    }


def reviewer_stats(dataset: Dataset) -> list[dict[str, Any]]:
    """Per reviewer: reviews done, approval rate, median seconds per review, and how often
    they agree with the other reviewers of the same conversations (decision, and exact
    score per criterion averaged over criteria)."""
    from curation.agreement import pairwise_agreement

    rows = list(
        Review.objects.filter(dataset=dataset)
        .values("reviewer_id", "reviewer__username")
        .annotate(
            reviews=Count("id"),
            approvals=Count("id", filter=Q(decision=Decision.APPROVE)),
            median_seconds=Median("seconds"),
        )
        .order_by("reviewer__username")
    )
    shared = _multi_reviewed(
        dataset, sample=AGREEMENT_SAMPLE if is_large_dataset(dataset) else None
    )
    decisions: dict[int, dict[int, str]] = {}
    per_criterion: dict[str, dict[int, dict[int, int]]] = {}
    for conversation_id, reviewer_id, scores, decision in shared:
        decisions.setdefault(reviewer_id, {})[conversation_id] = decision
        for key, value in scores.items():
            per_criterion.setdefault(key, {}).setdefault(reviewer_id, {})[conversation_id] = value
    decision_agreement = pairwise_agreement(decisions)
    score_agreement: dict[int, list[float]] = {}
    for by_reviewer in per_criterion.values():
        for reviewer_id, value in pairwise_agreement(by_reviewer).items():
            if value is not None:
                score_agreement.setdefault(reviewer_id, []).append(value)
    return [
        {
            "username": row["reviewer__username"],
            "reviews": row["reviews"],
            "approval_rate": row["approvals"] / row["reviews"] if row["reviews"] else None,
            "median_seconds": row["median_seconds"],
            "decision_agreement": decision_agreement.get(row["reviewer_id"]),
            "score_agreement": (
                sum(score_agreement[row["reviewer_id"]]) / len(score_agreement[row["reviewer_id"]])
                if score_agreement.get(row["reviewer_id"])
                else None
            ),
        }
        for row in rows
    ]


def pii_counts(dataset: Dataset, *, large: bool = False) -> list[dict[str, Any]]:
    """Findings per entity type; for a large dataset, estimated from a sample of pages."""
    from curation.models import PiiFinding

    if large:
        findings = PiiFinding._meta.db_table
        percent = _sample_percent(estimate_rows(PiiFinding.objects.all()))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT f.entity_type, count(*) FROM {findings} f "  # noqa: S608
                f"TABLESAMPLE SYSTEM ({percent:.4f}) "
                f"JOIN {Conversation._meta.db_table} c ON c.id = f.conversation_id "
                "WHERE c.dataset_id = %s GROUP BY 1",
                [dataset.pk],
            )
            found = [
                {"entity_type": entity, "count": round(count * 100 / percent)}
                for entity, count in cursor.fetchall()
            ]
        return sorted(found, key=lambda row: (-row["count"], row["entity_type"]))
    return list(
        PiiFinding.objects.filter(conversation__dataset=dataset)
        .values("entity_type")
        .annotate(count=Count("id"))
        .order_by("-count", "entity_type")
    )


def review_dashboard(dataset: Dataset) -> dict[str, Any]:
    """What the dataset overview shows of the review workflow, charts' data included."""
    large = is_large_dataset(dataset)
    histograms = score_histograms(dataset, sample=SCORE_SAMPLE if large else None)
    tokens = token_histogram(dataset, large=large)
    return {
        "progress": review_progress(dataset),
        "agreement": agreement(dataset),
        "pii_counts": pii_counts(dataset, large=large),
        "score_histograms": histograms,
        "token_histogram": tokens,
        "token_rows": list(zip(tokens["labels"], tokens["counts"], strict=True)),
        "chart_scores": {
            "labels": [str(n) for n in range(1, 6)],
            "datasets": [{"label": h["name"], "data": h["counts"]} for h in histograms],
        },
        "chart_tokens": {
            "labels": tokens["labels"],
            "datasets": [{"label": "Conversations", "data": tokens["counts"]}],
        },
    }


def keep_one(*, dataset: Dataset, cluster: int, keep: Conversation, user: Any) -> int:
    """Keep one conversation of a near-duplicate cluster and reject the rest (an admin's
    decision, like a bulk reject). Returns how many were rejected."""
    if keep.dataset_id != dataset.pk or keep.near_dup_cluster != cluster:
        raise ValueError("that conversation is not in this cluster")
    with transaction.atomic():
        others = (
            dataset.conversations.filter(near_dup_cluster=cluster)
            .exclude(pk=keep.pk)
            .exclude(status=ConversationStatus.REJECTED)
        )
        rejected_ids = list(others.values_list("id", flat=True))
        decide_conversations(
            dataset=dataset,
            conversations=dataset.conversations.filter(pk__in=rejected_ids),
            decision="reject",
            user=user,
            any_status=True,
            audit=False,
        )
        AuditEvent.record(
            actor=user,
            action="duplicates.keep_one",
            obj=keep,
            dataset=dataset,
            cluster=cluster,
            rejected=rejected_ids,
        )
    return len(rejected_ids)
