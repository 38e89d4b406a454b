"""The ``opcua`` adapter: nodes of an OPC UA server mapped to state, utilisation and metrics.

A supervisor task owns the connection: it connects (security policy, user/password or
certificate), resolves the configured nodes (node ids or browse paths), subscribes to their
data changes (or, when ``read = "poll"`` or the server refuses subscriptions, reads them all
in one Read request per sample), and watches the session with a read of the server's state
every ``watchdog_s``. A lost connection is dropped at once and retried with backoff; until
it is back every read is an ``AdapterError``, so the samples of an outage are skipped, never
made up from the last values.

``read`` in subscription mode returns the newest notified values and touches no network, so
a low ``poll_interval_s`` costs the server nothing. The machine's state value (a number, a
string, a localized text, an enumeration) goes through ``state_map``, then the PackML
defaults (``PACKML``), then our own state words.

With ``[adapter.interlock]`` (``OpcUaInterlockAdapter``) ``lock``/``unlock`` write a node or
call a method and read the result back; the newest desired state is applied again after every
reconnect, since a restarted controller may have come back in its own default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.crypto import security_policies
from asyncua.ua.uaerrors import UaError, UaStatusCodeError
from cryptography import x509

from pilotshare.core.contract import Command, Sample
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.base import Adapter, AdapterError
from pilotshare.edge_agent.config import OpcUaConfig, OpcUaInterlock, OpcUaValue, is_node_id
from pilotshare.edge_agent.protocol import backoff_delay

log = logging.getLogger(__name__)

_S = InstrumentState
#: PackML (ISA-TR88.00.02) states by number and name, as the contract's states: producing
#: is ``running``; waiting, stopped or done is ``idle``; getting ready is ``setup``; held or
#: aborted is ``down``. Undefined (0) has no state: map it in ``state_map`` if a machine uses it.
PACKML: dict[str, InstrumentState] = {
    **dict.fromkeys(("6", "execute", "16", "completing"), _S.RUNNING),
    **dict.fromkeys(
        (
            *("2", "stopped", "4", "idle", "5", "suspended", "7", "stopping"),
            *("13", "suspending", "14", "unsuspending", "17", "complete"),
        ),
        _S.IDLE,
    ),
    **dict.fromkeys(("1", "clearing", "3", "starting", "15", "resetting"), _S.SETUP),
    **dict.fromkeys(
        ("8", "aborting", "9", "aborted", "10", "holding", "11", "held", "12", "unholding"),
        _S.DOWN,
    ),
}
_OWN = {s.value: s for s in InstrumentState}
_DEFAULT_URI = "urn:pilotshare:edge-agent"
#: How long the first notifications of a new subscription may take before reads begin.
_FIRST_VALUES_S = 5.0


class _QuietLoss(logging.Filter):
    """Drops asyncua's traceback of each publish attempt on a closed connection: the adapter
    says once that the connection is lost, and reconnects."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionError | TimeoutError)


#: asyncua's request-level chatter (granted timeouts, unencrypted channels) is not the agent's
#: news; its errors still show. Set a level on the ``asyncua`` logger to see more.
logging.getLogger("asyncua").setLevel(logging.getLogger("asyncua").level or logging.ERROR)
for _name in ("asyncua.client.ua_session", "asyncua.client.ua_session.UaSession"):
    logging.getLogger(_name).addFilter(_QuietLoss())


def describe(exc: BaseException) -> str:
    """One short line for a failure: the OPC UA status name, or the OS error."""
    if isinstance(exc, UaStatusCodeError):
        return type(exc).__name__ if type(exc) is not UaStatusCodeError else str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def state_key(value: object) -> str:
    """The ``state_map`` key of a state value: ``"6"`` for 6 or 6.0, ``"true"`` for True,
    the text of a LocalizedText, the name of a QualifiedName."""
    if isinstance(value, ua.LocalizedText):
        return value.Text or ""
    if isinstance(value, ua.QualifiedName):
        return value.Name or ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def map_state(
    value: object, state_map: dict[str, InstrumentState], *, packml: bool
) -> InstrumentState:
    """Our state for the machine's value: ``state_map`` (exact, then ignoring case), then the
    PackML defaults, then our own words; ``AdapterError`` when none knows it."""
    key = state_key(value)
    folded = key.strip().lower()
    if key in state_map:
        return state_map[key]
    for mine, state in state_map.items():
        if mine.lower() == folded:
            return state
    if packml and folded in PACKML:
        return PACKML[folded]
    if folded in _OWN:
        return _OWN[folded]
    raise AdapterError(f"state value {key[:60]!r} is not in state_map")


def _number(value: object, what: str) -> float:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise AdapterError(f"{what} is {value!r}, not a finite number")
    return float(value)


