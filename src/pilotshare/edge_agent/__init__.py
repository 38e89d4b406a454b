"""The edge agent: runs beside one instrument, reads it through an adapter, and delivers its
samples at least once, end to end.

``adapters`` read the instrument, ``recorder`` commits each sample to the SQLite ``outbox``,
``protocol`` (pure) decides what to seal, send, resend, forget and drop, and ``runner`` is
the MQTT side. It imports only ``core``, so it installs alone on the instrument's PC.
Public: ``adapters``, ``config`` (``AgentConfig``) and ``runner`` (``Agent``, the command's
``run_from_config``); nothing is re-exported here, so importing one part loads no other.
"""

__all__ = ["adapters", "config", "runner"]
