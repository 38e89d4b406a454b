"""The shared kernel: wire contract, domain types, errors and their reasons, interval
algebra, settings, clock, database access and the job queue."""