def _convert(value: OpcUaValue, kind: ua.VariantType) -> ua.Variant:
    """A configured value as a variant of the node's (or argument's) own type."""
    name = kind.name
    if name == "Boolean":
        return ua.Variant(bool(value), kind)
    if name in ("Float", "Double"):
        return ua.Variant(float(value), kind)
    if name.startswith(("Int", "UInt", "SByte", "Byte")):
        return ua.Variant(int(value), kind)
    if name == "String":
        return ua.Variant(str(value), kind)
    return ua.Variant(value)


def same(read: object, wanted: OpcUaValue) -> bool:
    """Whether a value read back is the one written (numbers compared as numbers)."""
    if isinstance(read, Enum):
        read = read.value
    if isinstance(read, str) or isinstance(wanted, str):
        return str(read) == str(wanted)
    if isinstance(read, bool | int | float):
        return math.isclose(float(read), float(wanted), rel_tol=1e-6, abs_tol=1e-9)
    return False


def _application_uri(path: str) -> str:
    """The URI in a certificate's subjectAltName: a server checks the client's against it."""
    data = Path(path).read_bytes()  # once per connect, a few kB
    try:
        cert = x509.load_der_x509_certificate(data)
    except ValueError:
        cert = x509.load_pem_x509_certificate(data)
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
        if uris:
            return uris[0]
    return _DEFAULT_URI


class _Notified:
    """asyncua's subscription handler: the newest value of each node, and loss of the link."""

    def __init__(self, nodes: set[ua.NodeId], lost: asyncio.Event) -> None:
        self.nodes = nodes
        self.lost = lost
        self.values: dict[ua.NodeId, ua.DataValue] = {}
        self.complete = asyncio.Event()
        self.count = 0

    def datachange_notification(self, node: Node, val: object, data: Any) -> None:  # noqa: ARG002
        self.values[node.nodeid] = data.monitored_item.Value
        self.count += 1
        if len(self.values) == len(self.nodes):
            self.complete.set()

    def status_change_notification(self, status: Any) -> None:
        code = getattr(status, "Status", status)
        if isinstance(code, ua.StatusCode) and not code.is_good():
            self.lost.set()


