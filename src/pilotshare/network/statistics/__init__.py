"""Open service statistics per platform and month, and the published ranking
(服务能力突出的平台名单).

``figures`` (pure) computes each figure from stored rows, ``ranking`` (pure) ranks the
platforms by configured weights, ``store`` holds the SQL and ``service`` joins them to the
twin's telemetry buckets and billing's billed hours. Public are the submodules in ``__all__``;
nothing is re-exported here, so the pure modules load without the database.
"""

__all__ = ["figures", "ranking", "service", "store"]
