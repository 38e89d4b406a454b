"""Loaders of the golden payloads in ``tests/contract/golden`` (see its README)."""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
#: Reject reasons that are about the topic or the registry, not the payload's bytes.
NOT_IN_PAYLOAD = frozenset({"too_large", "bad_topic", "unknown_instrument"})


def valid_telemetry() -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted((GOLDEN / "telemetry" / "valid").glob("*.json"))}


def invalid_telemetry() -> dict[str, bytes]:
    """Reason → a message rejected for it."""
    return {
        p.stem: p.read_bytes() for p in sorted((GOLDEN / "telemetry" / "invalid").glob("*.json"))
    }


def statuses() -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted((GOLDEN / "status").glob("*.json"))}


def too_large() -> bytes:
    """A well-formed batch just over 256 KiB."""
    sample = b'{"ts":"2026-11-28T01:00:00Z","state":"running"}'
    body = b",".join([sample] * (256 * 1024 // len(sample) + 1))
    return b'{"v":1,"agent":"a","batch":1,"samples":[' + body + b"]}"
