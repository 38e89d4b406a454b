"""The one visibility rule: admins see all, others their own, anything else is a 404."""

from __future__ import annotations

import pytest

from pilotshare.core.errors import NotFound
from pilotshare.core.scope import require_visible


def _missing() -> NotFound:
    return NotFound("no_booking", "no booking 1")


def test_the_owner_and_an_admin_see_it() -> None:
    assert require_visible("b", "acme", org="acme", admin=False, missing=_missing()) == "b"
    assert require_visible("b", "acme", org="other", admin=True, missing=_missing()) == "b"


@pytest.mark.parametrize(("thing", "owner", "admin"), [("b", "acme", False), (None, None, True)])
def test_another_organisation_or_nothing_is_the_concepts_404(
    thing: str | None, owner: str | None, *, admin: bool
) -> None:
    with pytest.raises(NotFound) as raised:
        require_visible(thing, owner, org="other", admin=admin, missing=_missing())
    assert (raised.value.status, raised.value.reason, raised.value.detail) == (
        404,
        "no_booking",
        "no booking 1",
    )
