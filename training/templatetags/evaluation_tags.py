"""Number formatting for the evaluation pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

_PERCENT = {"exact_match", "rouge_l", "tool_call", "tool_call_accuracy", "json_valid"}


@register.filter
def metric(value: Any, name: str = "") -> str:
    """A metric as a person reads it: rates as percentages, milliseconds whole, else 2 places."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if name in _PERCENT:
        return f"{number * 100:.1f}%"
    if "latency" in name:
        return f"{number:,.0f} ms"
    if name == "cost_usd":
        return f"${number:.4f}" if number < 1 else f"${number:,.2f}"
    return f"{number:.2f}"


@register.filter
def delta(value: Any, name: str = "") -> str:
    """A signed difference in the metric's own unit."""
    if value is None:
        return "—"
    number = float(value)
    sign = "+" if number > 0 else ""
    if name in _PERCENT:
        return f"{sign}{number * 100:.1f} pts"
    if "latency" in name:
        return f"{sign}{number:,.0f} ms"
    return f"{sign}{number:.2f}"


@register.filter
def interval(value: Any, name: str = "") -> str:
    if not value:
        return ""
    low, high = value
    if name == "rate":
        return f"[{low * 100:.0f}%, {high * 100:.0f}%]"
    return f"[{delta(low, name)}, {delta(high, name)}]"


@register.filter
def percent(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.0f}%"


@register.filter
def as_list(value: Any) -> list[Any]:
    """One message as a list of messages, for the chat partial."""
    if not value:
        return []
    return value if isinstance(value, list) else [value]
