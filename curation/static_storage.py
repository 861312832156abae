"""Static files storage for production: hashed names and compressed copies (whitenoise).

Vendored minified bundles end with a `sourceMappingURL` comment naming a map file we do not
ship; Django's manifest storage would fail collectstatic on it. Source maps are a debugging
aid, so their references are left as they are instead of being rewritten to hashed names.
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


def _without_source_maps(
    patterns: tuple[tuple[str, tuple], ...],
) -> tuple[tuple[str, tuple], ...]:
    def is_source_map(pattern: object) -> bool:
        regex = pattern[0] if isinstance(pattern, tuple) else pattern
        return "sourceMappingURL" in str(regex)

    return tuple(
        (extension, tuple(pattern for pattern in rules if not is_source_map(pattern)))
        for extension, rules in patterns
    )


class ManifestStaticStorage(CompressedManifestStaticFilesStorage):
    patterns = _without_source_maps(ManifestStaticFilesStorage.patterns)
