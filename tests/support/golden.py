"""Loaders of the golden payloads in ``tests/contract/golden`` (see its README)."""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).parents[1] / "contract" / "golden"
#: Reject reasons that are about the topic or the registry, not the payload's bytes.
NOT_IN_PAYLOAD = frozenset({"too_large", "bad_topic", "unknown_instrument"})


def _folder(*parts: str) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(GOLDEN.joinpath(*parts).glob("*.json"))}


def valid_telemetry() -> dict[str, bytes]:
    return _folder("telemetry", "valid")


def invalid_telemetry() -> dict[str, bytes]:
    """Reason → the one message that stands for it (``<reason>.json``)."""
    return {name: raw for name, raw in _folder("telemetry", "invalid").items() if "." not in name}


def invalid_telemetry_cases() -> dict[str, bytes]:
    """Every invalid message by file stem, ``<reason>`` or ``<reason>.<case>``."""
    return _folder("telemetry", "invalid")


def reason_of(stem: str) -> str:
    """The reject reason an invalid message's file stem names."""
    return stem.partition(".")[0]


def statuses() -> dict[str, bytes]:
    return _folder("status")


def acks() -> dict[str, bytes]:
    return _folder("ack")


def commands() -> dict[str, bytes]:
    """The desired interlock states as the lifecycle publishes them, ``<cmd>[.<case>]``."""
    return _folder("cmd")


def legacy_commands() -> dict[str, bytes]:
    """Commands of a backend before CONTRACT §6 (no ``seq``), which agents still apply."""
    return _folder("cmd", "legacy")


def too_large() -> bytes:
    """A well-formed batch just over 256 KiB."""
    sample = b'{"ts":"2026-11-28T01:00:00Z","state":"running"}'
    body = b",".join([sample] * (256 * 1024 // len(sample) + 1))
    return b'{"v":1,"agent":"a","batch":1,"samples":[' + body + b"]}"
