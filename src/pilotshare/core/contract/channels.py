"""PostgreSQL notification channels: who ``NOTIFY``s what, and who listens.

The migrations keep these names as SQL literals (a migration is frozen once applied);
``tests/unit/test_db_channels.py`` keeps both spellings equal.
"""

from __future__ import annotations

from typing import Final

#: An instrument's live state changed; the payload is ``Live.as_event()`` as JSON. Sent by
#: the ingest (``twin.writer``), heard by the booking lifecycle, the risk watch and the API's
#: event streams.
TWIN_CHANGES: Final = "twin_changes"

#: A booking was created, released or starts soon; sent by the trigger of migrations
#: 0020-0022, heard by the booking lifecycle.
BOOKING_CHANGES: Final = "booking_changes"

#: A job's status or progress changed; the payload is ``{"id","kind","status","progress"}``.
#: Sent by the trigger of migration 0045 when a job finishes (done or failed; no
#: ``progress``) and by ``core.jobs`` when one is queued, claimed, released or progresses
#: (throttled by ``core.jobs.ProgressThrottle``); heard by the API's event streams (``job``
#: events, and a finished forecast's ``at_risk``).
JOB_CHANGES: Final = "job_changes"

#: A job was queued; the payload is its kind. Sent by ``core.jobs.enqueue``, heard by workers.
JOB_QUEUE: Final = "pilotshare_jobs"
