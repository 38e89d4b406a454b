"""The shared kernel: wire contract, domain types, settings, clock, errors and database."""