class OpcUaAdapter(Adapter):
    """Reads an OPC UA server by subscription (or polling); see the module docstring."""

    def __init__(self, config: OpcUaConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        paths = [config.state, config.utilization, *config.metrics.values()]
        self._paths = [p for p in paths if p]
        self._client: Client | None = None
        self._nodes: list[Node] = []
        self._notified: _Notified | None = None
        self._subscribed = False
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._why = f"connecting to {config.endpoint}"
        self.connects = 0  # successful connections, for tests and the benchmark

    # -- what the runner calls -----------------------------------------------------------------

    @property
    def subscribed(self) -> bool:
        """Whether values come by subscription now (False: polled, or not connected)."""
        return self._connected.is_set() and self._subscribed

    @property
    def notifications(self) -> int:
        """Data-change notifications received on the current connection."""
        return self._notified.count if self._notified is not None else 0

    async def read(self, now: datetime) -> Sample:
        self._start()
        client = self._client
        if not self._connected.is_set() or client is None:
            raise AdapterError(self._why)
        if self._notified is not None:
            values = [self._notified.values[node.nodeid] for node in self._nodes]
        else:
            try:
                values = await asyncio.wait_for(
                    client.read_attributes(self._nodes), self.config.timeout_s
                )
            except (OSError, TimeoutError, UaError) as exc:
                self._lost.set()
                raise AdapterError(f"reading {self.config.endpoint}: {describe(exc)}") from None
        return self._sample(now, values)

    async def wait_connected(self, seconds: float) -> bool:
        """Start connecting (if not yet) and wait up to ``seconds`` for a connection."""
        self._start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), seconds)
        return self._connected.is_set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    # -- values --------------------------------------------------------------------------------

    def _sample(self, now: datetime, values: Sequence[ua.DataValue]) -> Sample:
        cfg = self.config
        raw = [self._value(path, dv) for path, dv in zip(self._paths, values, strict=True)]
        state = map_state(raw[0], cfg.state_map, packml=cfg.state_defaults == "packml")
        rest = iter(raw[1:])
        utilization = None
        if cfg.utilization:
            value = _number(next(rest), "utilization") * cfg.utilization_scale
            utilization = min(1.0, max(0.0, value))
        metrics = {name: _number(next(rest), name) for name in cfg.metrics}
        return Sample(ts=now, state=state, utilization=utilization, metrics=metrics)

    @staticmethod
    def _value(path: str, dv: ua.DataValue) -> object:
        status = dv.StatusCode
        if status is not None and not status.is_good():
            raise AdapterError(f"node {path}: {status.name}")
        return None if dv.Value is None else dv.Value.Value

    # -- the connection ------------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="opcua-supervisor")

    async def _supervise(self) -> None:
        """Connect, watch, and after a loss drop everything and connect again with backoff."""
        cfg = self.config
        attempt = 0
        said: str | None = None
        while True:
            try:
                await asyncio.wait_for(self._connect(), cfg.timeout_s + _FIRST_VALUES_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: say why, retry
                await self._drop()
                self._why = f"cannot connect to {cfg.endpoint}: {describe(exc)}"
                delay = backoff_delay(
                    attempt, self._rng, base=cfg.reconnect_min_s, cap=cfg.reconnect_max_s
                )
                attempt += 1
                level = logging.WARNING if self._why != said else logging.DEBUG
                log.log(level, "%s; retry in %.1f s", self._why, delay)
                said = self._why
                await asyncio.sleep(delay)
                continue
            attempt, said = 0, None
            self.connects += 1
            log.info(
                "connected to %s (security %s %s, %s)",
                cfg.endpoint,
                cfg.security_policy,
                cfg.mode,
                "subscribed" if self._subscribed else "polling",
            )
            self._connected.set()
            reason = await self._watch()
            self._connected.clear()
            self._why = f"lost the connection to {cfg.endpoint}: {reason}; reconnecting"
            log.warning("%s", self._why)
            await self._drop()
            await asyncio.sleep(
                backoff_delay(0, self._rng, base=cfg.reconnect_min_s, cap=cfg.reconnect_max_s)
            )

    async def _connect(self) -> None:
        cfg = self.config
        self._lost.clear()
        client = Client(cfg.endpoint, timeout=cfg.timeout_s)
        client.session_timeout = 600_000  # what asyncua's server grants at most anyway
        client.application_uri = cfg.application_uri or (
            _application_uri(cfg.certificate) if cfg.certificate else _DEFAULT_URI
        )
        if cfg.security_policy != "None":
            await client.set_security(
                getattr(security_policies, f"SecurityPolicy{cfg.security_policy}"),
                cfg.certificate,
                cfg.private_key,
                cfg.private_key_password or None,
                cfg.server_certificate or None,
                getattr(ua.MessageSecurityMode, cfg.mode),
            )
        if cfg.username:
            client.set_user(cfg.username)
            client.set_password(cfg.password)
        if cfg.user_certificate:
            await client.load_client_certificate(cfg.user_certificate)
            await client.load_private_key(cfg.user_private_key)  # type: ignore[arg-type]
        self._client = client
        await client.connect()
        self._nodes = [await self.node(path) for path in self._paths]
        self._notified, self._subscribed = None, False
        if cfg.read == "subscribe":
            await self._subscribe(client)
        if self._notified is None:  # polling: one read now, so a bad node fails the connect
            values = await client.read_attributes(self._nodes)
            for path, dv in zip(self._paths, values, strict=True):
                self._value(path, dv)
        await self._connected_hook()

    async def _subscribe(self, client: Client) -> None:
        """Subscribe to every node; a server refusing subscriptions leaves polling."""
        unique = list({node.nodeid: node for node in self._nodes}.values())
        notified = _Notified({node.nodeid for node in unique}, self._lost)
        interval_ms = self.config.publishing_interval_s * 1000
        try:
            subscription = await client.create_subscription(interval_ms, notified)
        except UaStatusCodeError as exc:
            log.info(
                "%s refused a subscription (%s); polling instead",
                self.config.endpoint,
                describe(exc),
            )
            return
        results = await subscription.subscribe_data_change(
            unique, queuesize=1, sampling_interval=ua.Double(interval_ms)
        )
        for node, result in zip(unique, results, strict=True):
            if isinstance(result, ua.StatusCode):
                raise AdapterError(f"node {node.nodeid.to_string()}: {result.name}")
        await asyncio.wait_for(notified.complete.wait(), _FIRST_VALUES_S)
        self._notified, self._subscribed = notified, True

    async def node(self, path: str) -> Node:
        """The node a configured node id or browse path names (browse paths translated)."""
        client = self._client
        assert client is not None  # noqa: S101 - only called while connecting
        if is_node_id(path):
            return client.get_node(path)
        parts = [p for p in path.split("/") if p]
        try:
            return await client.nodes.root.get_child(parts)
        except UaStatusCodeError as exc:
            raise AdapterError(f"browse path {path}: {describe(exc)}") from None

    async def _watch(self) -> str:
        """Wait for the connection to fail; the reason."""
        cfg = self.config
        client = self._client
        assert client is not None  # noqa: S101 - set by _connect
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), cfg.watchdog_s)
            if self._lost.is_set():
                return "the server ended the session"
            try:
                await asyncio.wait_for(client.nodes.server_state.read_value(), cfg.timeout_s)
            except (OSError, TimeoutError, UaError) as exc:
                return describe(exc)
            await self._tick()

    async def _drop(self) -> None:
        """Forget the connection and its values; close it quietly."""
        self._connected.clear()
        client, self._client = self._client, None
        self._notified, self._subscribed = None, False
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    async def _connected_hook(self) -> None:
        """Called once connected (the interlock adapter applies its desired state)."""
        return

    async def _tick(self) -> None:
        """Called every ``watchdog_s`` while connected (the interlock adapter retries)."""
        return


