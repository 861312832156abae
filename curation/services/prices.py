"""Staff edits of the training price table, saved and audited together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from curation.models import AuditEvent, TrainingPrice


def prices_save(
    *, saved: Sequence[TrainingPrice], deleted: Sequence[TrainingPrice], user: Any
) -> None:
    """Write the changed and new rows, delete the removed ones, and record one event."""
    with transaction.atomic():
        for price in saved:
            price.updated_by = user
            price.save()
        for price in deleted:
            price.delete()
        AuditEvent.record(
            actor=user,
            action="price.update",
            changed=[
                f"{price.provider}/{price.model}: {price.price_per_million}" for price in saved
            ],
            deleted=[f"{price.provider}/{price.model}" for price in deleted],
        )
