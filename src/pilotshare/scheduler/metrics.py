"""Prometheus metrics of bookings, registered once per registry.

The API and the lifecycle may share one registry in one process (``pilotshare demo``), so
``booking_metrics(registry)`` hands out the same collectors to both instead of registering
twice.
"""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, Histogram

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, BookingMetrics] = (
    weakref.WeakKeyDictionary()
)


class BookingMetrics:
    """Bookings by status, allocation latency, no-shows, measured against booked time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.transitions = Counter(
            "pilotshare_booking_transitions",
            "Bookings entering each status",
            ["status"],
            registry=registry,
        )
        self.conflicts = Counter(
            "pilotshare_booking_conflicts",
            "Booking requests refused because the slot was taken (409)",
            registry=registry,
        )
        self.allocation_seconds = Histogram(
            "pilotshare_allocation_seconds",
            "Time to load candidates and choose a slot for one request",
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.no_shows = Counter(
            "pilotshare_booking_no_shows",
            "Bookings whose instrument never ran within the grace period",
            registry=registry,
        )
        # Prometheus base units: seconds, not hours (``promtool check metrics``).
        self.booked_seconds = Counter(
            "pilotshare_booked_seconds",
            "Booked seconds of bookings that ended (completed, no-show or released)",
            registry=registry,
        )
        self.measured_seconds = Counter(
            "pilotshare_measured_seconds",
            "Seconds the instruments were measured in use (running or setup) within bookings",
            registry=registry,
        )
        self.overruns = Counter(
            "pilotshare_booking_overruns",
            "Bookings whose instrument was still running at their end",
            registry=registry,
        )


def booking_metrics(registry: CollectorRegistry | None) -> BookingMetrics | None:
    """The booking metrics of ``registry`` (created on first use); None without a registry."""
    if registry is None:
        return None
    found = _BY_REGISTRY.get(registry)
    if found is None:
        found = _BY_REGISTRY[registry] = BookingMetrics(registry)
    return found
