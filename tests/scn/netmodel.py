"""A model network for the coordinator's tests on the fake clock: stations that behave like a member's energy
management in SCN mode (hold the setpoints for the validity time, then fall back to the safe current per
socket), reached through fake Modbus clients that answer from the real register map, with delays, lost
answers and unreachable stations on demand; and the coordinator's own station."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from controller.clock import FakeClock
from controller.modbus import codec
from controller.modbus.registers import SOCKET_MAP, STATION_MAP, STATION_UNIT
from controller.scn.allocation import feeder_phases
from controller.scn.client import ModbusError
from controller.scn.stations import COORDINATOR_REFUSES


@dataclass
class ModelStation:
    """One station: which sockets have a car asking, its setpoints and when they reached it."""

    clock: FakeClock
    validity_s: float
    safe_a: float
    asking: dict[int, bool]
    max_a: float = 32.0
    mapping: int = 4
    phases: int = 3  # its sockets are wired for 1 or 3 phases (from its L1)
    draw: float = 0.0  # what each asking socket's car takes (reported in 1405..1409)
    scn: bool = True
    coordinator: bool = False  # refuses setpoints (exception 01)
    sp: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    at: float | None = None
    # transport faults
    unreachable: bool = False
    delay_s: float = 0.0  # a write reaches the station this long after it was sent
    lose_answers: bool = False  # the write arrives, its answer does not

    def valid(self, now: float) -> bool:
        return self.at is not None and now < self.at + self.validity_s

    def apply(self, values: list[float]) -> None:
        self.sp, self.at = list(values), self.clock.monotonic()

    def reset(self) -> None:
        """A restart: setpoints are not kept."""
        self.sp, self.at = [0.0, 0.0, 0.0], None

    def offered(self) -> list[float]:
        """What its sockets are offered per feeder phase (an upper bound of the member's allocation)."""
        n = sum(1 for a in self.asking.values() if a)
        now = self.clock.monotonic()
        if not self.scn:
            station = [n * self.max_a] * 3
        elif self.valid(now):
            station = [min(self.sp[q], n * self.max_a) for q in range(3)]
        else:
            station = [n * min(self.safe_a, self.max_a)] * 3
        station = [a if q < self.phases else 0.0 for q, a in enumerate(station)]
        out = [0.0, 0.0, 0.0]
        for q, p in enumerate(feeder_phases(self.mapping)):
            out[p] += station[q]
        return out

    # the registers a member's slave serves
    def station_values(self) -> dict[str, Any]:
        vals: dict[str, Any] = {"scn_sockets": len(self.asking), "scn_enabled": 1 if self.scn else 0}
        now = self.clock.monotonic()
        left = 0 if self.at is None else max(0.0, self.at + self.validity_s - now)
        for q in range(3):
            vals[f"scn_setpoint_l{q + 1}"] = self.sp[q]
            vals[f"scn_valid_l{q + 1}"] = math.ceil(left)
            vals[f"scn_total_l{q + 1}"] = self.draw * sum(self.asking.values()) if q < self.phases else 0.0
        return vals

    def socket_values(self, cid: int) -> dict[str, Any]:
        return {"available": 1, "mode3_state": "C2" if self.asking[cid] else "A", "phases": self.phases}


class ModelClient:
    """Stands in for `ModbusClient`: answers from the real register map of a `ModelStation`."""

    def __init__(self, station: ModelStation) -> None:
        self.station = station
        self.writes = 0

    async def read(self, unit: int, addr: int, count: int) -> list[int]:
        st = self.station
        if st.unreachable:
            raise ModbusError("unreachable")
        fmap, values = (STATION_MAP, st.station_values) if unit == STATION_UNIT else (SOCKET_MAP, lambda: st.socket_values(unit))
        regs = fmap.read(addr, count, values)
        assert not isinstance(regs, int), f"read outside the map: unit {unit} {addr} x{count}"
        return regs

    async def write(self, unit: int, addr: int, regs: list[int]) -> None:
        st = self.station
        if st.unreachable:
            raise ModbusError("unreachable")
        assert unit == STATION_UNIT and addr == STATION_MAP.field("scn_setpoint_l1").addr and len(regs) == 6
        if st.coordinator:
            raise ModbusError("exception 1", COORDINATOR_REFUSES)
        self.writes += 1
        if st.delay_s:
            await st.clock.sleep(st.delay_s)
        st.apply([codec.decode_float32(regs[2 * q : 2 * q + 2]) for q in range(3)])
        if st.lose_answers:
            raise ModbusError("no answer")

    async def close(self) -> None:
        pass


@dataclass
class OwnSocket:
    cp_state: str = "A"
    unavailable: bool = False


class OwnStation:
    """The coordinator's own station: its sockets view and its energy management's setpoints."""

    modbus_enabled = True

    def __init__(self, model: ModelStation) -> None:
        self.model = model
        self.views = {cid: OwnSocket() for cid in model.asking}

    def sync(self) -> None:
        for cid, a in self.model.asking.items():
            self.views[cid].cp_state = "C" if a else "A"

    # SocketsView
    def __contains__(self, cid: object) -> bool:
        return cid in self.views

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.views)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, cid: int) -> OwnSocket:
        return self.views[cid]

    # OwnEnergy
    def write_phase_setpoint(self, phase: int, value: float) -> None:
        sp = list(self.model.sp)
        sp[phase] = value
        self.model.apply(sp)
