"""The base models the configured training providers offer, for the dataset forms. Kept in
`training` so that `curation` never imports training code."""

from __future__ import annotations

from django import template

from training.pricing import offered_models
from training.providers.registry import provider_configs

register = template.Library()


@register.simple_tag
def provider_models() -> list[dict[str, str]]:
    """Every base model the configured training providers offer, [{name, provider}], for the
    base-model suggestions of the dataset forms (the registry is the one owner of the list)."""
    seen: dict[str, str] = {}
    for config in provider_configs():
        for name in offered_models(config):
            seen.setdefault(name, config.label)
    return [{"name": name, "provider": label} for name, label in seen.items()]
