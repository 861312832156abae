from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def is_text(value: Any) -> bool:
    return isinstance(value, str)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None
