"""pilotshare: backend for shared pilot-scale production lines and instrument platforms."""

__version__ = "0.1.0"
