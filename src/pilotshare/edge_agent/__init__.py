"""pilotshare."""
