-- Rejects of a numbered batch are kept once per (topic, batch, reason): a resent batch
-- counts on the same row instead of adding one, so the table no longer grows with every
-- resend.
-- Messages whose batch number cannot be read (not JSON, too large, bad topic) have none
-- and are kept one row each, bounded by the rejects retention.
ALTER TABLE rejects
    ADD COLUMN batch bigint,
    ADD COLUMN repeats integer NOT NULL DEFAULT 0,
    ADD COLUMN last_received_at timestamptz;

CREATE UNIQUE INDEX rejects_batch ON rejects (topic, batch, reason) WHERE batch IS NOT NULL;
