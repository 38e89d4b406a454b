"""The ``opcua`` adapter against asyncua's own server, started in the test on a free port:
subscription and polling, state mapping, user/password and Basic256Sha256 servers, a restart
of the server on the same port, and the interlock confirmed on the server's side."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pilotshare.core.contract import Command, Sample, encode
from pilotshare.core.domain import InstrumentState
from pilotshare.core.embedded import free_port
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import AdapterError, build_adapter
from pilotshare.edge_agent.adapters.opcua import OpcUaAdapter, OpcUaInterlockAdapter
from pilotshare.edge_agent.config import OpcUaConfig, OpcUaInterlock
from tests.support.agents import interlock_agent, reported_interlocks
from tests.support.ingest import raw_client, topic, wait_for
from tests.support.opcua import (
    CHAMBER,
    LOAD,
    LOCK,
    LOCK_CODE,
    LOCKED,
    MODE,
    POWER,
    SET_LOCK,
    STATE,
    PasswordUsers,
    Plc,
    make_pki,
    running_plc,
)

pytestmark = pytest.mark.timeout(120)
S = InstrumentState


def now() -> datetime:
    return datetime.now(UTC)


def oven(endpoint: str, **options: Any) -> OpcUaConfig:
    """The test PLC's oven: state by node id, load by browse path, two metrics."""
    fields: dict[str, Any] = {
        "endpoint": endpoint,
        "state": STATE,
        "utilization": LOAD,
        "utilization_scale": 0.01,
        "metrics": {"power_w": POWER, "chamber_c": CHAMBER},
        "publishing_interval_s": 0.05,
        "timeout_s": 3.0,
        "watchdog_s": 0.5,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
    }
    fields.update(options)
    return OpcUaConfig(**fields)


def adapter_for(config: OpcUaConfig) -> OpcUaAdapter:
    adapter = build_adapter(config, now=now())
    assert isinstance(adapter, OpcUaAdapter)
    return adapter


