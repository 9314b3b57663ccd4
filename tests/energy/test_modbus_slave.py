"""The Alfen-compatible Modbus TCP slave on loopback, driven by the real pymodbus client.

The station behind it is a small stand-in (the real registry, EnergyManager and fake clock, socket views set by
the test), so validity times run on the fake clock; the rig test in test_integration.py covers the real thing.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from board.loader import Board, builtin_board, load_board
from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.manager import EnergyManager
from controller.modbus import codec
from controller.modbus.registers import SOCKET_MAP, STATION_MAP
from controller.modbus.slave import AlfenSlave, SlaveBoard, mode3_state
from controller.station.sockets import Sockets
from tests.energy.conftest import Client


@dataclass
class FakeLink:
    online: bool = True


@dataclass
class FakeStation:
    config: ConfigRegistry
    board: Board
    clock: FakeClock = field(default_factory=FakeClock)
    link: FakeLink = field(default_factory=FakeLink)
    traces: list[str] = field(default_factory=list)
    views: Sockets = field(init=False)
    active: set[int] = field(default_factory=set)
    energy: Any = None

    def __post_init__(self) -> None:
        self.views = Sockets([c.id for c in self.board.connectors], self.clock.monotonic)
        self.views.temperature_c = 31.5
        self.energy = EnergyManager(
            self.config, self.clock, {c.id: c.phases for c in self.board.connectors}, None,
            lambda: {cid: v.currents if v.meter else None for cid, v in self.views.items()}, self.publish,
        )

    def trace(self, text: str) -> None:
        self.traces.append(text)

    def publish(self) -> None:
        self.energy.offers({cid: 32.0 for cid in self.views}, self.active)


def slave_for(st: FakeStation, port: int = 0, **kw: Any) -> AlfenSlave:
    """The slave with the ports it names: energy, clock, settings, the sockets mirror, the link, the board."""
    board = SlaveBoard(st.board.name, "EVE-TEST-1", {c.id: c.phases for c in st.board.connectors},
                       {c.id: c.devices["meter"].driver for c in st.board.connectors})
    return AlfenSlave(st.energy, st.clock, st.config, st.views, st.link, board, st.trace, "127.0.0.1", port, **kw)


@dataclass
class Setup:
    station: FakeStation
    slave: AlfenSlave
    client: Client


CONFIG = {"MbsSlaveTCPIP": "On", "MbsSlaveTCPIPValidityTime": "30", "Safe-MaxCurrent": "6.5",
          "SCN-NetworkName": "GARAGE"}


async def make(tmp_path: Path, config: dict[str, str] | None = None, idle_s: float = 60.0) -> Setup:
    reg = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    for k, v in {**CONFIG, **(config or {})}.items():
        assert reg.set(k, v) in ("Accepted", "RebootRequired"), (k, v)
    reg.set_internal("DeviceIdentity", "SN-000123")  # read-only: set by the station itself
    st = FakeStation(reg, load_board(builtin_board("sim-double")))
    slave = slave_for(st, idle_timeout_s=idle_s)
    port = await slave.start()
    assert port
    client = Client(port)
    assert await client.connect()
    return Setup(st, slave, client)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    s = await make(tmp_path)
    try:
        yield s
    finally:
        s.client.close()
        await s.slave.stop()


def f32(regs: list[int], i: int = 0) -> float:
    return codec.decode_float32(regs[i : i + 2])


def charging(st: FakeStation, cid: int = 1, amps: float = 15.8) -> None:
    v = st.views[cid]
    v.cp_state, v.pwm_duty, v.contactor = "C", 26.67, "closed"
    v.meter = {"currents": [amps, amps, amps], "voltages": [230.0, 231.0, 229.5], "power_w": 3 * 230 * amps,
               "energy_wh": 1234.5}
    v.meter_at = st.clock.monotonic()
    st.active.add(cid)
    st.publish()


async def test_identification_strings_nul_padded(setup: Setup) -> None:
    c = setup.client
    regs = await c.regs(200, 100, 79)  # the whole identification block in one read
    assert codec.decode_string(regs[0:17]) == "EVE-TEST-1"
    assert regs[16] == 0x0000  # NUL-padded, never 0xFFFF
    assert codec.decode_string(regs[17:22]) == "OpenCharge"  # 10 characters fit
    assert regs[22] == 1  # table version
    assert codec.decode_string(regs[23:40]) == "0.1.0"
    assert codec.decode_string(regs[40:57]) == "sim-double"
    assert codec.decode_string(regs[57:68]) == "SN-000123"
    assert regs[68:74] == [2026, 1, 1, 12, 0, 0]  # the fake clock's UTC wall time
    assert codec.decode_uint(regs[74:78]) == 0  # uptime ms
    assert regs[78] == 0  # UTC
    setup.station.clock.jump(12.5)
    assert codec.decode_uint(await c.regs(200, 174, 4)) == 12500


async def test_station_status_and_scn_block(setup: Setup) -> None:
    c, st = setup.client, setup.station
    charging(st, 1, 10.0)
    regs = await c.regs(200, 1100, 6)
    assert f32(regs, 0) == 32.0  # station active max current
    assert f32(regs, 2) == 31.5
    assert regs[4:6] == [1, 2]  # OCPP connected, 2 sockets
    st.link.online = False
    st.views.temperature_c = None
    regs = await c.regs(200, 1100, 6)
    assert math.isnan(f32(regs, 2)) and regs[2:4] == [0xFFFF, 0xFFFF] and regs[4] == 0
    regs = await c.regs(200, 1400, 32)
    assert codec.decode_string(regs[0:4]) == "GARAGE"
    assert regs[4] == 2
    assert [f32(regs, i) for i in (5, 7, 9)] == [10.0, 10.0, 10.0]  # the station's draw per phase
    assert [f32(regs, i) for i in (17, 19, 21)] == [0.0, 0.0, 0.0]  # no SCN setpoint written yet
    assert f32(regs, 29) == 6.5 and regs[31] == 0  # safe current; mode Socket, not SCN


async def test_socket_measurements_while_charging(setup: Setup) -> None:
    c, st = setup.client, setup.station
    regs = await c.regs(1, 300, 125)  # evcc / HA read the meter in big blocks
    assert regs[0] == 0x00 and regs[1:5] == [0xFFFF] * 4  # no sample yet: not initialised, no age
    charging(st, 1, 15.8)
    st.clock.jump(0.5)
    regs = await c.regs(1, 300, 125) + await c.regs(1, 425, 1)
    assert regs[0] == 0x03  # initialised + updated
    assert codec.decode_uint(regs[1:5]) == 500
    assert regs[5] == 4  # meter type: other (simulated)
    v = [f32(regs, 6 + 2 * i) for i in range(11)]  # 306..326
    assert v[0:3] == [230.0, 231.0, 229.5]
    assert all(math.isnan(x) for x in v[3:7])  # line voltages, N current: not measured
    assert v[7:10] == pytest.approx([15.8] * 3) and v[10] == pytest.approx(47.4)
    assert f32(regs, 44) == pytest.approx(3 * 230 * 15.8)  # 344 real power sum
    assert math.isnan(f32(regs, 38))  # 338 real power L1: not measured
    assert struct.unpack(">d", struct.pack(">4H", *regs[74:78]))[0] == 1234.5  # 374 energy delivered (Wh)
    for addr, count in ((306, 22), (328, 34), (362, 64), (320, 6), (344, 2), (374, 4)):
        await c.regs(1, addr, count)
    regs = await c.regs(1, 1200, 16)
    assert regs[0] == 1
    assert codec.decode_string(regs[1:6]) == "C2"
    assert f32(regs, 6) == 6.5  # applied max current: MbsSlaveTCPIP On and nothing written: the safe current
    assert regs[14] == 0 and regs[15] == 3  # setpoint not used (none written), charging on 3 phases
    st.views[1].unavailable = True
    assert (await c.regs(1, 1200, 1)) == [0]
    regs = await c.regs(2, 300, 1)
    assert regs == [0]  # the other socket: nothing measured


async def test_write_max_current_applies_and_falls_back_after_validity(setup: Setup) -> None:
    c, st = setup.client, setup.station
    charging(st, 1)
    regs = await c.regs(1, 1206, 10)
    assert f32(regs, 0) == 6.5  # MbsSlaveTCPIP On, mode Socket, nothing written: the safe current
    assert f32(regs, 4) == 0.0 and codec.decode_uint(regs[2:4]) == 0  # 1210 reads 0.0, 1208 0 s
    rr = await c.write(1, 1210, codec.float32(10.7))
    assert not rr.isError(), rr
    regs = await c.regs(1, 1206, 10)
    assert f32(regs, 4) == pytest.approx(10.7)  # read back as written
    assert f32(regs, 0) == pytest.approx(10.7)  # the applied limit follows
    assert codec.decode_uint(regs[2:4]) == 30 and regs[8] == 1
    assert f32(regs, 6) == 6.5  # 1212 safe current
    st.clock.jump(25)
    assert codec.decode_uint(await c.regs(1, 1208, 2)) == 5
    rr = await c.write(1, 1210, codec.float32(12.0))  # the keep-alive rewrite restarts the countdown
    st.clock.jump(25)
    assert codec.decode_uint(await c.regs(1, 1208, 2)) == 5
    st.clock.jump(5.01)
    st.publish()  # the station re-allocates every second
    regs = await c.regs(1, 1206, 10)
    assert f32(regs, 0) == 6.5 and codec.decode_uint(regs[2:4]) == 0 and regs[8] == 0
    assert f32(regs, 4) == 12.0  # still reads back the last value written
    await c.write(1, 1210, codec.float32(0.0))  # 0 pauses
    assert f32(await c.regs(1, 1206, 2)) == 0.0


async def test_exceptions(setup: Setup) -> None:
    c = setup.client
    for unit, addr, count in ((1, 0, 1), (1, 299, 2), (1, 1216, 1), (1, 1199, 2), (1, 426, 1), (200, 99, 1),
                              (200, 179, 1), (200, 1100, 10), (200, 1432, 1), (1, 400, 30)):
        rr = await c.read(unit, addr, count)
        assert rr.isError() and rr.exception_code == 2, (unit, addr, count)
    rr = await c.call(c.raw.read_input_registers, 300, count=2, device_id=1)
    assert rr.isError() and rr.exception_code == 1
    rr = await c.call(c.raw.read_coils, 0, count=1, device_id=1)
    assert rr.isError() and rr.exception_code == 1
    rr = await c.call(c.raw.write_coil, 0, True, device_id=1)
    assert rr.isError() and rr.exception_code == 1
    rr = await c.read(7, 300, 1)
    assert rr.isError() and rr.exception_code == 0x0B  # no such unit
    # writes: read-only registers, partial 32-bit values, bad values
    assert (await c.write(1, 1206, codec.float32(10))).exception_code == 2
    assert (await c.write1(1, 1210, 0x4120)).exception_code == 2  # FC06 on half a float
    assert (await c.write(1, 1210, [0x4120])).exception_code == 2  # FC16, one register of two
    assert (await c.write(1, 1211, [0])).exception_code == 2  # the low word alone
    assert (await c.write(1, 1210, [*codec.float32(10), 0])).exception_code == 2  # runs into read-only 1212
    assert (await c.write(1, 1210, codec.float32(float("nan")))).exception_code == 3
    assert (await c.write(1, 1210, codec.float32(-1))).exception_code == 3
    assert f32(await c.regs(1, 1210, 2)) == 0.0  # nothing of that was taken


async def test_phase_register(tmp_path: Path) -> None:
    s = await make(tmp_path)
    c = s.client
    try:
        assert (await c.write1(1, 1215, 3)).exception_code == 3  # EnablePhaseSwitching is false
        s.station.config.set("EnablePhaseSwitching", "true")
        assert not (await c.write1(1, 1215, 3)).isError()  # the present number: accepted, FC06 ...
        assert not (await c.write(1, 1215, [3])).isError()  # ... and FC16
        assert (await c.write1(1, 1215, 1)).exception_code == 3  # no phase-switch relay on this board
        assert (await c.write1(1, 1215, 2)).exception_code == 3
        assert (await c.regs(1, 1215, 1)) == [3]
    finally:
        c.close()
        await s.slave.stop()


async def test_scn_setpoints(tmp_path: Path) -> None:
    s = await make(tmp_path, {"MbsSlaveTCPIPMode": "SCN", "Safe-MaxCurrent": "6"})
    c, st = s.client, s.station
    try:
        charging(st, 1)
        charging(st, 2)
        rr = await c.write(200, 1417, [*codec.float32(20), *codec.float32(24), *codec.float32(30)])
        assert not rr.isError(), rr
        regs = await c.regs(200, 1411, 21)
        assert [f32(regs, i) for i in (6, 8, 10)] == [20.0, 24.0, 30.0]  # read back
        assert [codec.decode_uint(regs[i : i + 2]) for i in (12, 14, 16)] == [30, 30, 30]
        assert regs[20] == 1  # SCN mode
        assert [f32(regs, i) for i in (0, 2, 4)] == [20.0, 24.0, 30.0]  # the station's room per phase
        assert st.energy.last_offers == {1: 10.0, 2: 10.0}
        assert (await c.regs(1, 1214, 1)) == [0]  # socket setpoints are not what counts in SCN mode
        st.clock.jump(31)
        st.publish()
        assert st.energy.last_offers == {1: 6.0, 2: 0.0}
        assert (await c.write1(200, 1417, 0x41A0)).exception_code == 2
    finally:
        c.close()
        await s.slave.stop()


async def test_two_masters_at_most_and_idle_connections_closed(tmp_path: Path) -> None:
    s = await make(tmp_path, idle_s=0.5)
    second = Client(s.slave.port)
    try:
        assert await second.connect()
        await second.regs(200, 1105, 1)
        # a third master is turned away
        r, w = await asyncio.open_connection("127.0.0.1", s.slave.port)
        assert await asyncio.wait_for(r.read(1), 2) == b""
        w.close()
        assert s.slave.server.refused == 1
        # idle for longer than the timeout: closed by the slave
        await asyncio.sleep(0.8)
        assert s.slave.server.clients == 0 and s.slave.server.idle_closed == 2
        r, w = await asyncio.open_connection("127.0.0.1", s.slave.port)  # room again
        w.write(struct.pack(">HHHB", 9, 0, 6, 200) + struct.pack(">BHH", 3, 1105, 1))
        assert await asyncio.wait_for(r.readexactly(11), 2) == struct.pack(">HHHBBBH", 9, 0, 5, 200, 3, 2, 2)
        w.write(struct.pack(">HHHB", 10, 1, 6, 200) + b"\x03\x04\x51\x00\x01")  # protocol id 1: sync lost
        assert await asyncio.wait_for(r.read(1), 2) == b""
        w.close()
    finally:
        second.close()
        s.client.close()
        await s.slave.stop()


async def test_slave_only_listens_when_enabled(tmp_path: Path) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    st = FakeStation(reg, load_board(builtin_board("sim")))
    slave = slave_for(st)
    assert await slave.start() is None and not slave.running  # MbsSlaveTCPIP Off (the default)
    assert reg.set("MbsSlaveTCPIP", "On") == "RebootRequired"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        slave = slave_for(st, busy.getsockname()[1])
        assert await slave.start() is None  # the port is taken: reported, the station goes on
    assert any("cannot listen" in t for t in st.traces)


def test_register_map_blocks_and_mode3_states() -> None:
    assert STATION_MAP.blocks == [(100, 179), (1100, 1106), (1400, 1432)]
    assert SOCKET_MAP.blocks == [(300, 426), (1200, 1216)]
    assert [mode3_state(s, p) for s, p in (("A", False), ("B", False), ("B", True), ("C", True), ("C", False),
                                          ("D", True), ("E", False), ("F", False))] == \
        ["A", "B1", "B2", "C2", "C1", "D2", "E", "F"]
    assert codec.string("AB", 2) == [0x4142, 0x0000]
    assert codec.float32(None) == [0xFFFF, 0xFFFF] and math.isnan(codec.decode_float32([0xFFFF, 0xFFFF]))
