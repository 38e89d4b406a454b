-- A booking whose slot begins while its instrument still runs a run from before the
-- booking's check-in window (someone else's overrun, unbooked use) is `delayed`: a status of
-- its own, not a flag. It holds the slot like confirmed and active, so the status check, both
-- exclusion constraints and the holding indexes are redefined with it (scheduler.states.HELD).
--
-- `freed_at`: when the lifecycle first saw a delayed booking's instrument no longer running
-- the carried-over run; its no-show grace counts from then.
--
-- bookings_changed() (migrations 0021/0022) is left as it is: it wakes the lifecycle for
-- bookings that start soon, and a booking only becomes delayed after its start, by the
-- lifecycle itself, which re-reads its deadlines on every pass and every 5 minutes.

ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check CHECK (status IN
    ('confirmed', 'active', 'completed', 'cancelled', 'no_show', 'released', 'delayed'));

ALTER TABLE bookings ADD COLUMN freed_at timestamptz;

ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap;
ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist
    (instrument_id WITH =, period WITH &&) WHERE (status IN ('confirmed', 'active', 'delayed'));
ALTER TABLE bookings DROP CONSTRAINT bookings_hold_no_overlap;
ALTER TABLE bookings ADD CONSTRAINT bookings_hold_no_overlap EXCLUDE USING gist
    (instrument_id WITH =, hold WITH &&) WHERE (status IN ('confirmed', 'active', 'delayed'));

DROP INDEX bookings_holding_start;
CREATE INDEX bookings_holding_start ON bookings (lower(period))
    WHERE status IN ('confirmed', 'active', 'delayed');
DROP INDEX bookings_holding_end;
CREATE INDEX bookings_holding_end ON bookings (upper(period))
    WHERE status IN ('confirmed', 'active', 'delayed');

-- Bookings the lifecycle had flagged `delayed` while still confirmed take the status instead.
UPDATE bookings SET status = 'delayed', flags = array_remove(flags, 'delayed')
WHERE status = 'confirmed' AND 'delayed' = ANY(flags);
