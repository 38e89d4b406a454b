-- Organisations are created explicitly (POST /api/v1/organisations) with a name and a kind:
-- the network operator, a platform that owns instruments, or a client that books them.
-- Organisations that already own instruments are platforms; the rest start as clients.
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS name text;
UPDATE organisations SET name = id WHERE name IS NULL;
ALTER TABLE organisations ALTER COLUMN name SET NOT NULL;
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'client'
    CHECK (kind IN ('operator', 'platform', 'client'));
UPDATE organisations SET kind = 'platform'
    WHERE id IN (SELECT owner_org_id FROM instruments WHERE owner_org_id IS NOT NULL);

-- API keys may expire; an expired key answers 401 with its own reason (expired_key).
-- last_used_at (0001) is kept at most once a minute per key, by the key lookup itself.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;
CREATE INDEX IF NOT EXISTS api_keys_org ON api_keys (org_id) WHERE revoked_at IS NULL;
