-- Instruments can be retired: they take no new bookings, and keep their history (bookings,
-- telemetry, statements). A retired instrument's row stays; retired_at says since when.
ALTER TABLE instruments ADD COLUMN retired_at timestamptz;

-- The last line of defence, as the exclusion constraints are for overlaps: no booking is
-- made on (or moved to) a retired instrument, whatever the application checked first.
-- FOR SHARE makes a booking and the retirement of its instrument serialise on the
-- instrument's row: a retirement in progress (it holds the row FOR UPDATE) makes the booking
-- wait and then see retired_at; a booking in progress makes the retirement wait and then see
-- the booking among those it refuses to retire over.
CREATE FUNCTION bookings_instrument_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    retired timestamptz;
BEGIN
    SELECT retired_at INTO retired FROM instruments WHERE id = NEW.instrument_id FOR SHARE;
    IF retired IS NOT NULL THEN
        RAISE EXCEPTION 'instrument % is retired', NEW.instrument_id
            USING HINT = 'instrument_retired';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER bookings_instrument_open BEFORE INSERT OR UPDATE OF instrument_id ON bookings
    FOR EACH ROW EXECUTE FUNCTION bookings_instrument_open();
