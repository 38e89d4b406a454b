"""Planners' what-if questions: a scenario changes a site, and baseline and scenario are
replicated with common random numbers and compared pairwise.

``scenario`` (the frozen values), ``loader`` and ``builder`` (the file), ``changes``,
``engine`` (the one module that speaks to the twin model and the scheduler's desk), ``live``
(a baseline from the forecast's snapshot), ``experiment``, ``runner`` (inline, processes or
Dask), ``metrics`` and ``paired``, the reports; ``bundled`` (the shipped scenarios) and
``job``/``command`` (API and CLI) are the only modules other packages import.
"""

__all__ = ["bundled", "command", "job"]
