"""The city's pilot-test (中试) network: the public directory, requests (中试需求) matched by
the twin and answered with offers, and the open service statistics with their ranking.

It sits above the scheduler (an accepted offer is a booking), billing (voucher redemptions
count in the statistics) and the twin (a candidate's odds come from its learned behaviour).
"""

__all__ = ["directory", "requests", "statistics", "status", "store"]
