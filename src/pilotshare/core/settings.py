"""Settings per CONTRACT §1, from the environment (and an optional TOML file).

Built once in the composition root (``pilotshare.cli``) and passed down; nothing reads the
environment at import time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pilotshare.core.domain import OFFLINE_AFTER, is_slug
from pilotshare.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """A parsed ``mqtt://user:pass@host:port`` (``mqtts://`` for TLS)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        """Parse an MQTT URL; raises ``ConfigError`` naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ConfigError(f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://")
        if not parts.hostname:
            raise ConfigError(f"MQTT URL {url!r}: no host")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"MQTT URL {url!r}: bad port") from None
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def url(self) -> str:
        """The URL again, without the password (for logs)."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


#: The figures of the open statistics the ranking may weigh, with their default weights
#: (``network.statistics.ranking``; docs/network.md). A configured set replaces these: a
#: figure it leaves out weighs 0.
RANKING_WEIGHTS: Final[dict[str, float]] = {
    "utilisation": 0.15,
    "hours_served": 0.10,
    "clients_served": 0.15,
    "on_time_share": 0.20,
    "no_show_share": 0.05,
    "cancellation_share": 0.05,
    "median_wait_hours": 0.10,
    "response_hours": 0.10,
    "voucher_redemptions": 0.10,
}


def _weights(value: Any) -> dict[str, float]:
    """``PILOTSHARE_RANKING_WEIGHTS``: a JSON object of known figures to weights >= 0, one > 0."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError('not JSON: give an object such as {"on_time_share": 1}') from None
    if not isinstance(value, dict) or not value:
        raise ValueError("a JSON object of figure names to weights")
    unknown = sorted(set(value) - set(RANKING_WEIGHTS))
    if unknown:
        raise ValueError(f"unknown figures {unknown}; known: {sorted(RANKING_WEIGHTS)}")
    out: dict[str, float] = {}
    for name, w in value.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ValueError(f"{name}: the weight must be a finite number >= 0, not {w!r}")
        out[name] = float(w)
    if not any(out.values()):
        raise ValueError("at least one weight must be above 0")
    return out


class Settings(BaseSettings):
    """Every setting of a pilotshare service; env vars are ``PILOTSHARE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PILOTSHARE_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, description="postgresql://user:pass@host:port/db; unset: embedded"
    )
    mqtt_url: str | None = Field(
        default=None, description="mqtt://user:pass@host:port; unset: embedded"
    )
    data_dir: Path = Field(default=Path(".pilotshare"), description="where embedded state lives")
    #: Which embedded broker an unset ``mqtt_url`` starts: a private Mosquitto where the
    #: binary is installed (``auto``), or always amqtt in-process; ``mosquitto`` insists.
    embedded_broker: Literal["auto", "mosquitto", "amqtt"] = "auto"
    site: str = Field(default="demo", description="the site slug of this agent or service")
    #: The network operator's organisation: its admin keys administer every organisation
    #: (create organisations, list and revoke anyone's keys).
    operator_org: str = Field(default="platform", description="the network operator's org slug")

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    #: An instrument whose agent has sent nothing for this long is offline.
    offline_after_s: float = Field(default=OFFLINE_AFTER.total_seconds(), gt=0)
    #: A booking whose instrument has not started running this long after its start is a
    #: no-show, and the rest of its slot is released.
    booking_grace_s: float = Field(default=900.0, ge=0)
    #: A run that starts this long before a booking's start already checks it in (and a
    #: check-in by hand is accepted from then); an earlier run carried over delays it.
    booking_early_s: float = Field(default=600.0, ge=0)
    #: The open statistics' ranking (docs/network.md): weights per figure, the settled
    #: bookings a platform needs in the month to be ranked, and who is published as
    #: outstanding (the top ``ranking_top`` with a score of at least ``ranking_threshold``).
    ranking_weights: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: dict(RANKING_WEIGHTS)
    )
    ranking_min_bookings: int = Field(default=10, ge=1)
    ranking_top: int = Field(default=10, ge=1)
    ranking_threshold: float = Field(default=0.6, ge=0, le=1)
    #: The utilisation a platform scores best at: below it capacity idles, above it clients
    #: queue (the score falls linearly to 0 at 0 and at 1).
    ranking_utilisation_target: float = Field(default=0.8, gt=0, lt=1)
    #: The public directory (``/api/v1/public/…``, no key): each client address may send
    #: ``public_burst`` requests at once, refilled at ``public_rate_per_min`` a minute; answers
    #: are cached this many seconds (0: no cache), which is also how stale a live status may be.
    public_rate_per_min: float = Field(default=120.0, gt=0)
    public_burst: int = Field(default=60, ge=1)
    public_cache_s: float = Field(default=5.0, ge=0, le=3600)
    #: Shared-subscription group of the ingest processes (MQTT 5 brokers only).
    ingest_group: str = "pilotshare-ingest"
    #: TimescaleDB policies (ignored on plain PostgreSQL).
    compress_after_days: int = Field(default=7, ge=1)
    retention_days: int = Field(default=730, ge=1)
    #: Rejected MQTT messages are kept this long after they first came, then deleted.
    rejects_retention_days: float = Field(default=30.0, gt=0)
    #: Mutual TLS to a Dask cluster (``--dask tls://…``): the CA that signed the cluster's
    #: certificates and this client's certificate and key, PEM (deploy/compose/dask-certs.sh).
    dask_tls_ca_file: Path | None = None
    dask_tls_cert: Path | None = None
    dask_tls_key: Path | None = None

    @field_validator("site", "operator_org")
    @classmethod
    def _site_is_slug(cls, value: str) -> str:
        if not is_slug(value):
            raise ValueError(f"{value!r} is not a slug (^[a-z0-9][a-z0-9_-]{{0,63}}$)")
        return value

    @field_validator("ranking_weights", mode="before")
    @classmethod
    def _ranking_weights(cls, value: Any) -> dict[str, float]:
        return _weights(value)

    @field_validator("database_url")
    @classmethod
    def _pg_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return value

    @model_validator(mode="after")
    def _dask_tls_complete(self) -> Settings:
        given = [self.dask_tls_ca_file, self.dask_tls_cert, self.dask_tls_key]
        if any(given) and not all(given):
            raise ValueError(
                "PILOTSHARE_DASK_TLS_CA_FILE, PILOTSHARE_DASK_TLS_CERT and "
                "PILOTSHARE_DASK_TLS_KEY go together: set all three or none"
            )
        return self

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                MqttEndpoint.parse(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value is a one-line ``ConfigError``."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "PILOTSHARE_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(f"{key}: {first['msg']}") from None
