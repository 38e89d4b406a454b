-- Each instrument's state intervals (what twin.stats.intervals makes of its samples), kept
-- up to date incrementally by the ingest, so learning a month of behaviour reads a few
-- thousand intervals instead of millions of samples.
CREATE TABLE state_intervals (
    instrument_id slug NOT NULL REFERENCES instruments(id) ON DELETE CASCADE,
    state         text NOT NULL,
    start_ts      timestamptz NOT NULL,
    end_ts        timestamptz NOT NULL CHECK (end_ts > start_ts),
    PRIMARY KEY (instrument_id, start_ts)
);
