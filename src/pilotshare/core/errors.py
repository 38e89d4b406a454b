"""Error types shared by every layer, and the one registry of the reasons the API answers with.

Two families, as in h11: a ``Refusal`` is remote bad input or a request the stored state
refuses (a malformed body, an unknown id, a taken slot); it becomes a clear answer to whoever
sent it and never a crash. ``ConfigError`` is a local misuse (a bad setting or config file)
reported once, in one line, before anything starts.

Each refusal type stands for one HTTP status (``BadInput`` 422, ``NotFound`` 404, ``Conflict``
409, ``Forbidden`` 403, …); the app maps them once, to ``{"detail", "reason"}``. ``reason`` is
a code of ``REASONS`` below, whose status is that of the type raised with it (a test checks
every raise in the source against this table, and docs/api.md against it). Telemetry rejects
have their own table, ``core.contract.payloads.REASONS``: they are stored, not answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code of an error answer: its HTTP status and what it means."""

    code: str
    status: int
    meaning: str


#: Every reason an API answer can give, by status then code.
REASONS: Final[tuple[Reason, ...]] = (
    Reason("no_key", 401, "no API key was sent"),
    Reason("bad_key", 401, "the API key is unknown or revoked"),
    Reason("expired_key", 401, "the API key has expired"),
    Reason("forbidden_role", 403, "the key's role may not do this"),
    Reason("not_network_admin", 403, "this needs an admin key of the network operator"),
    Reason("not_owner", 403, "it belongs to another platform: only its own admins may change it"),
    Reason("not_qualified", 403, "the organisation is not qualified for the instrument"),
    Reason("not_client", 403, "only the client that posted the request may do this"),
    Reason("no_route", 404, "no such path"),
    Reason("no_instrument", 404, "no such instrument"),
    Reason("no_organisation", 404, "no such organisation (or another one's)"),
    Reason("no_booking", 404, "no such booking (or another organisation's)"),
    Reason("no_closure", 404, "no such maintenance window or blackout"),
    Reason("no_feed", 404, "no such calendar feed, or it was revoked"),
    Reason("no_such_key", 404, "no such API key (or another organisation's), or it was revoked"),
    Reason("no_platform", 404, "the organisation owns no instruments: it is not a platform"),
    Reason("no_voucher", 404, "no such voucher (or another organisation's)"),
    Reason("no_job", 404, "no such forecast or simulation (or another organisation's)"),
    Reason("no_service_item", 404, "no such service item"),
    Reason("no_site", 404, "no such site"),
    Reason("no_request", 404, "no such request (or one the organisation is not concerned by)"),
    Reason("no_offer", 404, "no such offer on the request (or another platform's)"),
    Reason("no_scenario", 404, "no such bundled what-if scenario"),
    Reason("method_not_allowed", 405, "the path does not answer this method"),
    Reason("instrument_exists", 409, "an instrument of this id exists already"),
    Reason("organisation_exists", 409, "an organisation of this id exists already"),
    Reason("service_item_exists", 409, "a service item of this id exists already"),
    Reason("service_item_in_use", 409, "bookings name the service item: hide it instead"),
    Reason("instrument_retired", 409, "the instrument is retired: it takes no new bookings"),
    Reason("future_bookings", 409, "the instrument still holds bookings now or later"),
    Reason("slot_taken", 409, "the slot is booked or being booked"),
    Reason("closure", 409, "a maintenance window or blackout covers the slot"),
    Reason("no_free_slot", 409, "nothing matching is free in the window"),
    Reason("no_match", 409, "no instrument matches the request"),
    Reason("booking_busy", 409, "the matching instruments are being booked too fast"),
    Reason("quota_exceeded", 409, "the booking would pass the organisation's quota"),
    Reason("not_cancellable", 409, "the booking has ended or was cancelled already"),
    Reason("illegal_transition", 409, "the booking's status does not allow this step"),
    Reason("outside_check_in_window", 409, "it is not the booking's check-in window"),
    Reason("not_changeable", 409, "the booking has ended or was cancelled: it cannot change"),
    Reason("already_started", 409, "the booking is active: only its end may change"),
    Reason("voucher_revoked", 409, "the voucher was revoked already"),
    Reason("request_closed", 409, "the request was accepted, cancelled or has expired"),
    Reason(
        "offer_closed",
        409,
        "the offer is no longer open (accepted, declined, withdrawn or expired)",
    ),
    Reason("unsupported_media_type", 415, "the body is neither JSON nor YAML"),
    Reason("bad_request", 422, "a field of the body or query is invalid (see ``errors``)"),
    Reason("bad_json", 422, "the body is not JSON"),
    Reason("bad_query", 422, "the query's parameters do not fit together"),
    Reason("bad_bucket", 422, "the bucket is not one the metric series offers"),
    Reason("bad_metric_name", 422, "a metric name is malformed, or too many are named"),
    Reason("bad_window", 422, "the time window is empty, reversed or too long"),
    Reason("bad_period", 422, "the booking's end is not after its start"),
    Reason("bad_duration", 422, "the duration is not positive"),
    Reason("bad_status", 422, "not a booking status"),
    Reason("bad_cursor", 422, "not a cursor of this listing (take it from the 'Link' header)"),
    Reason("instrument_or_kind", 422, "give exactly one of 'instrument' and 'kind'"),
    Reason("incomplete_slot", 422, "a slot needs both 'start' and 'end'"),
    Reason("slot_or_duration", 422, "give either a slot or a duration with its window"),
    Reason("slot_needs_instrument", 422, "an explicit slot names an instrument, not a kind"),
    Reason("window_too_long", 422, "the search window is longer than allowed"),
    Reason("too_short", 422, "shorter than the instrument's minimum booking"),
    Reason("too_long", 422, "longer than the instrument's maximum booking"),
    Reason("too_soon", 422, "starts before the instrument's minimum notice"),
    Reason("too_far", 422, "ends after the instrument's booking horizon"),
    Reason("ends_in_past", 422, "the booking keeps its start and its new end has passed"),
    Reason("closed", 422, "outside the instrument's operating hours"),
    Reason("bad_rules", 422, "the instrument's booking rules contradict each other"),
    Reason("bad_operating_hours", 422, "the operating-hours calendar is malformed"),
    Reason("bad_timezone", 422, "not an IANA time zone"),
    Reason("bad_month", 422, "not a month (YYYY-MM)"),
    Reason("bad_voucher", 422, "a voucher's terms do not hold together (cap, validity)"),
    Reason("bad_token", 422, "not a calendar feed token"),
    Reason("bad_expiry", 422, "a new key's expiry is not in the future"),
    Reason("bad_scenario", 422, "the what-if scenario is malformed (the detail names the line)"),
    Reason("bad_replications", 422, "replications out of range"),
    Reason("too_many_replications", 422, "the scenario needs more replications than allowed"),
    Reason("bad_seed", 422, "seed out of range"),
    Reason("no_instruments", 422, "a forecast needs at least one instrument"),
    Reason("service_item_mismatch", 422, "the service item is not offered on that instrument"),
    Reason("not_a_platform", 422, "only platforms publish profiles and offer service items"),
    Reason("no_item_site", 422, "the service item's site cannot be told: give one"),
    Reason("rate_limited", 429, "too many public requests from this address: see Retry-After"),
    Reason("kind_or_capabilities", 422, "a request names a kind, capabilities, or both"),
    Reason("hours_or_samples", 422, "a request asks for instrument time, samples, or both"),
    Reason("deadline_passed", 422, "the request's deadline has passed already"),
    Reason("not_capable", 422, "the instrument cannot serve the request"),
    Reason("offer_outside_window", 422, "the offer's slot is outside the request's window"),
    Reason(
        "bad_validity", 422, "the offer's validity has passed or outlasts the request's deadline"
    ),
    Reason("http_error", 400, "another refusal of the HTTP layer (its status as answered)"),
    Reason("database_unavailable", 503, "the database cannot be reached"),
)

