"""The bridge on its own against a real broker with passwords: the password never reaches the trace or the
logs, a bad one is a traced connection failure retried on the injected clock, and a clean stop says offline."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from board.schema import MQTT_KEYS
from controller.clock import FakeClock
from controller.mqtt.bridge import MqttBridge
from controller.mqtt.commands import RemoteCommands
from controller.mqtt.settings import MqttConfigError, MqttSettings
from tests.conftest import until
from tests.mqtt.conftest import Broker, make_broker, watching
from tests.mqtt.test_discovery import Ident
from tests.security.pki import Pki, key_pem, pem

PASSWORD = "s3cr3t-Pa55"
WRONG = "wr0ng-Pa55"


def bridge(tmp_path: Path, port: int, password: str | None, trace: list[str], clock: FakeClock,
           **more: object) -> MqttBridge:
    section: dict[str, object] = {"enabled": True, "host": "127.0.0.1", "port": port, "interval_s": 1, **more}
    if password is not None:
        (tmp_path / "mqtt.pw").write_text(password + "\n")
        section.update(username="station", password_file="mqtt.pw")
    settings = MqttSettings.from_board(section, tmp_path)
    assert password is None or password not in repr(settings)
    return MqttBridge(settings, clock, RemoteCommands({}, lambda: 60.0, lambda: 6.0), {},  # type: ignore[arg-type]
                      lambda cid: None, lambda cid: "Available", lambda: Ident(identity="CP9"), lambda: None,
                      trace.append)


async def test_a_wrong_password_is_traced_without_it_and_retried_on_the_clock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = make_broker(tmp_path / "broker", users={"station": PASSWORD})
    broker.start()
    trace: list[str] = []
    clock = FakeClock()
    b = bridge(tmp_path, broker.port, WRONG, trace, clock)
    task = asyncio.ensure_future(b.run())
    try:
        await until(lambda: any("MQTT connection failed" in line for line in trace), 10, "the failure traced")
        assert not b.connected and b.backoff_s == 1.0
        await clock.advance(1.0)  # the retry, on the injected clock, and the backoff doubles
        await until(lambda: len([x for x in trace if "connection failed" in x]) == 2, 10, "a second attempt")
        failures = [x for x in trace if "connection failed" in x]
        assert failures[0].endswith("retry in 1 s") and failures[1].endswith("retry in 2 s"), failures
        text = "\n".join(trace) + caplog.text
        assert WRONG not in text and PASSWORD not in text
    finally:
        task.cancel()
        broker.stop()


async def test_the_right_password_connects(tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "broker", users={"station": PASSWORD})
    broker.start()
    trace: list[str] = []
    b = bridge(tmp_path, broker.port, PASSWORD, trace, FakeClock())
    task = asyncio.ensure_future(b.run())
    try:
        await until(lambda: b.connected, 10, "connected")
        assert any("MQTT connected" in line for line in trace) and PASSWORD not in "\n".join(trace)
    finally:
        task.cancel()
        broker.stop()


async def test_a_clean_stop_says_offline(tmp_path: Path, broker: Broker) -> None:
    b = bridge(tmp_path, broker.port, None, [], FakeClock())
    async with watching(broker) as w:
        task = asyncio.ensure_future(b.run())
        try:
            await w.value("chargepoint/CP9/status", "online")
            await b.stop()
            await w.value("chargepoint/CP9/status", "offline")
        finally:
            task.cancel()


@pytest.mark.parametrize(("ca", "connects"), [("root.pem", True), ("rogue.pem", False)])
async def test_tls_checks_the_broker_against_the_ca_file(tmp_path: Path, ca: str, connects: bool) -> None:
    pki = Pki(tmp_path / "pki")
    cert = pki.write("server.pem", pem(pki.servers["valid"]))
    key = pki.write("server.key", key_pem(pki.server_key))
    pki.write("rogue.pem", pem(pki.rogue.cert))
    broker = make_broker(tmp_path / "broker", tls=(pki.root_file, cert, key))
    broker.start()
    trace: list[str] = []
    b = bridge(tmp_path, broker.port, None, trace, FakeClock(), host="localhost", tls=True,
               ca_file=str(pki.dir / ca))
    task = asyncio.ensure_future(b.run())
    try:
        if connects:
            await until(lambda: b.connected, 10, "connected over TLS")
        else:
            await until(lambda: any("connection failed" in x for x in trace), 10, "refused")
            assert "CERTIFICATE_VERIFY_FAILED" in "\n".join(trace) and not b.connected
    finally:
        task.cancel()
        broker.stop()


def test_an_unreadable_password_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MqttConfigError, match="mqtt.password_file .*missing.pw"):
        MqttSettings.from_board({"enabled": True, "password_file": "missing.pw"}, tmp_path)
    assert MqttSettings.from_board({}, tmp_path).discovery_prefix == MQTT_KEYS["discovery_prefix"].default == "homeassistant"


def test_the_board_loader_checks_the_mqtt_section(tmp_path: Path) -> None:
    from board.loader import BoardError, builtin_board, load_board

    path = tmp_path / "board.toml"
    path.write_text(builtin_board("sim").read_text() + '\n[mqtt]\nenabled = true\nport = 1883\npasword_file = "x"\n')
    with pytest.raises(BoardError, match="unknown key 'pasword_file' in mqtt"):
        load_board(path)
    path.write_text(builtin_board("sim").read_text() + "\n[mqtt]\nenabled = true\nport = 70000\n")
    with pytest.raises(BoardError, match="mqtt.port"):
        load_board(path)
    path.write_text(builtin_board("sim").read_text() + '\n[mqtt]\nenabled = true\nhost = "broker.lan"\n')
    assert load_board(path).mqtt == {"enabled": True, "host": "broker.lan"}