async def eventually(read: Callable[[], Awaitable[Sample]], ok: Callable[[Sample], bool]) -> Sample:
    """The first sample ``ok`` accepts within 10 s (reads failing meanwhile are retried)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            sample = await read()
            if ok(sample):
                return sample
        except AdapterError:
            pass
        assert time.monotonic() < deadline, "no such sample within 10 s"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("read", ["subscribe", "poll"])
async def test_reads_state_utilisation_and_metrics(read: str) -> None:
    async with running_plc() as plc:
        adapter = adapter_for(oven(plc.endpoint, read=read))
        try:
            assert await adapter.wait_connected(10)
            assert adapter.subscribed is (read == "subscribe")
            sample = await adapter.read(now())
            assert sample.state is S.RUNNING  # PackML 6, Execute
            assert sample.utilization == pytest.approx(0.83)
            assert sample.metrics == pytest.approx({"power_w": 1512.5, "chamber_c": 240.5})
            await plc.set("State", 11)  # Held
            await plc.set("Power", 48.0)
            changed = await eventually(
                lambda: adapter.read(now()),
                lambda s: s.state is S.DOWN and s.metrics["power_w"] == 48,
            )
            assert changed.utilization == pytest.approx(0.83)
            if read == "subscribe":
                assert adapter.notifications >= 6  # four first values and the two changes
        finally:
            await adapter.aclose()


async def test_a_server_refusing_subscriptions_is_polled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pilotshare.edge_agent.adapters.opcua")
    async with running_plc(max_subscriptions=0) as plc:
        adapter = adapter_for(oven(plc.endpoint))
        try:
            assert await adapter.wait_connected(10)
            assert not adapter.subscribed
            assert (
                "refused a subscription (BadTooManySubscriptions); polling instead" in caplog.text
            )
            await plc.set("State", 4)
            assert (await adapter.read(now())).state is S.IDLE
        finally:
            await adapter.aclose()


async def test_the_machines_own_values_are_mapped() -> None:
    async with running_plc() as plc:
        by_word = adapter_for(
            oven(
                plc.endpoint,
                state=MODE,
                state_map={"Running": S.RUNNING, "Changeover": S.SETUP, "PM": S.MAINTENANCE},
            )
        )
        own = adapter_for(
            oven(plc.endpoint, state_map={"6": S.SETUP, "99": S.DOWN}, state_defaults="none")
        )
        try:
            for adapter in (by_word, own):
                assert await adapter.wait_connected(10)
            assert (await by_word.read(now())).state is S.RUNNING
            for word, state in (("changeover", S.SETUP), ("PM", S.MAINTENANCE), ("Held", S.DOWN)):
                await plc.set("Mode", word)  # case folded; PackML names as defaults
                await eventually(lambda: by_word.read(now()), lambda s, st=state: s.state is st)
            await plc.set("Mode", "idle")  # our own words need no entry
            await eventually(lambda: by_word.read(now()), lambda s: s.state is S.IDLE)
            await plc.set("Mode", "Warp drive")
            await asyncio.sleep(0.3)
            with pytest.raises(AdapterError, match="'Warp drive' is not in state_map"):
                await by_word.read(now())
            # the map wins over PackML, and without the defaults PackML numbers are unknown
            assert (await own.read(now())).state is S.SETUP
            await plc.set("State", 4)
            await asyncio.sleep(0.3)
            with pytest.raises(AdapterError, match="'4' is not in state_map"):
                await own.read(now())
        finally:
            await by_word.aclose()
            await own.aclose()


async def test_an_unknown_node_is_an_adapter_error_that_names_it() -> None:
    async with running_plc() as plc:
        for bad, why in (("ns=2;i=999", "BadNodeIdUnknown"), ("0:Objects/2:Oven/2:Nope", "Nope")):
            adapter = adapter_for(oven(plc.endpoint, metrics={"power_w": bad}))
            try:
                assert not await adapter.wait_connected(1.5)
                with pytest.raises(AdapterError, match=why):
                    await adapter.read(now())
            finally:
                await adapter.aclose()


async def test_username_and_password() -> None:
    async with running_plc(users=PasswordUsers("agent", "s3cret")) as plc:
        good = adapter_for(oven(plc.endpoint, username="agent", password="s3cret"))
        wrong = adapter_for(oven(plc.endpoint, username="agent", password="guess"))
        anonymous = adapter_for(oven(plc.endpoint))
        try:
            assert await good.wait_connected(10)
            assert (await good.read(now())).state is S.RUNNING
            for refused in (wrong, anonymous):
                assert not await refused.wait_connected(1.5)
                with pytest.raises(AdapterError, match="cannot connect"):
                    await refused.read(now())
        finally:
            for adapter in (good, wrong, anonymous):
                await adapter.aclose()


@pytest.mark.parametrize("mode", ["SignAndEncrypt", "Sign"])
async def test_basic256sha256_with_generated_certificates(tmp_path: Path, mode: str) -> None:
    server = make_pki(tmp_path, "plc", server=True)
    agent = make_pki(tmp_path, "agent", server=False)
    secure = {
        "security_policy": "Basic256Sha256",
        "security_mode": mode,
        "certificate": str(agent.cert),
        "private_key": str(agent.key),
    }
    async with running_plc(pki=server, users=PasswordUsers("agent", "s3cret")) as plc:
        pinned = adapter_for(
            oven(
                plc.endpoint,
                **secure,
                server_certificate=str(server.cert),
                username="agent",
                password="s3cret",
            )
        )
        plain = adapter_for(oven(plc.endpoint, username="agent", password="s3cret"))
        try:
            assert await pinned.wait_connected(15)
            assert (await pinned.read(now())).state is S.RUNNING
            client = pinned._client
            assert client is not None
            assert client.security_policy.Mode.name == mode
            assert client.application_uri == agent.uri  # taken from the certificate
            # the server offers no unsecured endpoint
            assert not await plain.wait_connected(1.5)
        finally:
            await pinned.aclose()
            await plain.aclose()


async def test_a_user_certificate_authenticates(tmp_path: Path) -> None:
    server = make_pki(tmp_path, "plc", server=True)
    agent = make_pki(tmp_path, "agent", server=False)
    other = make_pki(tmp_path, "other", server=False)

    def config(user: Any) -> OpcUaConfig:
        return oven(
            plc.endpoint,
            security_policy="Basic256Sha256",
            certificate=str(agent.cert),
            private_key=str(agent.key),
            user_certificate=str(user.cert),
            user_private_key=str(user.key),
        )

    async with running_plc(pki=server, user_cert=agent.cert) as plc:
        known, unknown = adapter_for(config(agent)), adapter_for(config(other))
        try:
            assert await known.wait_connected(15)
            assert (await known.read(now())).state is S.RUNNING
            assert not await unknown.wait_connected(2)
            with pytest.raises(AdapterError, match="BadUserAccessDenied"):
                await unknown.read(now())
        finally:
            await known.aclose()
            await unknown.aclose()


@pytest.mark.parametrize("read", ["subscribe", "poll"])
async def test_reconnects_after_the_server_restarts_and_invents_nothing(read: str) -> None:
    async with running_plc() as plc:
        adapter = adapter_for(oven(plc.endpoint, read=read))
        try:
            assert await adapter.wait_connected(10)
            await plc.set("State", 17)
            await eventually(lambda: adapter.read(now()), lambda s: s.state is S.IDLE)
            await plc.stop()
            # while it is down, no sample is made up from the last values
            await eventually_fails(adapter)
            for _ in range(5):
                with pytest.raises(AdapterError, match=re.escape(plc.endpoint)):
                    await adapter.read(now())
                await asyncio.sleep(0.2)
            await plc.start()  # same port, values back at their defaults
            sample = await eventually(lambda: adapter.read(now()), lambda _: True)
            assert sample.state is S.RUNNING
            assert adapter.connects == 2
            assert adapter.subscribed is (read == "subscribe")
            await plc.set("State", 9)
            await eventually(lambda: adapter.read(now()), lambda s: s.state is S.DOWN)
        finally:
            await adapter.aclose()


async def eventually_fails(adapter: OpcUaAdapter) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            await adapter.read(now())
        except AdapterError:
            return
        assert time.monotonic() < deadline, "the adapter kept reading a stopped server"
        await asyncio.sleep(0.05)


async def test_a_server_not_there_at_start_is_waited_for() -> None:
    plc = Plc(port=free_port())
    adapter = adapter_for(oven(plc.endpoint))
    try:
        deadline = time.monotonic() + 10
        while True:  # "connecting to …" first, then why it cannot
            with pytest.raises(AdapterError) as err:
                await adapter.read(now())
            if "cannot connect" in str(err.value):
                break
            assert time.monotonic() < deadline, str(err.value)
            await asyncio.sleep(0.05)
        await plc.start()
        assert (await eventually(lambda: adapter.read(now()), lambda _: True)).state is S.RUNNING
    finally:
        await adapter.aclose()
        await plc.stop()


def interlocked(plc: Plc, **interlock: Any) -> OpcUaInterlockAdapter:
    adapter = adapter_for(oven(plc.endpoint, interlock=OpcUaInterlock(**interlock)))
    assert isinstance(adapter, OpcUaInterlockAdapter)
    assert adapter.switches_interlock
    return adapter


def cmd(what: str, seq: int) -> Command:
    return msgspec.convert({"cmd": what, "seq": seq}, Command)


async def test_the_interlock_writes_a_node_and_reads_it_back() -> None:
    async with running_plc() as plc:
        boolean = interlocked(plc, node=LOCK)
        code = interlocked(plc, node=LOCK_CODE, lock_value=2, unlock_value=0)
        try:
            await boolean.command(cmd("lock", 1), now())
            assert await plc.get("Lock") is True
            await boolean.command(cmd("unlock", 2), now())
            assert await plc.get("Lock") is False
            # the configured number is written in the node's own type (Int16 here)
            await code.command(cmd("lock", 1), now())
            assert await plc.get("LockCode") == 2
            await code.command(cmd("unlock", 2), now())
            assert await plc.get("LockCode") == 0
        finally:
            await boolean.aclose()
            await code.aclose()


async def test_the_interlock_calls_a_method_and_reads_it_back() -> None:
    async with running_plc() as plc:
        adapter = interlocked(
            plc, method=SET_LOCK, lock_args=[True], unlock_args=[False], confirm=LOCKED
        )
        try:
            await adapter.command(cmd("lock", 1), now())
            assert plc.calls == [True]
            assert await plc.get("Locked") is True
            await adapter.command(cmd("unlock", 2), now())
            assert plc.calls == [True, False]
            assert await plc.get("Locked") is False
        finally:
            await adapter.aclose()


async def test_an_interlock_that_does_not_take_is_an_error() -> None:
    async with running_plc() as plc:
        # written to one node, read back from another that does not follow it
        adapter = interlocked(plc, node=LOCK, confirm=LOCKED)
        try:
            with pytest.raises(AdapterError, match="reads False after the write, not True"):
                await adapter.command(cmd("lock", 1), now())
        finally:
            await adapter.aclose()
        gone = interlocked(Plc(port=free_port()), node=LOCK)
        try:
            with pytest.raises(AdapterError, match=r"interlock lock not applied: cannot connect"):
                await gone.command(cmd("lock", 1), now())
        finally:
            await gone.aclose()


async def test_the_desired_interlock_is_applied_again_after_a_server_restart() -> None:
    async with running_plc() as plc:
        adapter = interlocked(plc, node=LOCK)
        try:
            await adapter.command(cmd("lock", 1), now())
            assert await plc.get("Lock") is True
            await plc.restart()  # the controller comes back unlocked, its own default
            deadline = time.monotonic() + 10
            while not (plc.nodes and await plc.get("Lock") is True):
                assert time.monotonic() < deadline, "the lock was not applied again"
                await asyncio.sleep(0.05)
            assert adapter.connects == 2
        finally:
            await adapter.aclose()


async def test_the_fail_safe_locks_the_node_when_no_desired_state_comes(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    """``on_start``/``start_wait_s``/``retry_s`` as for the other adapters: no desired state
    after the wait locks the node (reported with no seq); a later unlock is applied."""
    async with running_plc() as plc, raw_client(mqtt_endpoint) as backend:
        await backend.subscribe(topic(site, "oven-1", "status"))
        adapter = interlocked(plc, node=LOCK, start_wait_s=1.0, retry_s=0.3)
        assert adapter.interlock_policy.on_start == "lock"
        runner = interlock_agent(tmp_path, site, mqtt_url, adapter)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await asyncio.wait_for(runner.connected.wait(), 10)
            assert await plc.get("Lock") is False  # nothing switched before the wait is over
            locked = {"state": "locked", "seq": None}
            await wait_for(
                lambda: _true(locked in reported_interlocks(backend.messages())), timeout=10
            )
            assert await plc.get("Lock") is True
            await backend.publish(topic(site, "oven-1", "cmd"), encode(cmd("unlock", 4)))
            unlocked = {"state": "unlocked", "seq": 4}
            await wait_for(
                lambda: _true(unlocked in reported_interlocks(backend.messages())), timeout=10
            )
            assert await plc.get("Lock") is False
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_on_start_none_leaves_the_node_alone(
    tmp_path: Path, site: str, mqtt_url: str
) -> None:
    async with running_plc() as plc:
        adapter = interlocked(plc, node=LOCK, on_start="none", start_wait_s=0.2)
        runner = interlock_agent(tmp_path, site, mqtt_url, adapter)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await asyncio.wait_for(runner.connected.wait(), 10)
            await asyncio.sleep(1.0)
            assert await plc.get("Lock") is False
            assert runner.interlock.report() is None
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def _true(value: bool) -> bool:
    return value
