"""The register map of Alfen NG9xx stations as data, and the rules for reading and writing it (pure).

Unit 200 is the station, units 1 and 2 the sockets (reference/alfen-modbus-slave-registers.md). Addresses are
0-based PDU addresses. Rules:
- A read must lie inside one defined block (a run of defined registers); anything else is exception 02
  (illegal data address). Inside a block any range may be read, also half of a 32-bit value (clients read
  large blocks and slice them).
- A write must cover whole writable values: every register written belongs to a writable field and every
  field touched is written completely, in one request. A partial write of a 32/64-bit value, or a write that
  touches a read-only register, is exception 02 and changes nothing.
- Values are checked by the slave (exception 03, illegal data value).

What some registers mean where the value is not simply a stored one (`station_max_current`,
`phase_max_currents`): 1100 "station active max current" is the least room of the grid phases the station is
connected to (Phase-Connected): a phase it does not draw on limits nothing, however loaded it is; 1411..1415
"actual max current L1/L2/L3" is that room per grid phase, 0 on a phase the station is not connected to.
Neither is negative (a house load above the fuse leaves the station nothing, not less).
1206 "actual applied max current" is what energy management applies to the socket, the minimum of every
limit (see `controller.energy.manager`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.modbus import codec

ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03
DEVICE_FAILURE = 0x04
GATEWAY_TARGET_FAILED = 0x0B

STATION_UNIT = 200
SOCKET_UNITS = (1, 2)

STRING, U16, I16, U32, U64, F32, F64 = "STRING", "UINT16", "INT16", "UINT32", "UINT64", "FLOAT32", "FLOAT64"
_SIZE = {U16: 1, I16: 1, U32: 2, U64: 4, F32: 2, F64: 4}


@dataclass(frozen=True)
class Field:
    addr: int
    type: str
    name: str
    regs: int = 0  # only for STRING; the others take their size from the type
    writable: bool = False

    @property
    def size(self) -> int:
        return self.regs if self.type == STRING else _SIZE[self.type]

    @property
    def end(self) -> int:
        return self.addr + self.size

    def encode(self, value: Any) -> list[int]:
        t = self.type
        if t == STRING:
            return codec.string("" if value is None else str(value), self.size)
        if t in (U16, U32, U64):
            return codec.uint(value, self.size)
        if t == I16:
            return codec.int16(value)
        if t == F32:
            return codec.float32(value)
        return codec.float64(value)


def _f32s(start: int, names: Sequence[str], writable: bool = False) -> list[Field]:
    return [Field(start + 2 * i, F32, n, writable=writable) for i, n in enumerate(names)]


def _f64s(start: int, names: Sequence[str]) -> list[Field]:
    return [Field(start + 4 * i, F64, n) for i, n in enumerate(names)]


STATION_FIELDS: tuple[Field, ...] = (
    # product identification
    Field(100, STRING, "name", 17),
    Field(117, STRING, "manufacturer", 5),
    Field(122, I16, "table_version"),
    Field(123, STRING, "firmware", 17),
    Field(140, STRING, "platform", 17),
    Field(157, STRING, "serial", 11),
    Field(168, I16, "year"),
    Field(169, I16, "month"),
    Field(170, I16, "day"),
    Field(171, I16, "hour"),
    Field(172, I16, "minute"),
    Field(173, I16, "second"),
    Field(174, U64, "uptime_ms"),
    Field(178, I16, "tz_offset_min"),
    # station status
    Field(1100, F32, "station_max_a"),
    Field(1102, F32, "temperature_c"),
    Field(1104, U16, "ocpp_connected"),
    Field(1105, U16, "sockets"),
    # Smart Charging Network
    Field(1400, STRING, "scn_name", 4),
    Field(1404, U16, "scn_sockets"),
    *_f32s(1405, ("scn_total_l1", "scn_total_l2", "scn_total_l3")),
    *_f32s(1411, ("scn_max_l1", "scn_max_l2", "scn_max_l3")),
    *_f32s(1417, ("scn_setpoint_l1", "scn_setpoint_l2", "scn_setpoint_l3"), writable=True),
    Field(1423, U32, "scn_valid_l1"),
    Field(1425, U32, "scn_valid_l2"),
    Field(1427, U32, "scn_valid_l3"),
    Field(1429, F32, "scn_safe_a"),
    Field(1431, U16, "scn_enabled"),
)

_PH = ("l1", "l2", "l3")
SOCKET_FIELDS: tuple[Field, ...] = (
    # energy meter
    Field(300, U16, "meter_state"),
    Field(301, U64, "meter_age_ms"),
    Field(305, U16, "meter_type"),
    *_f32s(306, ("v_l1", "v_l2", "v_l3", "v_l1l2", "v_l2l3", "v_l3l1", "i_n", "i_l1", "i_l2", "i_l3", "i_sum")),
    *_f32s(328, ("pf_l1", "pf_l2", "pf_l3", "pf_sum", "frequency")),
    *_f32s(338, [f"p_{p}" for p in _PH] + ["p_sum"]),
    *_f32s(346, [f"s_{p}" for p in _PH] + ["s_sum"]),
    *_f32s(354, [f"q_{p}" for p in _PH] + ["q_sum"]),
    *_f64s(362, [f"e_delivered_{p}" for p in _PH] + ["e_delivered_sum"]),
    *_f64s(378, [f"e_consumed_{p}" for p in _PH] + ["e_consumed_sum"]),
    *_f64s(394, [f"e_apparent_{p}" for p in _PH] + ["e_apparent_sum"]),
    *_f64s(410, [f"e_reactive_{p}" for p in _PH] + ["e_reactive_sum"]),
    # status and control
    Field(1200, U16, "available"),
    Field(1201, STRING, "mode3_state", 5),
    Field(1206, F32, "applied_max_a"),
    Field(1208, U32, "valid_s"),
    Field(1210, F32, "setpoint_a", writable=True),
    Field(1212, F32, "safe_a"),
    Field(1214, U16, "setpoint_used"),
    Field(1215, U16, "phases", writable=True),
)


class RegisterMap:
    """One unit's fields, with its blocks (maximal runs of consecutive defined registers)."""

    def __init__(self, fields: Sequence[Field]) -> None:
        self.fields = tuple(sorted(fields, key=lambda f: f.addr))
        self._by_reg: dict[int, Field] = {}
        for f in self.fields:
            for r in range(f.addr, f.end):
                if r in self._by_reg:
                    raise ValueError(f"register {r} defined twice")
                self._by_reg[r] = f
        self.blocks: list[tuple[int, int]] = []
        for f in self.fields:
            if self.blocks and self.blocks[-1][1] == f.addr:
                self.blocks[-1] = (self.blocks[-1][0], f.end)
            else:
                self.blocks.append((f.addr, f.end))

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def readable(self, addr: int, count: int) -> bool:
        return count >= 1 and any(start <= addr and addr + count <= end for start, end in self.blocks)

    def read(self, addr: int, count: int, values: Callable[[], Mapping[str, Any]]) -> list[int] | int:
        """The registers [addr, addr + count), or an exception code. `values` is only asked when the range is
        valid; a field it does not name reads as missing."""
        if not self.readable(addr, count):
            return ILLEGAL_ADDRESS
        vals = values()
        out: list[int] = []
        r = addr
        while r < addr + count:
            f = self._by_reg[r]
            regs = f.encode(vals.get(f.name))
            take = regs[r - f.addr : min(f.size, addr + count - f.addr)]
            out.extend(take)
            r += len(take)
        return out

    def plan_write(self, addr: int, regs: Sequence[int]) -> list[tuple[Field, list[int]]] | int:
        """The whole fields a write sets, with their raw registers; or exception 02."""
        if not regs:
            return ILLEGAL_VALUE
        out: list[tuple[Field, list[int]]] = []
        r = addr
        end = addr + len(regs)
        while r < end:
            f = self._by_reg.get(r)
            if f is None or not f.writable or f.addr != r or f.end > end:
                return ILLEGAL_ADDRESS
            out.append((f, list(regs[r - addr : f.end - addr])))
            r = f.end
        return out


def phase_max_currents(room: Sequence[float | None], connected: Sequence[int], station_max: float) -> list[float]:
    """1411/1413/1415: the room per grid phase; 0 where the station is not connected, never below 0."""
    out = [0.0, 0.0, 0.0]
    for p in connected:
        r = room[p]
        out[p] = max(0.0, station_max if r is None else r)
    return out


def station_max_current(room: Sequence[float | None], connected: Sequence[int], station_max: float) -> float:
    """1100: the least room of the grid phases the station is connected to."""
    per_phase = phase_max_currents(room, connected, station_max)
    return min(per_phase[p] for p in connected) if connected else 0.0


STATION_MAP = RegisterMap(STATION_FIELDS)
SOCKET_MAP = RegisterMap(SOCKET_FIELDS)
