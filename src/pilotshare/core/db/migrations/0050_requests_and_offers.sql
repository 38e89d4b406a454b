-- Requests (中试需求) and offers: a client posts what it needs, platforms answer with offers,
-- accepting one books its slot (network.requests). Statuses are those of
-- network/requests/states.py (tests/unit/test_request_states.py holds them equal).
CREATE TABLE IF NOT EXISTS pilot_requests (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq           bigserial,                          -- the order of posting, within a clock tick
    client_org_id slug NOT NULL REFERENCES organisations(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text,                               -- the public id of the key that posted it
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'offered', 'accepted', 'cancelled', 'expired')),
    title         text NOT NULL CHECK (title <> ''),
    description   text NOT NULL DEFAULT '',
    kind          slug,
    capabilities  text[] NOT NULL DEFAULT '{}',
    hours         numeric(8, 2) CHECK (hours > 0),    -- instrument time needed
    samples       integer CHECK (samples > 0),
    service_item  text,                               -- a priced service item's id, as given
    earliest      timestamptz NOT NULL,
    deadline      timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (deadline > earliest),
    CHECK (hours IS NOT NULL OR samples IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS pilot_requests_client ON pilot_requests (client_org_id, created_at DESC);
CREATE INDEX IF NOT EXISTS pilot_requests_pending ON pilot_requests (deadline)
    WHERE status IN ('open', 'offered');

CREATE TABLE IF NOT EXISTS request_offers (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigserial,                        -- the order of offering
    request_id      uuid NOT NULL REFERENCES pilot_requests(id),
    platform_org_id slug NOT NULL REFERENCES organisations(id),
    instrument_id   slug NOT NULL REFERENCES instruments(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text,
    status          text NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'accepted', 'declined', 'withdrawn', 'expired')),
    start_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL,
    price           numeric(12, 2) NOT NULL CHECK (price >= 0),   -- CNY
    conditions      text NOT NULL DEFAULT '',
    valid_until     timestamptz NOT NULL,
    booking_id      uuid REFERENCES bookings(id),                -- set once accepted
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_at > start_at)
);
CREATE INDEX IF NOT EXISTS request_offers_request ON request_offers (request_id, created_at);
CREATE INDEX IF NOT EXISTS request_offers_platform ON request_offers (platform_org_id, created_at);
CREATE INDEX IF NOT EXISTS request_offers_open ON request_offers (valid_until)
    WHERE status = 'open';
-- A request is served by one offer at most.
CREATE UNIQUE INDEX IF NOT EXISTS request_offers_one_accepted ON request_offers (request_id)
    WHERE status = 'accepted';

-- The history of a request and of its offers: who moved what from which status to which.
CREATE TABLE IF NOT EXISTS request_events (
    id          bigserial PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES pilot_requests(id),
    offer_id    uuid REFERENCES request_offers(id),
    at          timestamptz NOT NULL,
    actor_org   text,                                 -- null: pilotshare itself (expiry)
    actor_key   text,
    event       text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS request_events_request ON request_events (request_id, at, id);
