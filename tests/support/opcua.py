"""An OPC UA server as a PLC would offer it: asyncua's own ``Server``, on a free port.

``Oven`` (namespace 2) holds ``State`` (Int32, a PackML state number; node id
``ns=2;s=Oven.State``), ``Mode`` (String), ``Load`` (Double, per cent), ``Power`` (Double,
``ns=2;i=7``), ``Chamber`` (Float), the interlock's ``Lock`` (Boolean, writable) and
``LockCode`` (Int16, writable), and the method ``SetLock(Boolean)`` which sets ``Locked``;
``Lock`` starts at ``lock_default``. ``restart()`` stops the server and starts a fresh one
on the same port: the values come back at their defaults, as after a controller's reboot.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asyncua import Node, Server, ua
from asyncua.common.methods import uamethod
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import CertificateUserManager
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from pilotshare.core.embedded import free_port

NS = 2
STATE = "ns=2;s=Oven.State"
POWER = "ns=2;i=7"
LOAD = "0:Objects/2:Oven/2:Load"
CHAMBER = "ns=2;s=Oven.Chamber"
MODE = "ns=2;s=Oven.Mode"
LOCK = "ns=2;s=Oven.Lock"
LOCK_CODE = "ns=2;s=Oven.LockCode"
LOCKED = "ns=2;s=Oven.Locked"
SET_LOCK = "0:Objects/2:Oven/2:SetLock"


@dataclass(frozen=True)
class Pki:
    """A self-signed certificate and key (DER certificate, PEM key) and its application URI."""

    cert: Path
    key: Path
    uri: str


def make_pki(directory: Path, name: str, *, server: bool) -> Pki:
    """A fresh key and self-signed application certificate, as OPC UA wants them: the
    application URI and the host in subjectAltName, client or server auth."""
    key = cert_gen.generate_private_key()
    uri = f"urn:pilotshare:test:{name}"
    host = socket.gethostname()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        uri,
        {"commonName": name, "organizationName": "pilotshare tests"},
        [
            x509.UniformResourceIdentifier(uri),
            x509.DNSName(host),
            x509.DNSName("localhost"),
        ],
        extended=[ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH],
        days=30,
    )
    paths = Pki(directory / f"{name}.der", directory / f"{name}.pem", uri)
    paths.cert.write_bytes(cert.public_bytes(Encoding.DER))
    paths.key.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return paths


class PasswordUsers:
    """A user manager that knows one user name and password."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def get_user(
        self,
        iserver: Any,  # noqa: ARG002 - asyncua's interface
        username: str | None = None,
        password: str | None = None,
        **_: Any,
    ) -> User | None:
        if username == self.username and password == self.password:
            return User(role=UserRole.User, name=username)
        return None


@dataclass
class Plc:
    """One running test server and what its clients did to it."""

    port: int
    users: PasswordUsers | None = None
    pki: Pki | None = None
    user_cert: Path | None = None
    max_subscriptions: int | None = None
    lock_default: bool = False
    server: Server | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    calls: list[bool] = field(default_factory=list)
    starts: int = 0

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/pilotshare/"

    async def start(self) -> None:
        user_manager: Any = self.users
        if self.user_cert is not None:
            user_manager = CertificateUserManager()
            await user_manager.add_user(self.user_cert, name="agent")
        server = Server(user_manager=user_manager)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("pilotshare test PLC")
        if self.pki is not None:
            await server.load_certificate(str(self.pki.cert))
            await server.load_private_key(str(self.pki.key))
            await server.set_application_uri(self.pki.uri)
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                ]
            )
        tokens: list[type] = [ua.AnonymousIdentityToken]
        if self.users is not None:
            tokens = [ua.UserNameIdentityToken]
        if self.user_cert is not None:
            tokens = [ua.X509IdentityToken]
        server.set_identity_tokens(tokens)
        if self.max_subscriptions is not None:
            server.iserver.max_subscriptions = self.max_subscriptions
        await self._address_space(server)
        await server.start()
        self.server = server
        self.starts += 1

    async def _address_space(self, server: Server) -> None:
        idx = await server.register_namespace("urn:pilotshare:test:oven")
        assert idx == NS
        oven = await server.nodes.objects.add_object(ua.NodeId("Oven", idx), "2:Oven")

        async def var(nodeid: ua.NodeId, name: str, value: Any, kind: ua.VariantType) -> Node:
            node = await oven.add_variable(
                nodeid, ua.QualifiedName(name, idx), ua.Variant(value, kind)
            )
            self.nodes[name] = node
            return node

        await var(ua.NodeId("Oven.State", idx), "State", 6, ua.VariantType.Int32)
        await var(ua.NodeId("Oven.Mode", idx), "Mode", "Running", ua.VariantType.String)
        await var(ua.NodeId(3, idx), "Load", 83.0, ua.VariantType.Double)
        await var(ua.NodeId(7, idx), "Power", 1512.5, ua.VariantType.Double)
        await var(ua.NodeId("Oven.Chamber", idx), "Chamber", 240.5, ua.VariantType.Float)
        lock = await var(
            ua.NodeId("Oven.Lock", idx), "Lock", self.lock_default, ua.VariantType.Boolean
        )
        code = await var(ua.NodeId("Oven.LockCode", idx), "LockCode", 0, ua.VariantType.Int16)
        locked = await var(ua.NodeId("Oven.Locked", idx), "Locked", False, ua.VariantType.Boolean)
        await lock.set_writable()
        await code.set_writable()

        @uamethod
        async def set_lock(parent: ua.NodeId, value: bool) -> bool:
            self.calls.append(value)
            await locked.write_value(ua.Variant(value, ua.VariantType.Boolean))
            return True

        await oven.add_method(
            ua.NodeId("Oven.SetLock", idx),
            ua.QualifiedName("SetLock", idx),
            set_lock,
            [ua.VariantType.Boolean],
            [ua.VariantType.Boolean],
        )

    async def stop(self) -> None:
        server, self.server = self.server, None
        self.nodes = {}
        if server is not None:
            await server.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def set(self, name: str, value: Any) -> None:
        """The machine changes a value (in its node's own type)."""
        node = self.nodes[name]
        kind = await node.read_data_type_as_variant_type()
        await node.write_value(ua.Variant(value, kind))

    async def get(self, name: str) -> Any:
        return await self.nodes[name].read_value()


@contextlib.asynccontextmanager
async def running_plc(**options: Any) -> AsyncIterator[Plc]:
    """A ``Plc`` started on a free port for the block, stopped after it."""
    plc = Plc(port=free_port(), **options)
    await plc.start()
    try:
        yield plc
    finally:
        await plc.stop()


def soon(seconds: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
