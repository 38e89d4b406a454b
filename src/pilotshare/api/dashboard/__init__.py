"""The dashboard's static files, served by ``routes/dashboard.py``: data, nothing to import."""

__all__: list[str] = []
