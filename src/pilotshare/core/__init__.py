"""The shared kernel: wire contract, domain types, errors and their reasons, interval
algebra, a site's calendar periods (``periods``), who may see what (``scope``), settings,
clock, database access, the job queue, the audit log (``audit``) and the embedded services
(``embedded``; ``mosquitto``, a private Mosquitto process).

Every package builds on it, so each of its modules is public; ``contract`` and ``db``
re-export their names and keep their own modules behind them.
"""

__all__ = [
    "audit",
    "clock",
    "contract",
    "db",
    "domain",
    "embedded",
    "errors",
    "intervals",
    "jobs",
    "messaging",
    "mosquitto",
    "periods",
    "probe",
    "scope",
    "settings",
]