class OpcUaInterlockAdapter(OpcUaAdapter):
    """An OPC UA adapter that switches the interlock (``[adapter.interlock]``)."""

    def __init__(self, config: OpcUaConfig, *, rng: random.Random | None = None) -> None:
        super().__init__(config, rng=rng)
        self.switches_interlock = True
        assert config.interlock is not None  # noqa: S101 - build_adapter picks this class
        self.interlock: OpcUaInterlock = config.interlock
        self.interlock_policy = config.interlock
        self._desired: Command | None = None
        self._pending = False  # the desired state is not confirmed on this connection
        self._applying = asyncio.Lock()

    async def command(self, cmd: Command, now: datetime) -> None:  # noqa: ARG002
        """Lock or unlock on the server and confirm it; ``AdapterError`` when not done.

        The command is the desired state from now on: it is applied again after every
        reconnect, and when it fails now, once connected.
        """
        self._desired, self._pending = cmd, True
        if not await self.wait_connected(self.config.timeout_s):
            raise AdapterError(f"interlock {cmd.cmd} not applied: {self._why}")
        await self._apply(cmd)

    async def _apply(self, cmd: Command) -> None:
        async with self._applying:
            if cmd is self._desired and not self._pending:
                return  # applied meanwhile, on (re)connecting
            try:
                await asyncio.wait_for(self._switch(cmd.cmd == "lock"), self.config.timeout_s)
            except AdapterError:
                raise
            except (OSError, TimeoutError, UaError) as exc:
                raise AdapterError(f"interlock {cmd.cmd}: {describe(exc)}") from None
            if cmd is self._desired:
                self._pending = False

    async def _switch(self, lock: bool) -> None:  # noqa: FBT001
        spec = self.interlock
        wanted = spec.lock_value if lock else spec.unlock_value
        if spec.node:
            node = await self.node(spec.node)
            kind = await node.read_data_type_as_variant_type()
            await node.write_value(ua.DataValue(_convert(wanted, kind)))
        else:
            await self._call(spec.lock_args if lock else spec.unlock_args)
        if spec.confirm_node:
            got = await (await self.node(spec.confirm_node)).read_value()
            if not same(got, wanted):
                raise AdapterError(
                    f"interlock {'lock' if lock else 'unlock'}: {spec.confirm_node} reads "
                    f"{got!r} after the {'write' if spec.node else 'call'}, not {wanted!r}"
                )

    async def _call(self, args: list[OpcUaValue]) -> None:
        spec = self.interlock
        method = await self.node(spec.method)
        parent = await self.node(spec.object) if spec.object else await method.get_parent()
        if parent is None:
            raise AdapterError(f"interlock method {spec.method} has no parent: set object")
        kinds: list[ua.VariantType | None] = [None] * len(args)  # None: as Python sees it
        with contextlib.suppress(UaError):
            declared = await (await method.get_child("0:InputArguments")).read_value()
            for i, argument in enumerate(declared[: len(args)]):
                with contextlib.suppress(Exception):
                    kind = ua.datatype_to_varianttype(argument.DataType)
                    kinds[i] = kind if isinstance(kind, ua.VariantType) else None
        variants = [
            _convert(value, kind) if kind is not None else ua.Variant(value)
            for value, kind in zip(args, kinds, strict=True)
        ]
        await parent.call_method(method.nodeid, *variants)

    async def _connected_hook(self) -> None:
        if self._desired is not None:
            self._pending = True
            await self._retry()

    async def _tick(self) -> None:
        if self._pending:
            await self._retry()

    async def _retry(self) -> None:
        desired = self._desired
        if desired is None:
            return
        try:
            await self._apply(desired)
        except AdapterError as exc:
            log.warning("the desired interlock state is not applied yet: %s", exc)
            return
        log.info("interlock %s applied again on %s", desired.cmd, self.config.endpoint)


def build(config: OpcUaConfig) -> OpcUaAdapter:
    """The adapter for ``config``: one that switches the interlock when it is configured."""
    return OpcUaInterlockAdapter(config) if config.interlock is not None else OpcUaAdapter(config)
