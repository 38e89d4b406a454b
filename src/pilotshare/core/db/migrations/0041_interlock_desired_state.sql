-- The interlock as desired state (CONTRACT §6): each instrument has one current desired
-- interlock state, numbered by a `seq` that rises with every change and is never reused (it
-- lives here, so a restarted backend goes on counting). The lifecycle publishes it retained
-- on `…/cmd` and re-publishes it, with backoff, until the agent's status reports that seq.
CREATE TABLE interlocks (
    instrument_id slug PRIMARY KEY REFERENCES instruments(id) ON DELETE CASCADE,
    seq           bigint NOT NULL CHECK (seq > 0),
    cmd           text NOT NULL CHECK (cmd IN ('unlock', 'lock')),
    booking_id    uuid REFERENCES bookings(id) ON DELETE SET NULL,
    until         timestamptz,
    changed_at    timestamptz NOT NULL,
    sends         integer NOT NULL DEFAULT 0,  -- publishes of this seq tried so far
    sent_at       timestamptz,                 -- the broker last accepted this seq then
    next_send_at  timestamptz                  -- the next (re)publish; NULL: the agent has it
);
CREATE INDEX interlocks_next_send ON interlocks (next_send_at) WHERE next_send_at IS NOT NULL;

-- What the instrument's agent last reported it applied (its retained status).
ALTER TABLE instrument_live
    ADD COLUMN interlock_state text CHECK (interlock_state IN ('unlocked', 'locked', 'unsupported')),
    ADD COLUMN interlock_seq   bigint;

-- Per booking: the seq of the last interlock change made for it, and what the agent reported
-- at that seq (kept once the instrument has moved on to the next booking).
ALTER TABLE bookings
    ADD COLUMN interlock_seq      bigint,
    ADD COLUMN interlock_reported text
        CHECK (interlock_reported IN ('unlocked', 'locked', 'unsupported'));
