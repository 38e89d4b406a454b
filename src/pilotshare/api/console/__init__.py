"""The web console: TypeScript sources here, built by ``make console`` into ``dist/``.

The built files are data, served by ``routes/console.py`` and shipped in the wheel; nothing
here is imported. The sources and their build are described in docs/console.md.
"""

__all__: list[str] = []
