"""The MQTT bridge of a running station (sim board, real control process, real back office) against a real
mosquitto broker: it appears in Home Assistant by itself, commands change the offer the control loop applies
and never exceed another limit, refusals are said on the broker, setpoints expire on the injected clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from ocpp.v16 import call

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import BackOffice
from controller.clock import FakeClock
from controller.mqtt.discovery import SOCKET_ENTITIES
from controller.simcontrol.server import SimControlServer
from tests.conftest import Rig, stop_rig, until
from tests.mqtt.conftest import Broker, Watcher, watching
from tests.mqtt.ha_schema import problems
from tests.ocpp.profiles.test_smartcharging import profile, set_profile

BASE = "chargepoint/CP1"
VALIDITY_S = 60


def mqtt_board(tmp_path: Path, broker: Broker, extra: str = "") -> Path:
    """The simulated board with an [mqtt] section for `broker`."""
    path = tmp_path / "board.toml"
    path.write_text(builtin_board("sim").read_text() + f"""
[mqtt]
enabled = true
host = "{broker.host}"
port = {broker.port}
interval_s = 1
command_validity_s = {VALIDITY_S}
{extra}""")
    return path


async def start_station(tmp_path: Path, board: Path, clock: FakeClock) -> Rig:
    trace: list[str] = []
    bo = BackOffice()
    await bo.start()
    station = Station(load_board(board), tmp_path / "state", StationOptions(backoffice_url=bo.url, identity="CP1"),
                      clock=clock, trace=trace.append)
    sim = SimControlServer(station)
    await sim.start()
    await station.start()
    await bo.wait_for("BootNotification", "CP1", timeout=15)
    await until(lambda: station.link.online, 10, "boot accepted")
    return Rig(bo, station, sim, "CP1", trace)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rig(tmp_path: Path, broker: Broker, clock: FakeClock) -> AsyncIterator[Rig]:
    r = await start_station(tmp_path, mqtt_board(tmp_path, broker), clock)
    try:
        yield r
    finally:
        await stop_rig(r)


@pytest.fixture
async def watcher(broker: Broker) -> AsyncIterator[Watcher]:
    async with watching(broker) as w:
        yield w


def commanded(rig: Rig) -> float:
    return float(rig.station.limits.commanded[1]["max_current"])


async def charging(rig: Rig, clock: FakeClock) -> None:
    """A car charging at 32 A (the station's timers, the card reader's among them, run on the fake clock)."""
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid="CARD")
    for _ in range(100):
        if rig.conn()["contactor"] == "closed":
            break
        await clock.advance(0.25)
        await asyncio.sleep(0.05)  # the control process and the back office run in real time
    await until(lambda: rig.conn()["contactor"] == "closed", 5, "charging")
    await until(lambda: rig.conn()["offered_a"] == 32.0, 5, "32 A offered")


async def result(w: Watcher, n: int) -> dict[str, str]:
    """The n-th command result the broker carried (1-based)."""
    topic = f"{BASE}/socket/1/command_result"
    await w.wait(lambda: len([s for s in w.seen if s[0] == topic]) >= n, f"command result {n}")
    return dict(json.loads([s[1] for s in w.seen if s[0] == topic][n - 1]))


async def test_the_station_appears_in_home_assistant_by_itself(rig: Rig, watcher: Watcher, broker: Broker) -> None:
    assert await watcher.value(f"{BASE}/status") == "online"
    discovery = lambda: {t: p for t, p in watcher.last.items() if t.startswith("homeassistant/")}  # noqa: E731
    await watcher.wait(lambda: len(discovery()) == len(SOCKET_ENTITIES), "every discovery config")
    for topic, payload in discovery().items():
        assert problems(topic.split("/")[1], json.loads(payload)) == [], topic
    assert await watcher.value(f"{BASE}/socket/1/iec_state") == "A"
    assert await watcher.value(f"{BASE}/socket/1/ocpp_status") == "Available"
    assert await watcher.value(f"{BASE}/socket/1/max_current") == "32.0"
    assert await watcher.value(f"{BASE}/socket/1/charging") == "ON"
    wanted = {f"{BASE}/status", f"{BASE}/socket/1/iec_state", f"{BASE}/socket/1/ocpp_status", *discovery()}
    async with watching(broker) as later:  # a Home Assistant started later gets them at once: retained
        await later.wait(lambda: wanted <= {t for t, _, retained in later.seen if retained}, "the retained topics")


async def test_a_command_changes_the_offer_the_control_loop_applies(rig: Rig, watcher: Watcher, clock: FakeClock) -> None:
    await charging(rig, clock)
    await until(lambda: rig.conn()["currents"][0] > 30.0, 10, "the car draws 32 A")
    await watcher.value(f"{BASE}/status", "online")
    await watcher.send(f"{BASE}/socket/1/max_current/set", "10")
    assert (await result(watcher, 1))["result"] == "accepted"
    assert commanded(rig) == 10.0
    await until(lambda: rig.conn()["offered_a"] == 10.0, 5, "the loop offers 10 A")
    await clock.advance(1.0)  # the next publication
    assert await watcher.value(f"{BASE}/socket/1/offered_current", "10.0")
    assert await watcher.value(f"{BASE}/socket/1/max_current", "10.0")
    await until(lambda: 9.0 <= rig.conn()["currents"][0] <= 10.5, 10, "the car follows")
    await clock.advance(1.0)
    cur, power = f"{BASE}/socket/1/current_l1", f"{BASE}/socket/1/power"
    await watcher.wait(lambda: 9.0 <= float(watcher.last.get(cur, "0")) <= 10.5, "the car's 10 A published")
    await watcher.wait(lambda: float(watcher.last.get(power, "0")) > 3 * 9.0 * 200, "its power published")


async def test_a_command_above_the_ocpp_limit_does_not_exceed_it(rig: Rig, watcher: Watcher, clock: FakeClock) -> None:
    await charging(rig, clock)
    res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key="Connector1-MaxCurrent", value="10"))
    assert res.status == "Accepted"
    await until(lambda: rig.conn()["offered_a"] == 10.0, 5, "the OCPP limit applied")
    await watcher.send(f"{BASE}/socket/1/max_current/set", "25")  # within the rating, above the OCPP limit
    assert (await result(watcher, 1))["result"] == "accepted"
    assert commanded(rig) == 10.0
    await watcher.send(f"{BASE}/socket/1/charging/set", "ON")
    await result(watcher, 2)
    assert rig.conn()["offered_a"] == 10.0 and commanded(rig) == 10.0


async def test_a_command_above_a_smart_charging_profile_does_not_exceed_it(rig: Rig, watcher: Watcher,
                                                                         clock: FakeClock) -> None:
    await charging(rig, clock)
    cap = profile(7, "TxDefaultProfile", 0, [(0, 12.0)], start=clock.now() - timedelta(seconds=1))
    assert await set_profile(rig, 1, cap) == "Accepted"
    await until(lambda: rig.conn()["offered_a"] == 12.0, 5, "the socket's profile applied")
    await watcher.send(f"{BASE}/socket/1/max_current/set", "30")
    assert (await result(watcher, 1))["result"] == "accepted"
    assert commanded(rig) <= 12.0 and rig.conn()["offered_a"] <= 12.0
    await watcher.send(f"{BASE}/socket/1/max_current/set", "8")  # below it: the command limits
    await result(watcher, 2)
    await until(lambda: rig.conn()["offered_a"] == 8.0, 5, "8 A offered")


async def test_out_of_range_commands_are_refused_and_said_so(rig: Rig, watcher: Watcher) -> None:
    await watcher.value(f"{BASE}/status", "online")
    before = commanded(rig)
    for n, payload in enumerate(["40", "3", "-1", "NaN", "lots"], 1):
        await watcher.send(f"{BASE}/socket/1/max_current/set", payload)
        r = await result(watcher, n)
        assert (r["result"], r["payload"]) == ("refused", payload), r
        assert commanded(rig) == before
    await watcher.client.publish(f"{BASE}/socket/1/charging/set", b"\xff\xfe", qos=1)  # not UTF-8
    assert (await result(watcher, 6))["result"] == "refused"
    await watcher.send(f"{BASE}/socket/1/reboot/set", "now")  # no such command
    assert "unknown command" in (await result(watcher, 7))["reason"]
    await watcher.send(f"{BASE}/socket/9/max_current/set", "10")  # no such socket: traced, nothing else
    await until(lambda: any("for socket 9 refused: no socket 9" in line for line in rig.trace), 5, "traced")
    await watcher.send(f"{BASE}/socket/1/max_current/set", "x" * 100_000)  # a long payload, cut in the answer
    assert len((await result(watcher, 8))["payload"]) == 40
    assert commanded(rig) == before == 32.0
    assert any("MQTT command max_current='40' for socket 1 refused" in line for line in rig.trace)


async def test_a_stale_retained_command_is_refused(tmp_path: Path, broker: Broker, watcher: Watcher,
                                                   clock: FakeClock) -> None:
    await watcher.send(f"{BASE}/socket/1/max_current/set", "10", retain=True)  # left on the broker by someone
    rig = await start_station(tmp_path, mqtt_board(tmp_path, broker), clock)
    try:
        r = await result(watcher, 1)
        assert r["result"] == "refused" and "retained" in r["reason"], r
        assert commanded(rig) == 32.0
    finally:
        await stop_rig(rig)


async def test_the_validity_time_runs_out_to_safe_current_on_the_fake_clock(rig: Rig, watcher: Watcher, clock: FakeClock) -> None:
    assert rig.station.config.set("Safe-MaxCurrent", "8") == "Accepted"
    await charging(rig, clock)
    await watcher.send(f"{BASE}/socket/1/max_current/set", "20")
    await result(watcher, 1)
    await until(lambda: rig.conn()["offered_a"] == 20.0, 5, "20 A offered")
    await clock.advance(VALIDITY_S - 0.5)
    await asyncio.sleep(0.05)
    assert commanded(rig) == 20.0
    await clock.advance(0.5)
    await until(lambda: commanded(rig) == 8.0, 5, "Safe-MaxCurrent once the setpoint expired")
    await until(lambda: rig.conn()["offered_a"] == 8.0, 5, "the loop offers the safe current")
    assert any("setpoint expired" in line for line in rig.trace)
    await clock.advance(1.0)
    assert await watcher.value(f"{BASE}/socket/1/max_current", "8.0")


async def test_pause_and_resume_over_the_switch(rig: Rig, watcher: Watcher, clock: FakeClock) -> None:
    await charging(rig, clock)
    await watcher.send(f"{BASE}/socket/1/charging/set", "OFF")
    await result(watcher, 1)
    assert commanded(rig) == 0.0
    await until(lambda: rig.conn()["ocpp_status"] == "SuspendedEVSE", 5, "paused")
    assert await watcher.value(f"{BASE}/socket/1/charging", "OFF")
    await watcher.send(f"{BASE}/socket/1/charging/set", "ON")
    await result(watcher, 2)
    assert commanded(rig) == 32.0
    await until(lambda: rig.conn()["ocpp_status"] == "Charging", 10, "charging again")
    assert await watcher.value(f"{BASE}/socket/1/charging", "ON")


async def test_reconnects_with_backoff_when_the_broker_comes_back(rig: Rig, broker: Broker, clock: FakeClock) -> None:
    bridge = rig.station.mqtt
    await until(lambda: bridge.connected, 10, "connected")
    broker.stop()
    await until(lambda: not bridge.connected, 10, "the loss noticed")
    assert any("MQTT connection lost" in line for line in rig.trace)
    broker.start()  # same port; a broker without persistence: nothing retained any more
    await clock.advance(bridge.backoff_s)
    await until(lambda: bridge.connected, 10, "connected again")
    assert bridge.connects == 2
    assert rig.station.supervisor.tasks["mqtt"].failures == 0  # handled inside: the task never failed
    async with watching(broker) as w:
        assert await w.value(f"{BASE}/status") == "online"
        await w.wait(lambda: sum(t.startswith("homeassistant/") for t in w.last) == len(SOCKET_ENTITIES),
                     "discovery published again")


async def test_the_bridge_is_a_supervised_task(rig: Rig, broker: Broker, clock: FakeClock,
                                               caplog: pytest.LogCaptureFixture) -> None:
    bridge, task = rig.station.mqtt, rig.station.supervisor.tasks["mqtt"]
    await until(lambda: bridge.connected, 10, "connected")
    task.kill("a crash")
    await until(lambda: task.failures == 1, 5, "the failure seen")
    assert "task mqtt was cancelled from outside" in caplog.text
    await clock.advance(1.0)  # the supervisor's backoff, on the injected clock
    await until(lambda: bridge.connected and bridge.connects == 2, 10, "started again")
