-- Also wake the lifecycle when a booking whose interlock it opened stops holding the
-- instrument for another reason than its own settling (an operator released or cancelled
-- it): the interlock must close now, not at the next timer.

CREATE OR REPLACE FUNCTION bookings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
       OR NEW.flags IS DISTINCT FROM OLD.flags OR NEW.period IS DISTINCT FROM OLD.period THEN
        INSERT INTO booking_events (booking_id, status, flags)
            VALUES (NEW.id, NEW.status, NEW.flags);
        IF (NEW.status IN ('confirmed', 'active')
            AND lower(NEW.period) < now() + interval '15 minutes')
           OR (NEW.status NOT IN ('confirmed', 'active')
               AND NEW.unlocked_at IS NOT NULL AND NEW.locked_at IS NULL) THEN
            PERFORM pg_notify('booking_changes', json_build_object(
                'id', NEW.id, 'instrument', NEW.instrument_id, 'status', NEW.status)::text);
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- The few bookings whose interlock is open right now, found without scanning history.
CREATE INDEX bookings_interlock_open ON bookings (id)
    WHERE unlocked_at IS NOT NULL AND locked_at IS NULL;
