"""The loop on the dataset page and the home page (training.loop says what it is)."""

from __future__ import annotations

from typing import Any

from django import template

from training.loop import dataset_loop

register = template.Library()


@register.inclusion_tag("training/_loop.html", takes_context=True)
def loop_panel(context: template.Context, dataset: Any, role: str) -> dict[str, Any]:
    loop = dataset_loop(dataset, role=role)
    return {"loop": loop, "next": loop.next, "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("training/_loop_next.html", takes_context=True)
def loop_next(context: template.Context, dataset: Any, role: str) -> dict[str, Any]:
    loop = dataset_loop(dataset, role=role)
    return {
        "loop": loop,
        "next": loop.next,
        "compact": True,
        "csrf_token": context.get("csrf_token"),
    }
