"""The dashboard's static files, served by ``routes/dashboard.py``."""
