-- Bookings are listed a page at a time by keyset on (start, id), in either order: these
-- indexes serve an organisation's listing and an admin's listing of everyone's.
CREATE INDEX bookings_org_start_id ON bookings (org_id, lower(period), id);
CREATE INDEX bookings_start_id ON bookings (lower(period), id);
