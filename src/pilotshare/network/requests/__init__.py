"""Requests (中试需求): a client says what it needs, pilotshare matches it against every
platform's capable instruments with the twin's odds, platforms answer with offers, and the
client accepts one, which books it.

Pure: ``states`` (requests' and offers' transitions as tables, expiry on touch), ``odds``
(the seeded Monte Carlo of serving a request before its deadline), ``matching`` (candidates
to ranked matches, a request's rules). With the database: ``store`` (the SQL) and
``steps`` (each move with its history and audit lines; expiry on touch), ``service``
(``service.RequestService``, and the values it takes and answers from ``values``).
"""

__all__ = ["matching", "odds", "service", "states", "steps", "store", "values"]
