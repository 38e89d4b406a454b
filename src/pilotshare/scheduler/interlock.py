"""Publishing each instrument's desired interlock state until its agent reports it.

The lifecycle records a change of the desired state in the database first (``store.open_due``,
``store.close_for``: the booking's mark and a new ``seq``, in one transaction), then this
publishes it, QoS 1 and retained on ``…/cmd``, so an agent that connects later still gets it.
A desired state is published again until the agent's retained status reports its ``seq``
(the ingest records that in ``instrument_live``): after ``resend``, then twice as long each
time up to ``resend_max``. A publish that fails (no broker, a timeout) is retried on the same
schedule but never more than ``RETRY_MAX`` apart, since then the broker does not hold it;
nothing is dropped on an error, and a restart picks up where the table says. The publishes of
one pass go out together, so a hung broker costs one timeout, not one per instrument.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import asyncpg

from pilotshare.core.contract import Channel, Command, Topic, encode
from pilotshare.core.messaging import Publisher
from pilotshare.scheduler import store

log = logging.getLogger(__name__)

#: How long one publish may wait for the broker's PUBACK before it counts as failed.
PUBLISH_TIMEOUT_S = 10.0
#: The longest wait before a failed publish is tried again.
RETRY_MAX = timedelta(seconds=30)


def resend_delay(sends: int, *, resend: timedelta, resend_max: timedelta) -> timedelta:
    """The wait after the ``sends``-th publish of a seq (1, 2, …): doubling, capped."""
    return min(resend * (1 << min(max(sends - 1, 0), 32)), resend_max)


def command_of(desired: store.Desired) -> Command:
    """The ``…/cmd`` payload of a desired state."""
    return Command(
        cmd="unlock" if desired.cmd == "unlock" else "lock",
        booking=None if desired.booking is None else str(desired.booking),
        until=desired.until,
        seq=desired.seq,
    )


class InterlockSender:
    """Publishes the desired interlock states that are due; the lifecycle calls ``send_due``."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher,
        *,
        resend: timedelta = timedelta(seconds=5),
        resend_max: timedelta = timedelta(minutes=5),
    ) -> None:
        if resend <= timedelta(0) or resend_max < resend:
            raise ValueError("need 0 < resend <= resend_max")
        self._pool = pool
        self._publisher = publisher
        self._resend = resend
        self._resend_max = resend_max

    async def send_due(self, now: datetime) -> None:
        """Settle what agents reported, then (re)publish every desired state that is due."""
        await store.settle_reported(self._pool)
        due = await store.sends_due(self._pool, now)
        results = await asyncio.gather(*(self._publish(d) for d in due))
        for desired, published in zip(due, results, strict=True):
            delay = resend_delay(
                desired.sends + 1, resend=self._resend, resend_max=self._resend_max
            )
            if not published:
                delay = min(delay, max(RETRY_MAX, self._resend))
            await store.sent(self._pool, desired, published=published, now=now, again=now + delay)

    async def next_due(self) -> datetime | None:
        """When ``send_due`` has work next (None: every agent reported its desired state)."""
        return await store.next_send(self._pool)

    async def _publish(self, desired: store.Desired) -> bool:
        topic = str(Topic(desired.site, desired.instrument, Channel.CMD))
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await self._publisher.publish(
                    topic, encode(command_of(desired)), qos=1, retain=True
                )
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning(
                "could not publish interlock %s (seq %d) to %s, retrying: %s",
                desired.cmd,
                desired.seq,
                desired.instrument,
                exc,
            )
            return False
        if desired.sends:  # an agent too old to report keeps this going: not worth a warning
            log.debug(
                "interlock %s (seq %d) re-sent to %s: not reported yet (send %d)",
                desired.cmd,
                desired.seq,
                desired.instrument,
                desired.sends + 1,
            )
        return True
