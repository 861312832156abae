"""Dataset version (snapshot) models (filled in by the snapshot workflow)."""

__all__: list[str] = []
