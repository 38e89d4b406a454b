-- Bookings, part 2: setup buffers in the no-overlap rule, lifecycle and usage columns, a
-- status history, change notifications, quotas, vouchers and calendar feed tokens.

-- A booking [s, e) holds its instrument for [s, e + setup buffer): the changeover after it.
-- `hold` is kept by a trigger (a generated column cannot read the instrument's buffer), and
-- a second exclusion constraint forbids two held ranges to overlap. With a zero buffer it
-- decides exactly as bookings_no_overlap does.
ALTER TABLE bookings
    ADD COLUMN hold          tstzrange,
    ADD COLUMN hourly_rate   numeric(12, 2),
    ADD COLUMN billing       text CHECK (billing IN ('booked', 'measured')),
    ADD COLUMN flags         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN activated_at  timestamptz,
    ADD COLUMN ended_at      timestamptz,   -- completed, released, cancelled or no-show at
    ADD COLUMN used_s        double precision,
    ADD COLUMN running_s     double precision,
    ADD COLUMN unlocked_at   timestamptz,   -- the interlock was opened for it
    ADD COLUMN locked_at     timestamptz;   -- and closed again

CREATE FUNCTION bookings_fill() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    inst instruments%ROWTYPE;
BEGIN
    SELECT * INTO inst FROM instruments WHERE id = NEW.instrument_id;
    NEW.hold := tstzrange(lower(NEW.period),
                          upper(NEW.period) + make_interval(secs => inst.setup_buffer_s), '[)');
    IF TG_OP = 'INSERT' THEN
        NEW.hourly_rate := coalesce(NEW.hourly_rate, inst.hourly_rate);
        NEW.billing := coalesce(NEW.billing, inst.billing);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER bookings_fill BEFORE INSERT OR UPDATE OF period, instrument_id ON bookings
    FOR EACH ROW EXECUTE FUNCTION bookings_fill();

UPDATE bookings b SET hold = tstzrange(lower(b.period),
                                       upper(b.period) + make_interval(secs => i.setup_buffer_s)),
                      hourly_rate = i.hourly_rate, billing = i.billing
FROM instruments i WHERE i.id = b.instrument_id;
ALTER TABLE bookings ALTER COLUMN hold SET NOT NULL,
                     ALTER COLUMN hourly_rate SET NOT NULL,
                     ALTER COLUMN billing SET NOT NULL;

ALTER TABLE bookings ADD CONSTRAINT bookings_hold_no_overlap EXCLUDE USING gist
    (instrument_id WITH =, hold WITH &&) WHERE (status IN ('confirmed', 'active'));

-- The lifecycle's timers look up holding bookings by start and end.
CREATE INDEX bookings_holding_start ON bookings (lower(period))
    WHERE status IN ('confirmed', 'active');
CREATE INDEX bookings_holding_end ON bookings (upper(period))
    WHERE status IN ('confirmed', 'active');

-- Every status a booking went through, and why: cancellation and no-shows keep history.
CREATE TABLE booking_events (
    id         bigserial PRIMARY KEY,
    booking_id uuid NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    status     text NOT NULL,
    flags      text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX booking_events_booking ON booking_events (booking_id, at);

-- Record each change and tell listeners (the lifecycle's timers) which booking changed.
CREATE FUNCTION bookings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
       OR NEW.flags IS DISTINCT FROM OLD.flags OR NEW.period IS DISTINCT FROM OLD.period THEN
        INSERT INTO booking_events (booking_id, status, flags)
            VALUES (NEW.id, NEW.status, NEW.flags);
        PERFORM pg_notify('booking_changes', json_build_object(
            'id', NEW.id, 'instrument', NEW.instrument_id, 'status', NEW.status)::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER bookings_changed AFTER INSERT OR UPDATE ON bookings
    FOR EACH ROW EXECUTE FUNCTION bookings_changed();

-- Quotas: at most max_hours of bookings per organisation and calendar period (UTC).
CREATE TABLE booking_quotas (
    org_id    slug NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    period    text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    max_hours numeric(10, 2) NOT NULL CHECK (max_hours >= 0),
    PRIMARY KEY (org_id, period)
);

-- Service vouchers: balance granted to an organisation that pays part of its statements.
CREATE TABLE vouchers (
    id         bigserial PRIMARY KEY,
    org_id     slug NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    amount     numeric(12, 2) NOT NULL CHECK (amount > 0),
    note       text NOT NULL DEFAULT '',
    granted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vouchers_org ON vouchers (org_id, granted_at);

-- iCalendar feeds: a calendar client cannot send API keys, so each feed has its own secret
-- token in its URL (kept only as a SHA-256, like API keys).
CREATE TABLE calendar_feeds (
    id          text PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    scope       text NOT NULL CHECK (scope IN ('instrument', 'org')),
    subject     text NOT NULL,              -- the instrument or organisation shown
    org_id      slug NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,  -- the creator's
    full_detail boolean NOT NULL DEFAULT false,  -- other organisations' names and purposes
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
