"""The HTTP API (FastAPI): ``app.create_app`` builds it from what the composition root opened.

``deps`` is the one place for who is calling and with which role, ``schemas`` the shared
models and the one error schema, ``routes/`` one thin module per area (parse, call a service
or a store, answer a typed model), ``ical`` the calendar rendering, ``console/`` the web
console's sources and build. Routes run no SQL (``tests/unit/test_layout.py``).

The composition root imports ``app``, and ``catalog``, ``keys``, ``platforms`` and ``schemas``
to register instruments, keys, profiles and service items the way the API does; nothing is
re-exported here.
"""

__all__ = ["app", "catalog", "keys", "platforms", "schemas"]
