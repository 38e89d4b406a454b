"""The one visibility rule: admins see all, others their own, anything else is a 404; a booking
is shared with its platform's admins; a platform administers its own things."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.errors import NotFound
from pilotshare.core.scope import may_administer, require_visible, run_by


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


orgs = st.sampled_from(["acme", "globex", "lab-a", "lab-b"])


@given(client=orgs, platform=st.none() | orgs, caller=orgs, admin_key=st.booleans())
def test_a_booking_is_seen_by_its_client_and_its_platforms_admins_only(
    client: str, platform: str | None, caller: str, *, admin_key: bool
) -> None:
    shared = run_by(platform, admin=admin_key)
    try:
        require_visible(
            "b", client, org=caller, admin=False, missing=_missing(), shared_with=shared
        )
        seen = True
    except NotFound:
        seen = False
    assert seen == (caller == client or (admin_key and platform == caller))
    # the network operator's admins see it whoever the caller's platform is
    assert require_visible("b", client, org=caller, admin=True, missing=_missing()) == "b"


@given(owner=st.none() | orgs, caller=orgs, admin_key=st.booleans(), network=st.booleans())
def test_a_platform_administers_its_own_and_the_network_everything(
    owner: str | None, caller: str, *, admin_key: bool, network: bool
) -> None:
    allowed = may_administer(owner, org=caller, admin=admin_key, network=network)
    assert allowed == (network or (admin_key and owner == caller))
