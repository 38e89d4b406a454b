-- Telemetry metrics (the samples' flat `metrics` map) per instrument, UTC hour and name: the
-- count, sum, least and greatest value, so min/mean/max of any bucket of whole hours can be
-- read without the raw samples. A continuous aggregate on TimescaleDB (LATERAL set-returning
-- functions in a continuous aggregate need TimescaleDB 2.16 or newer); a table the ingest keeps
-- up to date, in the transaction that stores the samples, on plain PostgreSQL.

DO $$
BEGIN
    IF pilotshare_timescale() THEN
        EXECUTE $v$
            CREATE MATERIALIZED VIEW telemetry_metrics_hourly WITH (timescaledb.continuous) AS
            SELECT t.instrument_id,
                   time_bucket(interval '1 hour', t.ts) AS bucket,
                   m.name,
                   count(*)::bigint AS n,
                   sum((m.value)::float8) AS total,
                   min((m.value)::float8) AS lo,
                   max((m.value)::float8) AS hi
            FROM telemetry t CROSS JOIN LATERAL jsonb_each(t.metrics) AS m(name, value)
            GROUP BY t.instrument_id, time_bucket(interval '1 hour', t.ts), m.name
            WITH NO DATA $v$;
        ALTER MATERIALIZED VIEW telemetry_metrics_hourly SET (timescaledb.materialized_only = false);
        PERFORM add_continuous_aggregate_policy('telemetry_metrics_hourly',
            start_offset => interval '730 days', end_offset => interval '1 hour',
            schedule_interval => interval '15 minutes');
        -- the samples already stored are answered by real-time aggregation until the policy
        -- has materialised them (a refresh cannot run inside the migration's transaction)
    ELSE
        CREATE TABLE telemetry_metrics_hourly (
            instrument_id text NOT NULL,
            bucket        timestamptz NOT NULL,
            name          text NOT NULL,
            n             bigint NOT NULL,
            total         double precision NOT NULL,
            lo            double precision NOT NULL,
            hi            double precision NOT NULL,
            PRIMARY KEY (instrument_id, bucket, name)
        );
        -- the samples already stored
        INSERT INTO telemetry_metrics_hourly (instrument_id, bucket, name, n, total, lo, hi)
        SELECT t.instrument_id, date_trunc('hour', t.ts, 'UTC'), m.name, count(*),
               sum((m.value)::float8), min((m.value)::float8), max((m.value)::float8)
        FROM telemetry t CROSS JOIN LATERAL jsonb_each(t.metrics) AS m(name, value)
        WHERE jsonb_typeof(t.metrics) = 'object'
        GROUP BY 1, 2, 3;
    END IF;
END
$$;
