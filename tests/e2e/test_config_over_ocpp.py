"""Configuration keys over a real websocket with schema validation on: GetConfiguration of everything,
ChangeConfiguration answers, and the effect of a change on the running station."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from controller.config.keys import KEYS, Access
from tests.conftest import Rig, until


async def test_get_configuration_of_all_keys(rig: Rig) -> None:
    res = await rig.bo.call(rig.identity, call.GetConfiguration())
    got = {k["key"]: k for k in res.configuration_key}
    readable = [n for spec in KEYS if spec.access != Access.W for n in spec.names]
    assert set(readable) <= set(got)
    assert not any(spec.name in got for spec in KEYS if spec.access == Access.W)
    assert got["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "1"}
    assert got["Identity"]["value"] == "SIM-0001"  # the board file's per-order default
    assert got["HeartbeatInterval"]["value"] == got["HeartBeatInterval"]["value"]


async def test_get_configuration_named_and_unknown(rig: Rig) -> None:
    res = await rig.bo.call(rig.identity, call.GetConfiguration(key=["LightIntensity", "NoSuchKey", "AuthorizationKey"]))
    assert res.unknown_key == ["NoSuchKey"]
    entries = {k["key"]: k for k in res.configuration_key}
    assert entries["LightIntensity"] == {"key": "LightIntensity", "readonly": False, "value": "100"}
    assert "value" not in entries["AuthorizationKey"]


async def test_change_configuration_answers(rig: Rig) -> None:
    async def change(key: str, value: str) -> str:
        return (await rig.bo.call(rig.identity, call.ChangeConfiguration(key=key, value=value))).status

    assert await change("NoSuchKey", "1") == "NotSupported"
    assert await change("NumberOfConnectors", "2") == "Rejected"  # read-only
    assert await change("TimeZoneMinutes", "721") == "Rejected"
    assert await change("TimeZoneMinutes", "-720") == "Accepted"
    assert await change("LightIntensity", "abc") == "Rejected"
    assert await change("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == "Rejected"
    assert await change("Identity", "NEW-ID") == "RebootRequired"
    assert rig.station.config.get("TimeZoneMinutes") == "-720"


async def test_heartbeat_interval_reschedules_now(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from controller.clock import FakeClock
    from tests.conftest import start_rig, stop_rig

    clock = FakeClock()
    rig = await start_rig(tmp_path, clock=clock)
    try:
        def beats() -> int:
            return len([r for r in rig.bo.records if r.action == "Heartbeat"])

        assert rig.station.config.get("HeartbeatInterval") == "300"  # from BootNotification.conf
        await clock.advance(299)
        await asyncio.sleep(0.2)
        assert beats() == 0
        res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key="HeartbeatInterval", value="30"))
        assert res.status == "Accepted"
        await asyncio.sleep(0.05)
        await clock.advance(29.9)
        await asyncio.sleep(0.2)
        assert beats() == 0  # the old 300 s timer was replaced: nothing fires at 300 s either
        await clock.advance(0.2)
        await rig.bo.wait_for("Heartbeat", rig.identity, timeout=3)
        assert beats() == 1
    finally:
        await stop_rig(rig)


async def test_station_max_current_lowers_pwm_while_charging(rig: Rig) -> None:
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid="CARD")
    await until(lambda: rig.conn()["contactor"] == "closed", 8, "charging")
    assert rig.conn()["offered_a"] == 32.0
    res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key="Station-MaxCurrent", value="10"))
    assert res.status == "Accepted"
    await until(lambda: rig.conn()["offered_a"] == 10.0, 1.0, "PWM lowered")
    assert rig.conn()["pwm_duty"] == 16.66
    await until(lambda: rig.conn()["currents"][0] <= 10.0, 3, "the car follows")


async def test_light_intensity_changes_the_leds(rig: Rig) -> None:
    leds = rig.station.devices.leds
    assert leds is not None and leds.state[2] == 100
    res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key="LightIntensity", value="25"))
    assert res.status == "Accepted"
    assert leds.state[2] == 25


async def test_monitoring_keys_read_live_values(rig: Rig) -> None:
    await rig.cmd("plug", connector=1, ev={"phases": 1, "max_current": 16})
    await rig.cmd("tag", uid="CARD")
    await until(lambda: rig.conn()["currents"][0] > 15, 8, "charging")
    await asyncio.sleep(1.2)  # one sample period
    res = await rig.bo.call(
        rig.identity,
        call.GetConfiguration(key=["Connector1-ActualPower", "Connector1-OutputPhases", "Connector1-InputPhases", "NFC-Version1"]),
    )
    v = {k["key"]: k["value"] for k in res.configuration_key}
    assert abs(float(v["Connector1-ActualPower"]) - 3.68) < 0.05  # 16 A x 230 V on one phase
    assert v["Connector1-OutputPhases"] == "1"
    assert v["Connector1-InputPhases"] == "3"
    assert v["NFC-Version1"] == "SIM-NFC 1.0"


async def test_changed_values_survive_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_rig, stop_rig

    rig = await start_rig(tmp_path)
    try:
        for key, value in [("LightIntensity", "33"), ("ContactorProtect", "120"), ("DisconnectAction", "Unlock")]:
            res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key=key, value=value))
            assert res.status == "Accepted"
    finally:
        await stop_rig(rig)
    rig = await start_rig(tmp_path)
    try:
        res = await rig.bo.call(rig.identity, call.GetConfiguration(key=["LightIntensity", "ContactorProtect", "DisconnectAction"]))
        assert {k["key"]: k["value"] for k in res.configuration_key} == {
            "LightIntensity": "33",
            "ContactorProtect": "120",
            "DisconnectAction": "Unlock",
        }
    finally:
        await stop_rig(rig)
