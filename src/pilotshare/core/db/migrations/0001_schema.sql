-- Schema v1: the platform's organisations, instruments, telemetry, bookings and jobs.

-- Whether TimescaleDB is enabled here; later migrations branch on it.
CREATE FUNCTION pilotshare_timescale() RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') $$;

CREATE DOMAIN slug AS text CHECK (VALUE ~ '^[a-z0-9][a-z0-9_-]{0,63}$');

CREATE TABLE organisations (
    id          slug PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys: the secret is shown once; only its SHA-256 is kept (keys are 256-bit random,
-- so a slow password hash would add nothing but latency to every request).
CREATE TABLE api_keys (
    id           text PRIMARY KEY,               -- public prefix, shown in listings
    org_id       slug NOT NULL REFERENCES organisations(id),
    role         text NOT NULL CHECK (role IN ('admin', 'planner', 'operator')),
    secret_hash  bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE sites (
    id          slug PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',     -- operating hours are local to the site
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instruments (
    id                     slug PRIMARY KEY,
    site_id                slug NOT NULL REFERENCES sites(id),
    name                   text NOT NULL,
    kind                   slug NOT NULL,
    capabilities           text[] NOT NULL DEFAULT '{}',
    owner_org_id           slug REFERENCES organisations(id),
    hourly_rate            numeric(12, 2) NOT NULL DEFAULT 0 CHECK (hourly_rate >= 0),
    billing                text NOT NULL DEFAULT 'booked' CHECK (billing IN ('booked', 'measured')),
    requires_qualification boolean NOT NULL DEFAULT false,
    -- Booking rules. operating_hours: {"mon": [["08:00","18:00"]], …}; null = always open.
    operating_hours        jsonb,
    setup_buffer_s         integer NOT NULL DEFAULT 0 CHECK (setup_buffer_s >= 0),
    min_booking_s          integer NOT NULL DEFAULT 900 CHECK (min_booking_s > 0),
    max_booking_s          integer NOT NULL DEFAULT 86400 CHECK (max_booking_s >= min_booking_s),
    min_notice_s           integer NOT NULL DEFAULT 0 CHECK (min_notice_s >= 0),
    max_horizon_s          integer NOT NULL DEFAULT 7776000 CHECK (max_horizon_s > 0),
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instruments_kind ON instruments (kind);

CREATE TABLE qualifications (
    instrument_id slug NOT NULL REFERENCES instruments(id) ON DELETE CASCADE,
    org_id        slug NOT NULL REFERENCES organisations(id),
    granted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, org_id)
);

-- Telemetry: (instrument, ts) is the identity of a sample, so a resent batch stores nothing
-- twice. No foreign key: the ingest checks instruments itself and COPY stays fast.
CREATE TABLE telemetry (
    instrument_id text NOT NULL,
    ts            timestamptz NOT NULL,
    state         text NOT NULL
                  CHECK (state IN ('running', 'idle', 'setup', 'down', 'maintenance')),
    utilization   real CHECK (utilization BETWEEN 0 AND 1),
    metrics       jsonb,
    batch         bigint NOT NULL,
    PRIMARY KEY (instrument_id, ts)
);

-- Messages that failed validation: kept whole, with why, never dropped.
CREATE TABLE rejects (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL,
    payload     bytea NOT NULL
);
CREATE INDEX rejects_received_at ON rejects (received_at DESC);

-- The live twin: one row per instrument, rebuilt from telemetry and status on restart.
CREATE TABLE instrument_live (
    instrument_id  slug PRIMARY KEY REFERENCES instruments(id) ON DELETE CASCADE,
    online         boolean NOT NULL DEFAULT false,
    agent          text,
    agent_version  text,
    state          text,
    since          timestamptz,
    last_seen      timestamptz,
    status_at      timestamptz,
    utilization    real,
    last_batch     bigint,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE maintenance_windows (
    id            bigserial PRIMARY KEY,
    instrument_id slug NOT NULL REFERENCES instruments(id) ON DELETE CASCADE,
    period        tstzrange NOT NULL CHECK (NOT isempty(period)),
    kind          text NOT NULL DEFAULT 'maintenance' CHECK (kind IN ('maintenance', 'blackout')),
    reason        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX maintenance_windows_period ON maintenance_windows USING gist (instrument_id, period);

-- Bookings. Two bookings that hold an instrument (confirmed or active) can never overlap:
-- the exclusion constraint is the last line of defence whatever the application does.
CREATE TABLE bookings (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    instrument_id slug NOT NULL REFERENCES instruments(id),
    org_id        slug NOT NULL REFERENCES organisations(id),
    period        tstzrange NOT NULL CHECK (NOT isempty(period) AND lower(period) IS NOT NULL
                                            AND upper(period) IS NOT NULL),
    status        text NOT NULL DEFAULT 'confirmed' CHECK (status IN
                  ('confirmed', 'active', 'completed', 'cancelled', 'no_show', 'released')),
    purpose       text NOT NULL DEFAULT '',
    created_by    text REFERENCES api_keys(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist
        (instrument_id WITH =, period WITH &&) WHERE (status IN ('confirmed', 'active'))
);
CREATE INDEX bookings_org_period ON bookings USING gist (org_id, period);

-- Forecast and simulation jobs: queued by the API, run by a worker, result kept.
CREATE TABLE jobs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind        text NOT NULL CHECK (kind IN ('forecast', 'simulation')),
    org_id      slug NOT NULL REFERENCES organisations(id),
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress    real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    request     jsonb NOT NULL,
    result      jsonb,
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX jobs_queued ON jobs (created_at) WHERE status = 'queued';
