-- The audit log: who did what to which object, with the object before and after. Written in
-- the transaction of the change itself (core.audit.record), so a change and its audit line
-- commit or roll back together. ``owners`` are the organisations whose object it is (a
-- booking: its client and the platform owning the instrument): a platform's admins read the
-- lines of their own objects, the network operator's admins every line.
CREATE TABLE IF NOT EXISTS audit_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_org   text,
    actor_key   text,
    action      text NOT NULL,
    object_kind text NOT NULL,
    object_id   text NOT NULL,
    owners      text[] NOT NULL DEFAULT '{}',
    before      jsonb,
    after       jsonb
);
CREATE INDEX IF NOT EXISTS audit_events_newest ON audit_events (id DESC);
CREATE INDEX IF NOT EXISTS audit_events_object ON audit_events (object_kind, object_id, id);
CREATE INDEX IF NOT EXISTS audit_events_owners ON audit_events USING gin (owners);
