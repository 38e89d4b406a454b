-- What the twin has learned about each instrument (twin.stats.learn over a recent window),
-- refreshed in the background by the ingest so that readers (the twin API, the scheduler's
-- availability, the forecast's calibration) get it with one indexed read.
CREATE TABLE instrument_behaviour (
    instrument_id  slug PRIMARY KEY REFERENCES instruments(id) ON DELETE CASCADE,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    mtbf_hours     double precision,
    mttr_hours     double precision,
    availability   double precision,
    failures       integer NOT NULL,
    observed_hours double precision NOT NULL,
    detail         jsonb NOT NULL,            -- the whole Behaviour: CIs, fits, profile
    computed_at    timestamptz NOT NULL DEFAULT now()
);
