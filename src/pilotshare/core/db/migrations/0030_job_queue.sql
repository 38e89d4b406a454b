-- The job queue on `jobs` (scheduler.jobs): workers claim queued jobs with
-- FOR UPDATE SKIP LOCKED, beat while they run, and a job whose worker stopped beating is
-- queued again (at most `max attempts` times, then failed with a reason).
ALTER TABLE jobs
    ADD COLUMN worker       text,
    ADD COLUMN heartbeat_at timestamptz,
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0);

-- Claims take the oldest queued job of the kinds a worker serves.
CREATE INDEX jobs_queued_kind ON jobs (kind, created_at) WHERE status = 'queued';
-- The sweep finds running jobs whose worker went silent.
CREATE INDEX jobs_running_heartbeat ON jobs (heartbeat_at) WHERE status = 'running';
