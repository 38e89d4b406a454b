"""Who sees what, the one rule: an admin sees every organisation's things, anyone else only
their own organisation's, and anything else is answered as if it did not exist (a 404, not a
403, so that another organisation's ids are not disclosed)."""

from __future__ import annotations

from typing import TypeVar

from pilotshare.core.errors import NotFound

T = TypeVar("T")


def require_visible(
    thing: T | None, owner: str | None, *, org: str, admin: bool, missing: NotFound
) -> T:
    """``thing`` (owned by ``owner``) if the caller of ``org`` may see it; else raise
    ``missing``, the concept's own reason and detail. None (nothing found) is never visible."""
    if thing is None or (owner != org and not admin):
        raise missing
    return thing
