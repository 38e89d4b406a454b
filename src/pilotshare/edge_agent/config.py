"""The agent's configuration (CONTRACT §5): a TOML file, or the same structs built in code.

``load_config(path)`` reads ``[agent]`` and ``[adapter]``; an unknown key, a wrong type or a
value out of range is a ``ConfigError`` whose one line names the key (``agent.batch_max_samples:
expected int >= 1, got 0``), which the command line turns into exit status 2. The structs
validate the same way when built in code (then a ``ValueError``/``msgspec`` error), so the demo
can start agents without a file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import msgspec

from pilotshare.core.contract import MetricName
from pilotshare.core.domain import InstrumentState, is_slug
from pilotshare.core.errors import ConfigError
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters.base import InterlockPolicy
from pilotshare.edge_agent.adapters.simulated import SimulatedParams

Pos = Annotated[float, msgspec.Meta(gt=0)]
NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]

ADAPTER_TYPES = ("simulated", "command", "http", "modbus", "opcua")


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[agent]``: who the agent is, where it sends, how it batches and keeps its outbox."""

    site: str
    instrument: str
    mqtt_url: str
    agent_id: str = ""  # default: "<instrument>-agent"
    sample_interval_s: Pos = 1.0
    poll_interval_s: Pos | None = None  # how often the adapter is read; default sample_interval_s
    batch_max_samples: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    batch_max_age_s: NonNeg = 5.0
    outbox_path: str = ""  # default: "<instrument>.outbox.sqlite" beside the config file
    outbox_max_samples: AtLeastOne = 10_000_000
    ack_timeout_s: Pos = 30.0
    max_inflight_batches: AtLeastOne = 32
    metrics_port: Port = 9108
    metrics_host: str = "0.0.0.0"  # noqa: S104 - Prometheus scrapes the agent from outside
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = "auto"
    session_expiry_s: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] = 86_400
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=65535)] = 30
    reconnect_min_s: Pos = 0.5
    reconnect_max_s: Pos = 30.0
    tls_ca_file: str = ""  # mqtts:// with a private CA; default: the system's CAs

    def __post_init__(self) -> None:
        for key in ("site", "instrument"):
            if not is_slug(getattr(self, key)):
                raise ValueError(f"{key}: {getattr(self, key)!r} is not a slug")
        try:
            MqttEndpoint.parse(self.mqtt_url)
        except ConfigError as exc:
            raise ValueError(f"mqtt_url: {exc}") from None
        if self.outbox_max_samples < self.batch_max_samples:
            raise ValueError("outbox_max_samples: must be at least batch_max_samples")

    @property
    def agent_name(self) -> str:
        return self.agent_id or f"{self.instrument}-agent"

    @property
    def poll_s(self) -> float:
        return self.poll_interval_s or self.sample_interval_s


class SimulatedConfig(
    SimulatedParams, frozen=True, kw_only=True, tag_field="type", tag="simulated"
):
    """``type = "simulated"``: a seed and the ``SimulatedParams`` fields, flat."""

    seed: int = 1

    def params(self) -> SimulatedParams:
        fields = msgspec.structs.asdict(self)
        fields.pop("seed")
        return SimulatedParams(**fields)


