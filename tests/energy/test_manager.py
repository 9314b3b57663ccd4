"""EnergyManager on the fake clock: the keys, the grid meter poll, the safe current and Modbus setpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.balance import Hysteresis
from controller.energy.manager import EnergyManager
from hal.errors import DeviceOffline
from hal.interfaces import MeterReading

P1_ON = {"Active-LoadBalancing": "On", "ALB-ProtocolSelection": "DSMR P1", "SmartMeter-MaxCurrent": "25"}


class FakeGridMeter:
    """The house load plus what the sockets draw, like the simulated grid meter."""

    def __init__(self, sockets: dict[int, list[float] | None]) -> None:
        self.house = [0.0, 0.0, 0.0]
        self.offline = False
        self.sockets = sockets
        self.includes_charger = True
        self.connected = (0, 1, 2)  # grid phase of each station phase (Phase-Connected)

    def read(self) -> MeterReading:
        if self.offline:
            raise DeviceOffline("grid meter does not answer")
        total = list(self.house)
        if self.includes_charger:
            for cur in self.sockets.values():
                for i, grid in enumerate(self.connected):
                    total[grid] += (cur or [0, 0, 0])[i]
        return MeterReading(currents_a=(total[0], total[1], total[2]))


class Bench:
    def __init__(self, tmp_path: Path, config: dict[str, str], connectors: dict[int, int] | None = None) -> None:
        self.clock = FakeClock()
        self.config = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
        for k, v in config.items():
            assert self.config.set(k, v) in ("Accepted", "RebootRequired"), (k, v)
        conns = connectors or {1: 3, 2: 3}
        self.currents: dict[int, list[float] | None] = {cid: [0.0, 0.0, 0.0] for cid in conns}
        self.meter = FakeGridMeter(self.currents)
        self.changes = 0
        self.trace: list[str] = []
        self.em = EnergyManager(
            self.config, self.clock, conns, self.meter, lambda: self.currents, self._changed, self.trace.append,
            grid_driver="sim", meter_validity_s=10.0,
            hysteresis=Hysteresis(step_a=1.0, resume_margin_a=1.0, resume_delay_s=5.0, min_pause_s=15.0),
        )

    def _changed(self) -> None:
        self.changes += 1

    def offers(self, active: Sequence[int] = (1,), socket_max: float = 32.0, **kw: float) -> dict[int, float]:
        return self.em.offers({cid: socket_max for cid in self.currents}, set(active), **kw)

    def poll(self, seconds: float = 1.0) -> None:
        self.clock.jump(seconds)  # the poll task is driven by hand here (see test_poll_task)
        self.em.poll_once()

    def draw(self, cid: int, amps: float, phases: int = 3) -> None:
        self.currents[cid] = [amps if i < phases else 0.0 for i in range(3)]


def test_without_load_balancing_sockets_share_station_max(tmp_path: Path) -> None:
    b = Bench(tmp_path, {"Station-MaxCurrent": "32"})
    assert b.offers([1]) == {1: 32.0, 2: 16.0}  # the idle socket sees what it would get if it started
    assert b.offers([1, 2]) == {1: 16.0, 2: 16.0}
    assert b.offers([1, 2], socket_max=10.0) == {1: 10.0, 2: 10.0}
    assert b.offers([1, 2], station_cap=20.0) == {1: 10.0, 2: 10.0}  # smart charging's station limit
    assert b.offers([1, 2], station_cap=float("inf")) == {1: 16.0, 2: 16.0}


def test_fuse_headroom_with_the_meter_including_the_charger(tmp_path: Path) -> None:
    b = Bench(tmp_path, P1_ON)
    b.draw(1, 16)
    b.meter.house = [9.0, 2.0, 0.0]
    b.poll()
    assert b.offers([1])[1] == 16.0  # 25 - 9 = 16 on L1
    b.meter.house = [14.0, 2.0, 0.0]  # the house load rises: lowered at the next poll
    b.poll()
    assert b.offers([1])[1] == 11.0
    assert b.em.status()["meter"]["house"] == [14.0, 2.0, 0.0]


def test_fuse_headroom_when_the_meter_does_not_see_the_charger(tmp_path: Path) -> None:
    b = Bench(tmp_path, {**P1_ON, "SmartMeterIncludesCharger": "false"})
    b.meter.includes_charger = False
    b.draw(1, 16)
    b.meter.house = [9.0, 2.0, 0.0]
    b.poll()
    assert b.offers([1])[1] == 16.0
    # the same reading on a meter that includes the charger would mean a house of 9 - 16 < 0: wrong key,
    # wrong answer; this is why the key exists
    b.config.set("SmartMeterIncludesCharger", "true")
    for _ in range(4):  # the house load estimate falls to 9 - 16 = -7 A after the release window
        b.poll()
    assert b.offers([1])[1] == 32.0


def test_two_sockets_share_the_headroom_and_one_pauses_when_it_is_too_small(tmp_path: Path) -> None:
    b = Bench(tmp_path, P1_ON)
    b.meter.house = [5.0, 5.0, 5.0]
    b.poll()
    assert b.offers([1, 2]) == {1: 10.0, 2: 10.0}
    b.meter.house = [15.0, 5.0, 5.0]
    b.poll()
    assert b.offers([1, 2]) == {1: 10.0, 2: 0.0}  # 10 A left: 10 + 0 rather than 5 + 5


def test_phase_connected_maps_a_single_phase_socket_to_its_grid_phase(tmp_path: Path) -> None:
    b = Bench(tmp_path, {**P1_ON, "Phase-Connected": "L3L2L1"}, connectors={1: 1})
    b.meter.connected = (2, 1, 0)
    b.meter.house = [20.0, 0.0, 4.0]  # L1 is nearly full, but the socket is on the station's L1 = grid L3
    b.poll()
    assert b.offers([1]) == {1: 21.0}
    b.draw(1, 21, phases=1)  # the car draws on station L1, which the grid meter sees on L3
    b.poll()
    assert b.offers([1]) == {1: 21.0}


def test_max_imbalance_current_limits_a_single_phase_car(tmp_path: Path) -> None:
    b = Bench(tmp_path, {"MaxImbalanceCurrent": "16"})
    assert b.offers([1])[1] == 32.0  # nothing drawn yet: assumed balanced over three phases
    b.draw(1, 20, phases=1)  # a single-phase car
    assert b.offers([1])[1] == 16.0
    b.config.set("MaxImbalanceCurrent", "0")  # 0 = off
    assert b.offers([1])[1] == 32.0


def test_meter_lost_falls_back_to_safe_current_after_the_validity_time(tmp_path: Path) -> None:
    b = Bench(tmp_path, {**P1_ON, "Safe-MaxCurrent": "8"})
    assert b.offers([1])[1] == 8.0  # no reading yet: safe
    b.poll()
    assert b.offers([1])[1] == 25.0
    b.meter.offline = True
    for _ in range(9):
        b.poll()
    assert b.offers([1])[1] == 25.0  # 9 s: the last reading still counts
    b.poll(1.5)
    assert b.offers([1])[1] == 8.0  # 10.5 s without a reading
    assert any("grid meter lost" in t for t in b.trace)
    assert b.offers([1, 2]) == {1: 8.0, 2: 0.0}  # Safe-MaxCurrent is for the whole station
    b.meter.offline = False
    b.poll()
    assert b.offers([1])[1] == 25.0


def test_active_load_balancing_without_a_usable_meter_runs_on_safe_current(tmp_path: Path) -> None:
    b = Bench(tmp_path, {**P1_ON, "DirectExternalSuspendSignal": "Suspend when an external circuit is closed"})
    b.poll()
    assert b.offers([1])[1] == 6.0
    assert "RJ11" in b.em.status()["meter"]["note"]
    assert b.meter is not None and b.em.reads == 0  # the meter is not even read


def test_rising_house_load_pauses_and_the_resume_waits(tmp_path: Path) -> None:
    b = Bench(tmp_path, P1_ON)
    b.poll()
    assert b.offers([1])[1] == 25.0
    b.draw(1, 25)
    b.meter.house = [21.0, 0.0, 0.0]
    b.poll()
    assert b.offers([1])[1] == 0.0  # 4 A left: pause, not 4 A
    b.draw(1, 0)
    b.meter.house = [17.0, 0.0, 0.0]  # 8 A would fit again
    for _ in range(4):  # the fall counts after the 3 s release window ...
        b.poll()
        b.offers([1])
    for _ in range(9):  # ... and the pause lasts at least 15 s
        b.poll()
        assert b.offers([1])[1] == 0.0
    for _ in range(4):
        b.poll()
        o = b.offers([1])[1]
    assert o == 8.0


def test_modbus_socket_setpoint_validity_and_safe_current(tmp_path: Path) -> None:
    b = Bench(tmp_path, {"MbsSlaveTCPIP": "On", "MbsSlaveTCPIPValidityTime": "30", "Safe-MaxCurrent": "7"})
    assert b.offers([1])[1] == 32.0  # the key needs a reboot: only the Modbus slave's start makes it count
    b.em.modbus_enabled = True  # what AlfenSlave.start() does with the key On
    assert b.offers([1])[1] == 7.0  # nothing written yet: the safe current
    b.em.write_socket_setpoint(1, 13.5)
    assert b.offers([1])[1] == 13.5
    b.clock.jump(29.9)
    assert b.offers([1])[1] == 13.5
    b.clock.jump(0.2)
    assert b.offers([1])[1] == 7.0
    b.em.write_socket_setpoint(1, 0.0)  # 0 pauses
    assert b.offers([1])[1] == 0.0
    b.em.write_socket_setpoint(1, 16.0)  # >= 6 resumes at once
    assert b.offers([1])[1] == 16.0
    b.config.set("MbsSlaveTCPIPMode", "Off")  # read back but not used
    b.em.write_socket_setpoint(1, 10.0)
    assert b.offers([1])[1] == 32.0


def test_modbus_scn_setpoints_limit_the_station_per_phase(tmp_path: Path) -> None:
    b = Bench(tmp_path, {"MbsSlaveTCPIP": "On", "MbsSlaveTCPIPMode": "SCN", "Safe-MaxCurrent": "6"})
    b.em.modbus_enabled = True
    for p, amps in enumerate((20.0, 30.0, 30.0)):
        b.em.write_phase_setpoint(p, amps)
    assert b.offers([1, 2]) == {1: 10.0, 2: 10.0}
    b.clock.jump(61)
    assert b.offers([1, 2]) == {1: 6.0, 2: 0.0}


def test_static_load_balancing_gives_unused_current_to_the_other_socket(tmp_path: Path) -> None:
    b = Bench(tmp_path, {"Static-LoadBalancing": "On", "Station-MaxCurrent": "32"})
    assert b.offers([1, 2]) == {1: 16.0, 2: 16.0}
    b.draw(1, 8)  # car 1 only takes 8 A
    b.draw(2, 16)
    for _ in range(10):
        b.clock.jump(1)
        b.offers([1, 2])
    b.clock.jump(1)
    assert b.offers([1, 2]) == {1: 10.0, 2: 22.0}
    b.config.set("Static-LoadBalancing", "Off")  # a plain fair split again
    assert b.offers([1, 2]) == {1: 16.0, 2: 16.0}


def test_external_suspend_signal(tmp_path: Path) -> None:
    b = Bench(tmp_path, {"DirectExternalSuspendSignal": "Suspend when an external circuit is opened"})
    assert not b.em.external_suspend  # not reported yet
    b.em.note_suspend_input(False)
    assert b.em.external_suspend and b.changes == 1
    b.em.note_suspend_input(True)
    assert not b.em.external_suspend and b.changes == 2
    b.em.note_suspend_input("garbage")  # ignored
    assert b.em.suspend_input is True
    b.config.set("DirectExternalSuspendSignal", "DSMR P1")
    b.em.note_suspend_input(False)
    assert not b.em.external_suspend


def test_key_changes_reallocate(tmp_path: Path) -> None:
    b = Bench(tmp_path, {})
    before = b.changes
    for key, value in (("SmartMeter-MaxCurrent", "40"), ("Safe-MaxCurrent", "10"), ("Phase-Connected", "L2")):
        b.config.set(key, value)
    assert b.changes == before + 3


async def test_poll_task_runs_on_the_clock(tmp_path: Path) -> None:
    b = Bench(tmp_path, P1_ON)
    task = asyncio.create_task(b.em.run())
    try:
        await asyncio.sleep(0)
        for _ in range(5):
            await b.clock.advance(1.0)
        assert b.em.reads >= 5 and b.changes >= 5
        b.meter.house = [30.0, 0.0, 0.0]
        await b.clock.advance(1.0)
        assert b.offers([1])[1] == 0.0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
