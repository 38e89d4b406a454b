"""The suite's harness, shared by tests and benchmarks (as asyncpg ships ``_testbase``).

One way to make each thing a test needs: a scratch database (``databases``), an instrument
(``instruments``), the API in-process (``api``), a private Mosquitto (``brokers``), an MQTT
client that speaks raw bytes and a running ingest (``ingest``), the golden wire payloads
(``golden``), and the generated worlds and demand of the backtest and the allocation
benchmarks (``backtest``, ``demand``). Nothing here is a test; nothing here imports one.
"""
