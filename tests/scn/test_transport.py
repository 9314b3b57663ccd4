"""The coordinator's transport against the real Modbus slave on loopback: our client polls a member and writes
its setpoints (read back by the real register map, applied by its energy management); a coordinator's slave
refuses SCN setpoints with exception 01 and says why; mDNS announcement and browsing work in-process on
loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.settings import EnergySettings
from controller.scn.client import ModbusClient, ModbusError
from controller.scn.discovery import Announcer, Browser
from controller.scn.service import ScnService
from controller.scn.settings import MemberSpec
from controller.scn.stations import COORDINATOR_REFUSES, poll_member, write_member
from tests.energy.test_modbus_slave import charging, make


async def test_poll_and_write_a_member_through_its_slave(tmp_path: Path) -> None:
    s = await make(tmp_path, {"MbsSlaveTCPIPMode": "SCN", "Safe-MaxCurrent": "6"})
    client = ModbusClient("127.0.0.1", s.slave.port)
    try:
        charging(s.station, 1)
        view = await poll_member(client, MemberSpec("127.0.0.1", s.slave.port))
        assert view.scn_mode and view.reachable
        assert [(x.cid, x.phases, x.asking) for x in view.sockets] == [(1, 3, True), (2, 3, False)]
        await write_member(client, (20.0, 24.0, 30.0))
        assert [sp.value for sp in s.station.energy.setpoints.phases] == [20.0, 24.0, 30.0]
        s.station.publish()
        assert s.station.energy.last_offers[1] == 20.0
    finally:
        await client.close()
        s.client.close()
        await s.slave.stop()


async def test_a_coordinators_slave_refuses_scn_setpoints(tmp_path: Path) -> None:
    s = await make(tmp_path, {"MbsSlaveTCPIPMode": "SCN"})
    s.slave.coordinator = True
    client = ModbusClient("127.0.0.1", s.slave.port)
    try:
        with pytest.raises(ModbusError) as err:
            await write_member(client, (20.0, 20.0, 20.0))
        assert err.value.code == COORDINATOR_REFUSES
        assert [sp.value for sp in s.station.energy.setpoints.phases] == [0.0, 0.0, 0.0]
        assert any("second coordinator" in t for t in s.station.traces)
    finally:
        await client.close()
        s.client.close()
        await s.slave.stop()


async def test_an_unreachable_member_raises_a_modbus_error() -> None:
    client = ModbusClient("127.0.0.1", 9, timeout_s=0.5)  # discard port: nothing listens
    with pytest.raises(ModbusError):
        await poll_member(client, MemberSpec("127.0.0.1", 9))


async def test_members_are_found_over_mdns_on_loopback() -> None:
    members: list[MemberSpec] = []
    coordinators: list[str] = []
    found = asyncio.Event()

    def member(spec: MemberSpec) -> None:
        members.append(spec)
        found.set()

    def coordinator(address: str) -> None:
        coordinators.append(address)

    m = Announcer("scn-test-member", "127.0.0.1", 15021, {"network": "T1", "role": "member", "mapping": "8"})
    other = Announcer("scn-test-other", "127.0.0.1", 15022, {"network": "T2", "role": "member", "mapping": "4"})
    c2 = Announcer("scn-test-c2", "127.0.0.1", 15023, {"network": "T1", "role": "coordinator", "mapping": "4"})
    b = Browser("127.0.0.1", "T1", "scn-test-me", member, coordinator)
    for part in (m, other, c2):
        await part.start()
    await b.start()
    try:
        await asyncio.wait_for(found.wait(), 10)
        for _ in range(100):
            if coordinators:
                break
            await asyncio.sleep(0.05)
        assert members == [MemberSpec("127.0.0.1", 15021, 8, 32.0)]  # not the one of another network
        assert coordinators == ["127.0.0.1:15023"]
    finally:
        await b.stop()
        for part in (m, other, c2):
            await part.stop()


class OwnEnergy:
    """The coordinator's own energy management, as far as the service asks it."""

    modbus_enabled = True

    def __init__(self) -> None:
        self.setpoints: list[float] = [0.0, 0.0, 0.0]

    def write_phase_setpoint(self, phase: int, value: float) -> None:
        self.setpoints[phase] = value

    def settings(self) -> Any:
        return EnergySettings()


class Listening:
    coordinator = False
    running = True

    def __init__(self, port: int) -> None:
        self.port = port


async def test_a_discovering_coordinator_adds_the_members_it_finds_and_refuses_setpoints(tmp_path: Path) -> None:
    config = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    slave = Listening(15031)
    service = ScnService(config, FakeClock(), {}, {}, OwnEnergy(), slave,  # type: ignore[arg-type]
                         {"role": "coordinator", "discover": True}, "127.0.0.1", lambda s: None)
    member = Announcer("scn-test-m2", "127.0.0.1", 15032, {"network": "SCN1", "role": "member", "mapping": "7"})
    await member.start()
    task = asyncio.ensure_future(service.run())
    try:
        assert service.coordinator is not None
        for _ in range(200):
            if service.coordinator.members:
                break
            await asyncio.sleep(0.05)
        assert list(service.coordinator.members.values()) == [MemberSpec("127.0.0.1", 15032, 7, 32.0)]
        assert slave.coordinator  # its own slave now refuses SCN setpoints
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await member.stop()
