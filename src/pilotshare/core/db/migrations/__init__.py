"""Numbered SQL migrations (data files, read by ``core.db.migrate``): nothing to import."""

__all__: list[str] = []