class CommandInterlock(InterlockPolicy, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[adapter.interlock]`` of ``command``: a program per switch; exit 0 confirms it."""

    lock: Annotated[list[str], msgspec.Meta(min_length=1)]
    unlock: Annotated[list[str], msgspec.Meta(min_length=1)]
    timeout_s: Pos = 10.0


class CommandConfig(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag_field="type",
    tag="command",
):
    """``type = "command"``: a program run once per sample."""

    command: Annotated[list[str], msgspec.Meta(min_length=1)]
    timeout_s: Pos = 10.0
    interlock: CommandInterlock | None = None


class HttpInterlock(InterlockPolicy, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[adapter.interlock]`` of ``http``: one request per switch; a 2xx answer confirms it.

    An empty body sends the command itself (``{"v":1,"cmd":"lock",…}``) as JSON.
    """

    url: str
    method: Literal["POST", "PUT"] = "POST"
    lock_body: str = ""
    unlock_body: str = ""
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_s: Pos = 5.0


class HttpConfig(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag_field="type",
    tag="http",
):
    """``type = "http"``: a JSON endpoint polled per sample, fields picked by JSON pointer."""

    url: str
    state: str = "/state"
    state_map: dict[str, InstrumentState] = {}
    utilization: str = ""
    utilization_scale: float = 1.0
    metrics: dict[MetricName, str] = {}
    headers: dict[str, str] = {}
    timeout_s: Pos = 5.0
    interlock: HttpInterlock | None = None


class ModbusPoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One value in a Modbus device: where it is and how to read it."""

    address: Annotated[int, msgspec.Meta(ge=0, le=65535)]
    table: Literal["holding", "input"] = "holding"
    type: Literal["uint16", "int16", "uint32", "int32", "float32"] = "uint16"
    scale: float = 1.0
    word_order: Literal["big", "little"] = "big"


Word = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class ModbusInterlock(InterlockPolicy, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[adapter.interlock]`` of ``modbus``: a coil or holding register written per switch
    and read back to confirm it."""

    table: Literal["coil", "holding"] = "coil"
    address: Word
    lock: Word = 1
    unlock: Word = 0

    def __post_init__(self) -> None:
        if self.table == "coil" and not {self.lock, self.unlock} <= {0, 1}:
            raise ValueError("lock: a coil takes 0 or 1 (lock and unlock)")
        if self.lock == self.unlock:
            raise ValueError("unlock: must differ from lock, or the switch cannot be read back")


class ModbusConfig(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag_field="type",
    tag="modbus",
):
    """``type = "modbus"``: registers of a Modbus TCP device mapped to state and metrics."""

    host: str
    port: Port = 502
    unit: Annotated[int, msgspec.Meta(ge=0, le=255)] = 1
    timeout_s: Pos = 3.0
    state: ModbusPoint
    state_map: dict[str, InstrumentState]
    utilization: ModbusPoint | None = None
    metrics: dict[MetricName, ModbusPoint] = {}
    interlock: ModbusInterlock | None = None


#: An OPC UA node by id (``ns=2;i=7``, ``ns=2;s=Oven.State``, ``i=2258``,
#: ``nsu=urn:plc;s=State``) or by browse path from the Root folder (``0:Objects/2:Oven/2:State``).
_NODE_ID = re.compile(r"^(?:(?:ns=\d+|nsu=[^;]+);)?[isgb]=.+$")
_BROWSE_PATH = re.compile(r"^/?\d+:[^/]+(?:/\d+:[^/]+)*$")
OpcUaNode = Annotated[str, msgspec.Meta(min_length=1)]
#: A value written to a node or passed to a method.
OpcUaValue = bool | int | float | str


def is_node_id(value: str) -> bool:
    """Whether ``value`` names a node by id (else it is a browse path)."""
    return _NODE_ID.match(value) is not None


def check_node(value: str, what: str) -> None:
    """``ValueError`` naming ``what`` unless ``value`` is a node id or a browse path."""
    if not (is_node_id(value) or _BROWSE_PATH.match(value)):
        raise ValueError(
            f"{what}: {value!r} is neither a node id (ns=2;i=7, ns=2;s=Oven.State) nor a "
            "browse path (0:Objects/2:Oven/2:State)"
        )


class OpcUaInterlock(InterlockPolicy, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[adapter.interlock]`` of ``opcua``: what ``lock``/``unlock`` do on the server, and the
    read-back; the fail-safe keys come from ``InterlockPolicy``, as for the other adapters.

    Either ``node`` is written (``lock_value``/``unlock_value``, converted to the node's data
    type) or ``method`` is called (``lock_args``/``unlock_args``, on ``object``, by default the
    method's parent). ``confirm`` is read back afterwards and must equal ``lock_value`` or
    ``unlock_value``; it defaults to ``node``, and a method without it is confirmed by its
    status alone.
    """

    node: str = ""
    method: str = ""
    object: str = ""
    lock_value: OpcUaValue = True
    unlock_value: OpcUaValue = False
    lock_args: list[OpcUaValue] = msgspec.field(default_factory=list)
    unlock_args: list[OpcUaValue] = msgspec.field(default_factory=list)
    confirm: str = ""

    def __post_init__(self) -> None:
        if bool(self.node) == bool(self.method):
            raise ValueError("node: set either node (written) or method (called)")
        for key in ("node", "method", "object", "confirm"):
            if getattr(self, key):
                check_node(getattr(self, key), key)
        if self.node and (self.lock_args or self.unlock_args or self.object):
            raise ValueError("method: lock_args, unlock_args and object go with method")

    @property
    def confirm_node(self) -> str:
        """The node read back after a lock or unlock ("": the method's status is enough)."""
        return self.confirm or self.node


SecurityPolicy = Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"]


class OpcUaConfig(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag_field="type",
    tag="opcua",
):
    """``type = "opcua"``: nodes of an OPC UA server mapped to state, utilisation and metrics.

    Read by subscription (data-change notifications; ``read = "poll"`` or a server that
    refuses subscriptions: one Read request per sample). ``state_map`` maps the machine's own
    values (numbers or strings) to our states, before the PackML defaults of
    ``state_defaults = "packml"``. Files (certificates, keys) are taken from the config
    file's directory when relative.
    """

    endpoint: str
    state: OpcUaNode
    state_map: dict[str, InstrumentState] = {}
    state_defaults: Literal["packml", "none"] = "packml"
    utilization: str = ""
    utilization_scale: float = 1.0
    metrics: Annotated[dict[MetricName, OpcUaNode], msgspec.Meta(max_length=64)] = {}
    read: Literal["subscribe", "poll"] = "subscribe"
    publishing_interval_s: Annotated[float, msgspec.Meta(ge=0)] = 0.25
    timeout_s: Pos = 5.0
    watchdog_s: Pos = 2.0
    reconnect_min_s: Pos = 1.0
    reconnect_max_s: Pos = 30.0
    security_policy: SecurityPolicy = "None"
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] | None = None
    certificate: str = ""
    private_key: str = ""
    private_key_password: str = ""
    server_certificate: str = ""
    application_uri: str = ""
    username: str = ""
    password: str = ""
    user_certificate: str = ""
    user_private_key: str = ""
    interlock: OpcUaInterlock | None = None

    def __post_init__(self) -> None:
        if not self.endpoint.startswith("opc.tcp://"):
            raise ValueError(f"endpoint: {self.endpoint!r} is not an opc.tcp:// URL")
        check_node(self.state, "state")
        if self.utilization:
            check_node(self.utilization, "utilization")
        for name, node in self.metrics.items():
            check_node(node, f"metrics.{name}")
        if (self.security_policy == "None") != (self.mode == "None"):
            raise ValueError(
                "security_mode: must be None with security_policy None, and Sign or "
                "SignAndEncrypt with any other policy"
            )
        if self.security_policy != "None" and not (self.certificate and self.private_key):
            raise ValueError(
                f"certificate: security_policy {self.security_policy} needs the agent's "
                "certificate and private_key"
            )
        if bool(self.certificate) != bool(self.private_key):
            raise ValueError("private_key: certificate and private_key go together")
        if bool(self.user_certificate) != bool(self.user_private_key):
            raise ValueError("user_private_key: user_certificate and user_private_key go together")
        if self.username and self.user_certificate:
            raise ValueError("username: use either username/password or user_certificate")
        if self.password and not self.username:
            raise ValueError("password: set username too")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s: must be at least reconnect_min_s")

    @property
    def mode(self) -> str:
        """The message security mode: as set, or implied by the policy."""
        if self.security_mode is not None:
            return self.security_mode
        return "None" if self.security_policy == "None" else "SignAndEncrypt"

    FILES: ClassVar[tuple[str, ...]] = (
        "certificate",
        "private_key",
        "server_certificate",
        "user_certificate",
        "user_private_key",
    )


AdapterConfig = SimulatedConfig | CommandConfig | HttpConfig | ModbusConfig | OpcUaConfig


class ConfigFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agent: AgentConfig
    adapter: AdapterConfig


_UNKNOWN = re.compile(r"Object contains unknown field `([^`]*)`")
_KEYED = re.compile(r"^([a-z_][a-z0-9_.]*): (.*)$")
_MISSING = re.compile(r"Object missing required field `([^`]*)`")


def _explain(message: str) -> str:
    """Msgspec's 'Expected `int`, got `str` - at `$.agent.x`' as 'agent.x: expected int, …'."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        text, where = message, ""
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    if m := _UNKNOWN.match(text):
        return f"{'.'.join(p for p in (path, m[1]) if p)}: unknown key"
    if m := _MISSING.match(text):
        return f"{'.'.join(p for p in (path, m[1]) if p)}: required key is missing"
    if path == "adapter.type" or (text.startswith("Invalid value") and path == "adapter"):
        return f"adapter.type: {text.lower()} (one of {', '.join(ADAPTER_TYPES)})"
    if m := _KEYED.match(text):  # our own __post_init__ checks name their key first
        return f"{'.'.join(p for p in (path, m[1]) if p)}: {m[2]}"
    return f"{path or 'config'}: {text[:1].lower()}{text[1:].replace('`', '')}"


def parse_config(raw: dict[str, object], *, base: Path) -> ConfigFile:
    """Validate a parsed TOML document; relative paths are taken from ``base``."""
    try:
        config = msgspec.convert(raw, ConfigFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc))) from None
    agent = config.agent
    outbox = Path(agent.outbox_path or f"{agent.instrument}.outbox.sqlite")
    agent = msgspec.structs.replace(agent, outbox_path=str(base / outbox))
    if agent.tls_ca_file:
        agent = msgspec.structs.replace(agent, tls_ca_file=str(base / agent.tls_ca_file))
        if not Path(agent.tls_ca_file).is_file():
            raise ConfigError(f"agent.tls_ca_file: {agent.tls_ca_file} is not a file")
    adapter = config.adapter
    if isinstance(adapter, OpcUaConfig):
        adapter = _opcua_files(adapter, base)
    return ConfigFile(agent=agent, adapter=adapter)


def _opcua_files(adapter: OpcUaConfig, base: Path) -> OpcUaConfig:
    """Certificate and key paths taken from ``base``, each an existing file."""
    paths: dict[str, str] = {}
    for key in OpcUaConfig.FILES:
        if value := getattr(adapter, key):
            path = base / value
            if not path.is_file():
                raise ConfigError(f"adapter.{key}: {path} is not a file")
            paths[key] = str(path)
    return msgspec.structs.replace(adapter, **paths)


def load_config(path: Path) -> ConfigFile:
    """Read and validate an agent TOML file; every problem is a one-line ``ConfigError``."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, base=path.resolve().parent)
