-- The plain-PostgreSQL rollup is maintained incrementally by the ingest, in the transaction
-- that stores the samples. An average cannot be updated from another average alone, so it
-- keeps the sum and count of reported utilisations; `utilization` stays their quotient, so
-- readers see the same columns as the TimescaleDB continuous aggregate.
DO $$
BEGIN
    IF NOT pilotshare_timescale() THEN
        ALTER TABLE telemetry_hourly
            ADD COLUMN utilization_sum double precision NOT NULL DEFAULT 0,
            ADD COLUMN utilization_n   bigint NOT NULL DEFAULT 0;
    END IF;
END
$$;
