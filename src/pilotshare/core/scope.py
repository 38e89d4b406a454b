"""Who sees and who administers what, the one rule.

Seeing: the network operator's admins (``admin`` below: a key that sees everything) see
every organisation's things, anyone else only their own organisation's and what is shared with
it, and anything else is answered as if it did not exist (a 404, not a 403, so that another
organisation's ids are not disclosed).

Administering: the network operator's admins administer everything; a platform's admins what
their platform owns (its instruments, their closures, qualifications, rates, service items and
offers) and nothing else; other keys nothing (``may_administer``).

Sharing: a booking is its client's, and it is shared with the admins of the platform that owns
its instrument, who run the line it is booked on (``run_by``): they see it and may cancel it,
in listings, single reads and event streams alike.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeVar

from pilotshare.core.errors import NotFound

T = TypeVar("T")
Row = TypeVar("Row", bound=Mapping[str, Any])


def may_see(owner: str | None, *, org: str, admin: bool) -> bool:
    """Whether the caller of ``org`` may see a thing owned by ``owner`` (None: nobody's)."""
    return admin or (owner is not None and owner == org)


def may_administer(owner: str | None, *, org: str, admin: bool, network: bool) -> bool:
    """Whether a key of ``org`` (an admin key or not; the network operator's or not) may
    administer a thing owned by ``owner`` (None: nobody's, so only the network's)."""
    return network or (admin and owner is not None and owner == org)


def run_by(platform: str | None, *, admin: bool) -> tuple[str, ...]:
    """The organisations a booking on an instrument of ``platform`` is shared with, for a
    caller holding an admin key (``admin``) or not: the platform, to its admins only. Pass it
    as ``shared_with``."""
    return (platform,) if admin and platform is not None else ()


def require_visible(
    thing: T | None,
    owner: str | None,
    *,
    org: str,
    admin: bool,
    missing: NotFound,
    shared_with: Collection[str] = (),
) -> T:
    """``thing`` (owned by ``owner``, and shared with the organisations of ``shared_with``)
    if the caller of ``org`` may see it; else raise ``missing``, the concept's own reason and
    detail. None (nothing found) is never visible."""
    if thing is None or not (may_see(owner, org=org, admin=admin) or org in shared_with):
        raise missing
    return thing


def own_rows(
    rows: Iterable[Row], *, org: str, admin: bool, runs: Collection[str] = ()
) -> list[Row]:
    """The rows (of a shared result: one per booking, each saying its ``"org"`` and
    ``"instrument"``) the caller of ``org`` may see: an admin all, anyone else its
    organisation's, and those on the instruments its platform ``runs`` (for a platform's
    admins: as ``run_by`` shares a booking). A row that does not say whose it is is nobody's
    to see but an admin's."""
    return [
        r
        for r in rows
        if may_see(r.get("org"), org=org, admin=admin) or r.get("instrument") in runs
    ]
