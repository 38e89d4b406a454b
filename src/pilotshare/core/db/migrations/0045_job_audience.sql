-- A job may be shared: besides the organisation that owns it (org_id), each organisation in
-- `audience` may see it, and of its result only its own bookings (api.job_views). The risk
-- watch shares the forecast it queues when an instrument goes down with every organisation
-- holding an affected booking.
ALTER TABLE jobs ADD COLUMN audience text[] NOT NULL DEFAULT '{}';
CREATE INDEX jobs_audience ON jobs USING gin (audience);

-- A job that finishes (done or failed) is announced on job_changes; the API's event streams
-- read a finished forecast back and tell each of its organisations of their bookings at risk.
CREATE FUNCTION jobs_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('job_changes', json_build_object(
        'id', NEW.id, 'kind', NEW.kind, 'status', NEW.status)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_finished AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (NEW.status IN ('done', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION jobs_finished();
