"""Error types shared by every layer.

Two families, as in h11: ``BadInput`` is remote bad input (a malformed message, a bad
request body) that must become a clear answer to whoever sent it and never a crash;
``ConfigError`` is a local misuse (a bad setting or config file) reported once, in one line,
before anything starts.
"""

from __future__ import annotations


class PilotshareError(Exception):
    """Base of every error pilotshare raises on purpose."""


class BadInput(PilotshareError):  # noqa: N818 - the name says what it is for a caller
    """Input from outside that breaks the contract.

    ``reason`` is a short stable code (``bad_json``, ``future_ts`` …) used as a metric label
    and stored with rejects; ``detail`` is the human sentence.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(PilotshareError):
    """A setting or configuration file is wrong; the message names the key and why."""


class NotFound(PilotshareError):  # noqa: N818
    """The thing asked for does not exist (or is invisible to the caller)."""


class Conflict(PilotshareError):  # noqa: N818
    """The request conflicts with stored state (an existing id, a taken slot)."""
