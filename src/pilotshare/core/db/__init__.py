"""Database access: the asyncpg pool, migrations and TimescaleDB detection."""
