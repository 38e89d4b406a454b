-- The example site of docker-compose.yml and the three instruments its simulated agents
-- stand beside (deploy/compose/agent-*.toml). Idempotent: run by the one-shot `register`
-- step on every `docker compose up`. Register real instruments with POST /api/v1/instruments.
INSERT INTO sites (id, name) VALUES ('pilot', 'Pilot line')
ON CONFLICT (id) DO NOTHING;

INSERT INTO instruments (id, site_id, name, kind, capabilities, hourly_rate) VALUES
    ('oven-1', 'pilot', 'Reflow oven 1', 'oven', '{reflow}', 45.00),
    ('sem-1', 'pilot', 'Scanning electron microscope 1', 'sem', '{imaging,eds}', 120.00),
    ('printer-1', 'pilot', '3D printer 1', 'printer', '{fdm}', 20.00)
ON CONFLICT (id) DO NOTHING;
