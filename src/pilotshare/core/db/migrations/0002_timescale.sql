-- Telemetry history on TimescaleDB when it is enabled, the plain PostgreSQL equivalent when not.
-- telemetry_hourly answers the same query on both: a continuous aggregate there, a table the
-- twin keeps up to date here. It counts samples per state; seconds per state are derived from
-- those counts and the samples' spacing (see pilotshare.twin).

DO $$
BEGIN
    IF pilotshare_timescale() THEN
        PERFORM create_hypertable('telemetry', 'ts', chunk_time_interval => interval '1 day',
                                  migrate_data => true);
        ALTER TABLE telemetry SET (timescaledb.compress,
                                   timescaledb.compress_segmentby = 'instrument_id',
                                   timescaledb.compress_orderby = 'ts');
        EXECUTE $v$
            CREATE MATERIALIZED VIEW telemetry_hourly WITH (timescaledb.continuous) AS
            SELECT instrument_id,
                   time_bucket(interval '1 hour', ts) AS bucket,
                   count(*)::bigint AS samples,
                   avg(utilization)::double precision AS utilization,
                   count(*) FILTER (WHERE state = 'running')::bigint AS n_running,
                   count(*) FILTER (WHERE state = 'idle')::bigint AS n_idle,
                   count(*) FILTER (WHERE state = 'setup')::bigint AS n_setup,
                   count(*) FILTER (WHERE state = 'down')::bigint AS n_down,
                   count(*) FILTER (WHERE state = 'maintenance')::bigint AS n_maintenance,
                   min(ts) AS first_ts,
                   max(ts) AS last_ts
            FROM telemetry
            GROUP BY instrument_id, time_bucket(interval '1 hour', ts)
            WITH NO DATA $v$;
        ALTER MATERIALIZED VIEW telemetry_hourly SET (timescaledb.materialized_only = false);
        PERFORM add_continuous_aggregate_policy('telemetry_hourly',
            start_offset => interval '3 days', end_offset => interval '1 hour',
            schedule_interval => interval '15 minutes');
        PERFORM add_compression_policy('telemetry', interval '7 days');
        PERFORM add_retention_policy('telemetry', interval '730 days');
    ELSE
        CREATE TABLE telemetry_hourly (
            instrument_id text NOT NULL,
            bucket        timestamptz NOT NULL,
            samples       bigint NOT NULL,
            utilization   double precision,
            n_running     bigint NOT NULL DEFAULT 0,
            n_idle        bigint NOT NULL DEFAULT 0,
            n_setup       bigint NOT NULL DEFAULT 0,
            n_down        bigint NOT NULL DEFAULT 0,
            n_maintenance bigint NOT NULL DEFAULT 0,
            first_ts      timestamptz,
            last_ts       timestamptz,
            PRIMARY KEY (instrument_id, bucket)
        );
        CREATE INDEX telemetry_ts ON telemetry (ts);
    END IF;
END
$$;
