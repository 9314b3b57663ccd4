"""The link against the real back office on loopback: URL + path + identity, the secondary path as fallback,
Network, a changed URL on the next connect, the HTTP CONNECT proxy, websocket pings and WS timeout, the
OCPP-reply timeout, HeartbeatInterval / HeartBeatSendAllways, the reconnect backoff, and malformed frames."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

import controller.ocpp.conn_settings as conn_settings
from controller.backoffice.server import BackOffice
from controller.clock import FakeClock
from controller.ocpp.link import FALLBACK_AFTER, HeartbeatSettings, LinkSettings, OcppLink
from tests.ocpp.link.support import ConnectProxy, Script, in_records, start_station, stop_station, until


@pytest.fixture
async def bo() -> Any:
    office = BackOffice()
    await office.start()
    yield office
    await office.stop()


async def path_recording_office(refuse_prefix: str | None = None) -> tuple[BackOffice, list[str]]:
    """A back office that records the request paths it sees and refuses (404) those under `refuse_prefix`."""
    office = BackOffice()
    paths: list[str] = []

    def process(connection: Any, request: Any) -> Any:
        paths.append(request.path)
        if refuse_prefix and request.path.startswith(refuse_prefix):
            return connection.respond(404, "no such path\n")
        return None

    office.request_hook = process
    await office.start()
    return office, paths


async def test_url_is_key_url_plus_path_plus_identity(tmp_path: Path) -> None:
    bo, paths = await path_recording_office()
    rig = await start_station(
        tmp_path, bo, url_option=False,
        config={"BackOffice-URL-wired": bo.url, "BackOffice-Path-wired": "/ocpp/16"},
    )
    try:
        assert paths == ["/ocpp/16/CP1"]
        assert rig.station.link.current_url == f"{bo.url}/ocpp/16/CP1"
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_secondary_path_after_failures(tmp_path: Path) -> None:
    bo, paths = await path_recording_office(refuse_prefix="/primary")
    rig = await start_station(
        tmp_path, bo, url_option=False,
        config={"BackOffice-URL-wired": bo.url, "BackOffice-Path-wired": "/primary",
                "BackOffice-Path-wired2": "/secondary"},
    )
    try:
        assert paths[:FALLBACK_AFTER] == ["/primary/CP1"] * FALLBACK_AFTER
        assert paths[FALLBACK_AFTER:] == ["/secondary/CP1"]
    finally:
        await stop_station(rig)
        await bo.stop()


@pytest.mark.parametrize(("network", "connects"), [("None", False), ("Wireless", False), ("Auto", True), ("Wired", True)])
async def test_network(tmp_path: Path, bo: BackOffice, network: str, connects: bool) -> None:
    rig = await start_station(tmp_path, bo, config={"Network": network}, wait_online=False)
    try:
        if connects:
            await until(lambda: rig.station.link.online, 10, "online")
        else:
            await asyncio.sleep(0.5)
            assert not rig.station.link.online and rig.station.link.connects == 0
            assert any("not connecting" in line for line in rig.trace)
    finally:
        await stop_station(rig)


async def test_changed_url_applies_after_the_reboot(tmp_path: Path, bo: BackOffice) -> None:
    """RebootRequired means it: a dropped connection comes back to the old URL, the restart goes to the new
    one (issue 9 item 15; the rule is controller/ocpp/conn_keys.py, more in tests/hostile/test_reboot_keys.py)."""
    other = BackOffice()
    await other.start()
    rig = await start_station(tmp_path, bo, url_option=False, config={"BackOffice-URL-wired": bo.url})
    try:
        res = await Script(bo, "CP1").send(call.ChangeConfiguration(key="BackOffice-URL-wired", value=other.url))
        assert res.status == "RebootRequired"
        await bo.drop("CP1")
        await bo.wait_connected("CP1")
        await until(lambda: rig.station.link.online, 10, "online again at the old URL")
        assert not other.connected("CP1")
        await stop_station(rig)
        rig = await start_station(tmp_path, bo, url_option=False)
        await other.wait_connected("CP1")
        await until(lambda: rig.station.link.online, 10, "online at the new URL after the reboot")
    finally:
        await stop_station(rig)
        await other.stop()


async def test_through_an_authenticating_connect_proxy(tmp_path: Path, bo: BackOffice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")  # the environment's proxy is never used
    proxy = ConnectProxy(auth="cp user:s3cret:x")
    await proxy.start()
    rig = await start_station(
        tmp_path, bo,
        config={"ProxyEnable": "true", "ProxyAddressAndPort": proxy.address, "ProxyUsername": "cp user",
                "ProxyPassword": "s3cret:x"},
    )
    try:
        assert proxy.requests == [f"127.0.0.1:{bo.port}"]
        assert any("via proxy http://***@" in line for line in rig.trace)  # the password is not logged
    finally:
        await stop_station(rig)
        await proxy.stop()


async def test_proxy_refusing_our_credentials(tmp_path: Path, bo: BackOffice) -> None:
    proxy = ConnectProxy(auth="user:right")
    await proxy.start()
    rig = await start_station(
        tmp_path, bo, wait_online=False,
        config={"ProxyEnable": "true", "ProxyAddressAndPort": proxy.address, "ProxyUsername": "user",
                "ProxyPassword": "wrong"},
    )
    try:
        await until(lambda: proxy.refused >= 2, 10, "refused by the proxy")
        assert not rig.station.link.online and "407" in (rig.station.link.last_error or "")
    finally:
        await stop_station(rig)
        await proxy.stop()


async def test_environment_proxy_is_ignored_when_disabled(tmp_path: Path, bo: BackOffice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
    rig = await start_station(tmp_path, bo)
    await stop_station(rig)


async def test_no_pong_within_ws_timeout_is_a_dead_link(tmp_path: Path, bo: BackOffice) -> None:
    proxy = ConnectProxy()
    await proxy.start()
    clock = FakeClock()
    rig = await start_station(
        tmp_path, bo, clock=clock,
        config={"ProxyEnable": "true", "ProxyAddressAndPort": proxy.address, "WebSocketPingInterval": "30",
                "WS timeout": "10"},
    )
    link = rig.station.link
    try:
        for n in range(1, 4):  # pings answered: the link stays (waits for each pong, not for wall time)
            await clock.advance(30)
            await until(lambda n=n: link.pongs == n, 10, f"pong {n}")
        assert link.online and link.connects == 1
        proxy.freeze()
        await clock.advance(30)
        sent_at = clock.monotonic()
        await until(lambda: link.pings == 4, 10, "the fourth ping sent")
        await until(lambda: sent_at + 10 in clock.deadlines(), 10, "the pong timer set on the fake clock")
        await clock.advance(9)
        await asyncio.sleep(0.1)
        assert link.online
        await clock.advance(1.5)
        await until(lambda: not link.online, 5, "dead link detected")
        assert any("no pong within 10 s" in line for line in rig.trace)
        proxy.cut()
        proxy.freeze(False)
        end = time.monotonic() + 30  # wall time: a loaded machine may need long for the reconnect's I/O
        while not link.online and time.monotonic() < end:
            await clock.advance(1)
            await asyncio.sleep(0.05)
        assert link.online and link.connects == 2
    finally:
        await stop_station(rig)
        await proxy.stop()


async def test_reply_timeout(tmp_path: Path, bo: BackOffice) -> None:
    proxy = ConnectProxy()
    await proxy.start()
    clock = FakeClock()
    rig = await start_station(
        tmp_path, bo, clock=clock,
        config={"ProxyEnable": "true", "ProxyAddressAndPort": proxy.address, "OCPP-reply timeout": "20"},
    )
    try:
        await asyncio.sleep(0.2)
        proxy.freeze()
        pending = asyncio.ensure_future(rig.station.link.call(call.Heartbeat()))
        await asyncio.sleep(0.1)
        await clock.advance(19)
        await asyncio.sleep(0.1)
        assert not pending.done()
        await clock.advance(1.5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pending, 2)
    finally:
        proxy.freeze(False)
        await stop_station(rig)
        await proxy.stop()


async def test_heartbeat_after_the_last_exchange_or_always(tmp_path: Path) -> None:
    office = BackOffice(heartbeat_interval=60)
    await office.start()
    clock = FakeClock()
    rig = await start_station(tmp_path, office, clock=clock)

    def beats() -> int:
        return len(in_records(office, "CP1", "Heartbeat"))

    async def at(t: float) -> None:
        await clock.advance(t)
        await asyncio.sleep(0.15)

    try:
        await asyncio.sleep(0.3)
        await at(40)
        await Script(office, "CP1").send(call.GetConfiguration(key=["HeartbeatInterval"]))  # an exchange at 40 s
        await at(30)  # 70 s: 60 s after boot, but only 30 s after the last exchange
        assert beats() == 0
        await at(31)  # 101 s: 61 s after the exchange
        await until(lambda: beats() == 1, 3, "heartbeat")
        res = await Script(office, "CP1").send(call.ChangeConfiguration(key="HeartBeatSendAllways", value="true"))
        assert res.status == "Accepted"
        await at(40)
        await Script(office, "CP1").send(call.GetConfiguration(key=["HeartbeatInterval"]))
        await at(21)  # 60 s after the last heartbeat, traffic or not
        await until(lambda: beats() == 2, 3, "heartbeat regardless of traffic")
    finally:
        await stop_station(rig)
        await office.stop()


async def test_reconnect_backoff_doubles_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    times: list[float] = []
    settings = LinkSettings(url="ws://127.0.0.1:1", identity="CP1", backoff_initial_s=1.0, backoff_max_s=16.0)

    async def online() -> None:
        return None

    def log(line: str) -> None:
        if line.startswith("back office unreachable"):  # one line per failed attempt
            times.append(clock.monotonic())

    link = OcppLink(lambda: settings, lambda i, w: None, clock, online, lambda: None, lambda i: None, log,
                    heartbeat=lambda: HeartbeatSettings(), rng=random.Random(7))
    task = asyncio.create_task(link.run())
    try:
        for k in range(1, 9):
            await until(lambda: len(times) >= k, 5, f"attempt {k}")  # noqa: B023 - evaluated at once
            await asyncio.sleep(0.05)  # let the cancelled open-timeout timer go
            deadline = clock.next_deadline()
            assert deadline is not None
            await clock.advance(deadline - clock.monotonic() + 1e-6)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        for i, gap in enumerate(gaps):
            nominal = min(16.0, 2.0**i)
            assert 0.75 * nominal - 1e-6 <= gap <= 1.25 * nominal + 1e-6, (i, gap)
        assert len(set(round(g / min(16.0, 2.0**i), 3) for i, g in enumerate(gaps))) > 1  # jittered
    finally:
        await link.stop()
        task.cancel()


async def test_malformed_frames_get_a_callerror_and_never_kill_the_link(tmp_path: Path, bo: BackOffice) -> None:
    rig = await start_station(tmp_path, bo)
    try:
        frames = [
            "this is not json",
            '{"not": "an array"}',
            '[2, "m1", "Reset"]',
            '[2, "m2", "Reset", {"type": "Bogus"}]',
            '[2, "m3", "NoSuchAction", {}]',
            '[2, "m4", "GetConfiguration", []]',
            '[2, "m5", "RemoteStopTransaction", {"transactionId": "x"}]',
            '[3, "nobody-asked", {}]',
            '[4, "short"]',
            "[]",
        ]
        for f in frames:
            await bo.send_raw("CP1", f)
        await until(lambda: len([r for r in bo.records if r.error]) >= 5, 5, "the CALLERRORs")
        errors = {r.unique_id: r.error for r in bo.records if r.direction == "result" and r.error}
        assert errors["m1"] == "FormationViolation"
        assert errors["m4"] == "FormationViolation"
        assert errors["m3"] == "NotImplemented"  # OCPP-J §4.2.3: not an OCPP 1.6 action
        assert errors["m2"] == "PropertyConstraintViolation"  # a value outside the enum (OCPP-J §4.2.3)
        assert errors["m5"] in ("FormationViolation", "TypeConstraintViolation")
        assert rig.station.link.online and rig.station.link.connects == 1
        res = await Script(bo, "CP1").send(call.GetConfiguration(key=["HeartbeatInterval"]))
        assert res.configuration_key
        assert json.dumps(errors)
    finally:
        await stop_station(rig)


def test_settings_from_keys(tmp_path: Path) -> None:
    class Config:
        values = {
            "SecurityProfile": "2", "AuthorizationKey": "00" * 16, "BackOffice-URL-wired": "ws://cs.example:9000/",
            "BackOffice-Path-wired": "ocpp", "BackOffice-Path-wired2": "/ocpp2", "Network": "Wired",
            "WebSocketPingInterval": "0", "WS timeout": "15", "OCPP-reply timeout": "45", "OCPP-send timeout": "20",
            "ProtocolVersion": "OCPP1.6", "ProxyEnable": "false", "Identity": "ID-1", "DeviceIdentity": "",
        }

        def get(self, name: str) -> str:
            return self.values[name]

        def get_int(self, name: str) -> int:
            return int(self.values[name])

        def get_bool(self, name: str) -> bool:
            return self.values[name] == "true"

    from controller.ocpp.certcheck import CS_ROOT
    from controller.ocpp.certstore import CertStore
    from tests.security.pki import make_ca

    assert not conn_settings.link_settings(Config(), tmp_path).enabled  # profile 2 needs our root: no system store
    CertStore(tmp_path).add_root(CS_ROOT, make_ca("Test CSMS Root").cert)
    s = conn_settings.link_settings(Config(), tmp_path)
    assert s.url == "wss://cs.example:9000/ocpp" and s.fallback_urls == ["wss://cs.example:9000/ocpp2"]
    assert s.identity == "ID-1" and s.basic_auth_key == "00" * 16 and s.ssl_context is not None
    assert (s.ping_interval_s, s.ping_timeout_s, s.response_timeout_s, s.open_timeout_s) == (None, 15, 45, 20)
    assert s.subprotocol == "ocpp1.6" and s.proxy is None


async def test_open_timeout_is_the_ocpp_send_timeout(tmp_path: Path) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept the TCP connection, never answer the websocket upgrade

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clock = FakeClock()
    rig = await start_station(
        tmp_path, None, url_option=False, clock=clock, wait_online=False,
        config={"BackOffice-URL-wired": f"ws://127.0.0.1:{port}", "OCPP-send timeout": "20"},
    )
    link = rig.station.link
    try:
        await until(lambda: len(held) == 1, 5, "the TCP connection")
        await clock.advance(19)
        await asyncio.sleep(0.1)
        assert link.failures == 0
        await clock.advance(1.5)
        await until(lambda: link.failures == 1, 5, "the open timeout")
        assert "TimeoutError" in (link.last_error or "")
    finally:
        await stop_station(rig)
        for w in held:
            w.close()
        server.close()