#: ``REASONS`` by code.
BY_CODE: Final = {r.code: r for r in REASONS}


class PilotshareError(Exception):
    """Base of every error pilotshare raises on purpose."""


class Refusal(PilotshareError):  # noqa: N818 - an answer, not a fault
    """A request refused; ``status`` is its HTTP answer.

    ``reason`` is a short stable code (``bad_json``, ``no_booking`` …), one of ``REASONS``
    for API answers (``core.contract.payloads.REASONS`` for telemetry), used as a metric label
    and stored with rejects; ``detail`` is the human sentence.
    """

    status: ClassVar[int]

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class BadInput(Refusal):
    """Input from outside that breaks the contract (422)."""

    status = 422


class Unauthorized(Refusal):
    """No key, or a key that is not valid (401)."""

    status = 401


class Forbidden(Refusal):
    """The caller is known but may not do this (403)."""

    status = 403


class NotFound(Refusal):
    """The thing asked for does not exist, or is invisible to the caller (404)."""

    status = 404


class Conflict(Refusal):
    """The request conflicts with stored state: an existing id, a taken slot (409)."""

    status = 409


class Unsupported(Refusal):
    """A body of a media type the route does not read (415)."""

    status = 415


class TooManyRequests(Refusal):
    """Too many requests from one client in too short a time (429); ``retry_after`` says in
    how many whole seconds the next one is admitted (the ``Retry-After`` header)."""

    status = 429

    def __init__(self, reason: str, detail: str, *, retry_after: int) -> None:
        super().__init__(reason, detail)
        self.retry_after = retry_after


class ConfigError(PilotshareError):
    """A setting or configuration file is wrong; the message names the key and why."""
