from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from curation.selectors.review_queue import queue_position as position_in_queue

register = template.Library()


@register.filter
def is_text(value: Any) -> bool:
    return isinstance(value, str)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now" under a minute, else Django's timesince with "ago" ("3 minutes ago"),
    so a fresh event never reads "0 minutes ago"."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON for dicts and lists (tool definitions, audit details); text as is."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@register.simple_tag
def queue_position(dataset: Any, user: Any) -> dict[str, Any]:
    """Where `user` stands in `dataset`'s review queue (the dashboard's "N left for you")."""
    return position_in_queue(dataset=dataset, reviewer=user)
