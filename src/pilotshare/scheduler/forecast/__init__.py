"""The capacity forecast: the live site, as the database knows it, replayed many times in SimPy.

It lives under ``scheduler`` because its desk books the simulated demand with the scheduler's
own ``allocation.allocate``, and because it forecasts the scheduler's bookings (``p_served``).
Planners' what-if scenarios, which change the site before simulating it, are ``simulations``.

- ``inputs``: what a forecast starts from (read from the database) and the ``SiteSpec`` of it;
- ``desk``: the scheduler's allocation inside SimPy;
- ``summary``: replication arrays to the result of CONTRACT §3;
- ``service``: the job handler (load -> simulate -> summarise) and the CLI's one-shot run;
- ``risk_watch``: queues a forecast when an instrument holding bookings goes down;
- ``alerts``: a finished forecast's bookings at risk, per organisation (the ``at_risk``
  events of the API's event streams);
- ``store``: the SQL of the snapshot and of the risk watch's trigger.

The service's names are re-exported here; ``desk`` (the simulations' desk), ``inputs`` (their
live baseline), ``risk_watch`` (``RiskWatch``, which imports this package) and ``alerts``
(the event streams') are public as modules. ``summary`` and ``store`` are the package's own.
"""

from pilotshare.scheduler.forecast.service import (
    HORIZON_DAYS,
    REPLICATIONS,
    SEED_MAX,
    ForecastParams,
    ForecastResult,
    compute,
    forecast_handler,
    run_once,
    run_replications,
)

__all__ = [
    "HORIZON_DAYS",
    "REPLICATIONS",
    "SEED_MAX",
    "ForecastParams",
    "ForecastResult",
    "alerts",
    "compute",
    "desk",
    "forecast_handler",
    "inputs",
    "risk_watch",
    "run_once",
    "run_replications",
]
