"""Numbered SQL migrations (data files)."""
