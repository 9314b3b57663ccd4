"""Who decides, on a running station (real control process and plant, board `sim-phase`): Modbus register
1215 moves the relay of a charging car (the other deciders are tables in test_phase_decision.py); the relay is
reported by ConnectorSwitch3to1PhaseSupported and read back from 1215."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Rig, stop_rig, until
from tests.energy.conftest import Client, start_energy_rig


async def charge(rig: Rig) -> None:
    await rig.cmd("plug", connector=1, ev={"max_current": 16, "phases": 3})
    await rig.wait_status("Preparing")
    await rig.cmd("tag", uid="CARD1")
    await rig.wait_status("Charging")
    await until(lambda: min(rig.conn()["currents"]) > 15.0, 10, "the car draws 16 A on three phases")


async def plant(rig: Rig) -> dict[str, object]:
    """What the simulated plant sees on socket 1 (the relay's contacts: `phases`)."""
    reply = await rig.station.control.sim("plant_status", {})
    assert reply["ok"], reply
    return dict(reply["connectors"][0])


async def relay(rig: Rig) -> int:
    return int(str((await plant(rig))["phases"]))


async def test_modbus_1215_switches_the_relay_of_a_charging_car(tmp_path: Path) -> None:
    rig = await start_energy_rig(tmp_path, "sim-phase", config={"MbsSlaveTCPIP": "On", "Safe-MaxCurrent": "16"})
    client = Client(rig.station.modbus.port)
    try:
        assert rig.station.config.get("ConnectorSwitch3to1PhaseSupported") == "true"
        assert await client.connect()
        await charge(rig)
        assert (await client.write1(1, 1215, 1)).exception_code == 3, "EnablePhaseSwitching is false"
        assert rig.station.config.set("EnablePhaseSwitching", "true") == "Accepted"
        assert (await client.write1(1, 1215, 2)).exception_code == 3
        assert not (await client.write1(1, 1215, 1)).isError()
        assert await client.regs(1, 1215, 1) == [1]
        await until(lambda: rig.conn()["currents"][0] > 15.0 and rig.conn()["currents"][1] == 0.0, 15,
                    "the car draws on L1 only")  # fmt: skip
        assert await relay(rig) == 1
        assert not (await client.write1(1, 1215, 3)).isError()  # back up (the way back is the same procedure,
        assert await client.regs(1, 1215, 1) == [3]  # tested in-process: test_phase_switch_loop.py)
        assert rig.station.energy.phases_for(1) == 3
    finally:
        client.close()
        await stop_rig(rig)


async def test_a_board_without_a_relay_says_so(tmp_path: Path) -> None:
    rig = await start_energy_rig(tmp_path)
    try:
        assert rig.station.config.get("ConnectorSwitch3to1PhaseSupported") == "false"
        assert (await plant(rig))["phases"] is None
    finally:
        await stop_rig(rig)
