"""Review workflow models (filled in by the review workflow)."""

__all__: list[str] = []
