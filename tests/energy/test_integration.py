"""Load balancing and the Modbus slave on the simulated board: the real control process, the real back office
and the sim control API; the grid meter is the simulated one (house load + what the sockets draw)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from controller.modbus import codec
from tests.conftest import Rig, stop_rig, until
from tests.energy.conftest import Client, start_energy_rig

ALB = {
    "Active-LoadBalancing": "On",
    "ALB-ProtocolSelection": "DSMR P1",
    "SmartMeter-MaxCurrent": "25",
    "Safe-MaxCurrent": "8",
}
# The PWM duty is rounded to 0.01 % (pwm.duty_for_current), so an offer of 10 A reads 10.002 A at the car.
FUSE_TOLERANCE = 25.05


async def charge(rig: Rig, cid: int = 1, max_current: float = 32) -> None:
    await rig.cmd("plug", connector=cid, ev={"max_current": max_current, "phases": 3})
    await rig.wait_status("Preparing", cid)
    await rig.cmd("tag", uid=f"CARD{cid}")
    await rig.wait_status("Charging", cid)


async def test_rising_house_load_lowers_the_offer_and_a_lost_meter_gives_safe_current(tmp_path: Path) -> None:
    rig = await start_energy_rig(tmp_path, config=ALB)
    try:
        rig.station.energy.meter_validity_s = 2.0
        await rig.cmd("grid", currents=[3, 3, 3])
        await until(lambda: rig.station.energy.status()["meter"]["house"] == [3.0, 3.0, 3.0], 5, "house load seen")
        await charge(rig)
        await until(lambda: rig.conn()["offered_a"] == 22.0, 5, "offer 25 - 3 A")
        await until(lambda: rig.conn()["currents"][0] > 21.5, 5, "the car to draw 22 A")

        # the house load rises by 12 A on L1: the offer drops to 10 A and the fuse is over only briefly
        meter = rig.station.devices.grid_meter
        assert meter is not None
        await rig.cmd("grid", currents=[15, 3, 3])
        t0 = time.monotonic()
        await until(lambda: rig.conn()["offered_a"] == 10.0, 4, "offer lowered to 25 - 15 A")
        reaction = time.monotonic() - t0
        over_since: float | None = None
        longest = 0.0
        end = time.monotonic() + 4
        while time.monotonic() < end:
            over = meter.read().currents_a[0] > FUSE_TOLERANCE
            now = time.monotonic()
            if over:
                over_since = t0 if over_since is None else over_since
                longest = max(longest, now - over_since)
            else:
                over_since = None
            await asyncio.sleep(0.05)
        assert reaction < 3.0, reaction  # one meter poll (1 s) and one loop tick, with slack
        assert longest < 5.0, longest  # the car's 5 s to follow a lowered PWM is the whole overload
        assert meter.read().currents_a[0] <= FUSE_TOLERANCE
        assert rig.conn()["ocpp_status"] == "Charging"

        # the grid meter stops answering: after the validity time (2 s here) Safe-MaxCurrent applies
        await rig.cmd("meter_offline", which="grid", offline=True)
        t1 = time.monotonic()
        await until(lambda: rig.conn()["offered_a"] == 8.0, 5, "Safe-MaxCurrent")
        assert time.monotonic() - t1 >= 0.9  # not before the validity time (2 s after the last good poll)
        assert any("grid meter lost" in line for line in rig.trace)
        snap = rig.station.status_snapshot()["energy"]
        assert snap["meter"]["valid"] is False and snap["room"] == [8.0, 8.0, 8.0]
        await rig.cmd("meter_offline", which="grid", offline=False)
        await until(lambda: rig.station.energy.last_offers[1] == 10.0, 4, "meter back: 10 A again")
    finally:
        await stop_rig(rig)


async def test_modbus_master_sets_the_offer_and_it_falls_back_to_safe_current(tmp_path: Path) -> None:
    rig = await start_energy_rig(
        tmp_path, config={"MbsSlaveTCPIP": "On", "MbsSlaveTCPIPValidityTime": "6", "Safe-MaxCurrent": "6"}
    )
    client = Client(rig.station.modbus.port)
    try:
        assert rig.station.modbus.running and await client.connect()
        await charge(rig)
        assert rig.conn()["offered_a"] == 6.0  # nothing written yet: the safe current
        await until(lambda: rig.conn()["currents"][0] > 5.5, 5, "the car to draw")
        regs = await client.regs(1, 320, 6)
        assert [round(codec.decode_float32(regs[i : i + 2]), 1) for i in (0, 2, 4)] == [6.0, 6.0, 6.0]
        assert codec.decode_string(await client.regs(1, 1201, 5)) == "C2"

        rr = await client.write(1, 1210, codec.float32(10.0))  # as evcc writes it: FC16
        assert not rr.isError(), rr
        written = time.monotonic()
        regs = await client.regs(1, 1206, 10)
        assert codec.decode_float32(regs[0:2]) == 10.0  # the applied limit, at once
        assert codec.decode_float32(regs[4:6]) == 10.0 and regs[8] == 1
        # the PWM follows (a raise waits for the loop's 5 s pace between PWM changes)
        await until(lambda: rig.conn()["offered_a"] == 10.0, 6, "PWM offer 10 A")
        await until(lambda: rig.conn()["currents"][0] > 9.5, 3, "the car to draw 10 A")
        # no keep-alive write: after MbsSlaveTCPIPValidityTime the socket is back on the safe current
        await until(lambda: rig.conn()["offered_a"] == 6.0, 9, "safe current after the validity time")
        assert time.monotonic() - written >= 5.0
        regs = await client.regs(1, 1206, 10)
        assert codec.decode_float32(regs[0:2]) == 6.0 and codec.decode_uint(regs[2:4]) == 0 and regs[8] == 0

        await client.write(1, 1210, codec.float32(0.0))  # 0 pauses: PWM off, SuspendedEVSE
        await rig.wait_status("SuspendedEVSE", timeout=5)  # from the limits published, before the loop acts
        await until(lambda: rig.conn()["pwm_duty"] is None, 2, "PWM off")
        assert codec.decode_string(await client.regs(1, 1201, 5)) == "C1"
    finally:
        client.close()
        await stop_rig(rig)


async def test_modbus_slave_is_off_by_default(rig: Rig) -> None:
    assert not rig.station.modbus.running
    assert rig.station.status_snapshot()["energy"]["modbus"] == {"enabled": False, "key": False, "mode": "Socket"}
    rig.station.config.set("MbsSlaveTCPIP", "On")  # RebootRequired: nothing changes until a restart
    await until(lambda: rig.station.energy.last_offers[1] == 32.0, 2, "no safe current")
    assert not rig.station.modbus.running and not rig.station.energy.modbus_enabled


async def test_external_suspend_signal_suspends_charging(tmp_path: Path) -> None:
    """The RJ11 contact, read by the control process and reported with the station sample (`suspend_input`)."""
    rig = await start_energy_rig(tmp_path, config={"DirectExternalSuspendSignal": "Suspend when an external circuit is closed"})
    try:
        await charge(rig)
        await rig.cmd("suspend", active=True)
        await rig.wait_status("SuspendedEVSE", timeout=5)
        await until(lambda: rig.conn()["pwm_duty"] is None, 2, "PWM off")  # the loop follows within a tick
        await rig.cmd("suspend", active=False)
        await rig.wait_status("Charging", timeout=10)
    finally:
        await stop_rig(rig)


async def test_a_second_car_waiting_for_its_share_is_suspended_evse(tmp_path: Path) -> None:
    """Issue 16, item 9: while the station holds a joining car (the first one has 5 s to follow its lowered
    offer), the connector reports SuspendedEVSE and the applied limit (Modbus 1206) is 0."""
    rig = await start_energy_rig(tmp_path, board="sim-double", config={"Station-MaxCurrent": "32"})
    try:
        await charge(rig, 1)
        await until(lambda: rig.conn(1)["currents"][0] > 31.5, 8, "car 1 at 32 A")
        await rig.cmd("plug", connector=2, ev={"max_current": 32, "phases": 3})
        await rig.wait_status("Preparing", 2)
        await rig.cmd("tag", uid="CARD2")
        await rig.wait_status("SuspendedEVSE", 2, timeout=5)
        assert rig.station.energy.last_offers[2] == 0.0 and rig.station.energy.last_offers[1] == 16.0
        assert rig.station.modbus.socket_values(2)["applied_max_a"] == 0.0
        await rig.wait_status("Charging", 2, timeout=15)
        assert rig.station.energy.last_offers[2] == 16.0
    finally:
        await stop_rig(rig)
