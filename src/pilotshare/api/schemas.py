"""HTTP models shared across routes (``XBase`` / ``XCreate`` / ``XPublic``, as in CONTRACT §3).

Times are RFC 3339 with an offset (``AwareDatetime``): a naive time in a request is a 422, not a
guess about the caller's time zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from pilotshare.core.errors import BadInput
from pilotshare.core.periods import zone
from pilotshare.scheduler.policy import OperatingCalendar

_RFC3339: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")
_ISO8601_DURATION: Final = re.compile(r"^-?P")


def _rfc3339(value: object) -> object:
    """Times arrive as RFC 3339 text, as the schema says; on its own pydantic would also read
    a number (or a number in a query string) as seconds since 1970."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise ValueError("give an RFC 3339 time with an offset, e.g. 2026-03-02T08:00:00Z")


def _iso8601(value: object) -> object:
    """Durations arrive as ISO 8601 text (PT4H), as the schema says, never bare seconds."""
    if isinstance(value, timedelta) or (isinstance(value, str) and _ISO8601_DURATION.match(value)):
        return value
    raise ValueError("give an ISO 8601 duration, e.g. PT4H")


#: A time in a request: RFC 3339 text with an offset.
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
#: A duration in a request: ISO 8601 text.
Duration = Annotated[timedelta, BeforeValidator(_iso8601)]
#: The longest any booking rule may be (ten years, well inside the database's integers).
MAX_RULE_S: Final = 10 * 365 * 86400

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
#: Money: exact in the database and in arithmetic, a plain JSON number on the wire.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class FieldError(BaseModel):
    """One invalid field: where it is (``["body", "start"]``) and why."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """Every error answer (CONTRACT §6): a sentence, a code of the reason registry, and the
    invalid fields when the body or query failed validation."""

    detail: str = Field(description="one sentence for people")
    reason: str = Field(description="a stable code: see the reason table of docs/api.md")
    errors: list[FieldError] | None = Field(default=None, description="field validation only")


_STATUS_TEXT: Final = {
    401: "no API key, or an unknown or revoked one",
    403: "the key may not do this",
    404: "not found (or invisible to the key's organisation)",
    409: "conflicts with what is stored",
    415: "a body of another media type",
    422: "the body or query is invalid",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can answer these error statuses, all as ``Problem``.

    401/403 (behind a key) and 422 (with a parameter or body) need not be listed: the app
    declares them for every route (``api.app.declare_problems``).
    """
    return {s: {"model": Problem, "description": _STATUS_TEXT[s]} for s in statuses}


def problem_response(status: int) -> dict[str, Any]:
    """One error status as an OpenAPI response object answering the ``Problem`` schema."""
    return {
        "description": _STATUS_TEXT[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


class BookingRules(BaseModel):
    """Per-instrument booking rules; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    operating_hours: dict[str, Any] | None = Field(
        default=None,
        description="weekly calendar in the site's time zone: day -> [[start, end], …] "
        '(HH:MM; an end before its start runs past midnight), plus optional "exceptions" '
        "by date (YYYY-MM-DD, [] = closed). Days left out are closed; null means always open",
        examples=[
            {
                "mon": [["08:00", "18:00"]],
                "tue": [["08:00", "18:00"]],
                "exceptions": {"2026-12-25": []},
            }
        ],
    )
    setup_buffer_s: int = Field(
        default=0, ge=0, le=86400, description="changeover between bookings"
    )
    min_booking_s: int = Field(default=900, gt=0, le=MAX_RULE_S)
    max_booking_s: int = Field(default=86400, gt=0, le=MAX_RULE_S)
    min_notice_s: int = Field(default=0, ge=0, le=MAX_RULE_S)
    max_horizon_s: int = Field(default=90 * 86400, gt=0, le=MAX_RULE_S)
    billing: Literal["booked", "measured"] = "booked"
    requires_qualification: bool = False

    @field_validator("operating_hours")
    @classmethod
    def _calendar(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _valid_calendar(value)


def _valid_calendar(value: dict[str, Any] | None) -> dict[str, Any] | None:
    # the scheduler's own parser is the one definition of a valid calendar
    try:
        OperatingCalendar.parse(value, "UTC")
    except BadInput as exc:
        raise ValueError(exc.detail) from None
    return value


class InstrumentBase(BaseModel):
    """What describes an instrument."""

    kind: Slug
    name: str | None = Field(default=None, max_length=200, description="default: the id")
    capabilities: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = []
    hourly_rate: Money = Field(default=Decimal(0), ge=0, max_digits=12, decimal_places=2)
    owner_org: Slug | None = Field(default=None, description="the organisation that owns it")
    model: str | None = Field(
        default=None, max_length=200, description="the maker's model designation, e.g. JSM-7900F"
    )
    public: StrictBool = Field(
        default=False,
        description="shown in the public directory (when its platform's profile is public too)",
    )


class InstrumentCreate(InstrumentBase, BookingRules):
    """``POST /api/v1/instruments``: id, site and kind required."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    site: Slug
    site_timezone: str | None = Field(
        default=None,
        description="IANA time zone of the site, used when this instrument creates it "
        "(default UTC); an existing site keeps its zone",
        examples=["Asia/Shanghai"],
    )

    @field_validator("site_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone(value)
            except BadInput as exc:
                raise ValueError(exc.detail) from None
        return value


class InstrumentPatch(BaseModel):
    """``PATCH /api/v1/instruments/{id}``: the fields to change, each validated as in
    ``POST``; id, site, kind and owner stay. ``operating_hours: null`` opens it always."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    capabilities: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = None
    hourly_rate: Money | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    billing: Literal["booked", "measured"] | None = None
    requires_qualification: bool | None = None
    operating_hours: dict[str, Any] | None = Field(
        default=None, description="as in POST; null: always open"
    )
    setup_buffer_s: int | None = Field(default=None, ge=0, le=86400)
    min_booking_s: int | None = Field(default=None, gt=0, le=MAX_RULE_S)
    max_booking_s: int | None = Field(default=None, gt=0, le=MAX_RULE_S)
    min_notice_s: int | None = Field(default=None, ge=0, le=MAX_RULE_S)
    max_horizon_s: int | None = Field(default=None, gt=0, le=MAX_RULE_S)
    model: str | None = Field(default=None, max_length=200, description="null: none")
    public: StrictBool | None = None

    @field_validator("operating_hours")
    @classmethod
    def _calendar(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _valid_calendar(value)

    @model_validator(mode="after")
    def _no_nulls(self) -> InstrumentPatch:
        # only the calendar and the model have a meaning for null; any other null would be a
        # silent reset
        nulls = sorted(
            f
            for f in self.model_fields_set
            if f not in {"operating_hours", "model"} and getattr(self, f) is None
        )
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may not be null")
        return self


class InstrumentPublic(InstrumentBase, BookingRules):
    """An instrument as the API shows it."""

    id: str
    site: str
    name: str  # always filled in the answer
    site_timezone: str = Field(
        description="IANA time zone of its site: operating hours, statements and quotas "
        "are local to it",
        examples=["Asia/Shanghai"],
    )
    retired_at: AwareDatetime | None = Field(
        default=None, description="when it was retired (no new bookings); null while in service"
    )
