-- The lifecycle asks, for each booking under way, when an overrunning previous booking of its
-- instrument ended (`scheduler.store.lifecycle`'s taken-until). Without an index that is a scan
-- of every booking per row, and its estimated cost made PostgreSQL JIT-compile the query on
-- every wake-up (about 300 ms at 20,000 bookings). Overrunning bookings are few: index only them.
CREATE INDEX bookings_overrun_end ON bookings (instrument_id, upper(period))
    WHERE 'overrun' = ANY(flags);
