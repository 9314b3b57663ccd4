"""What the coordinator learns of each station of the network, and how it writes their setpoints: members
over their Modbus TCP slave (unit 200 for the station, units 1/2 for the sockets; the Alfen map in
`controller.modbus.registers`), its own station in-process.

Per member and round: one read of unit 200 1400..1431 (socket count, setpoints, "SCN enabled") and one of
1200..1215 per socket (availability, Mode 3 state, phases); a car is asking when the socket is available and
in state B, C or D. The setpoints (1417..1421, the station's L1..L3) are written in one request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from controller.modbus import codec
from controller.modbus.registers import SOCKET_MAP, STATION_MAP, STATION_UNIT
from controller.scn.allocation import NetSocket, feeder_phases
from controller.scn.client import ModbusClient
from controller.scn.settings import MemberSpec

_STATION_BLOCK = (1400, 32)
_SOCKET_BLOCK = (1200, 16)
_SETPOINTS = STATION_MAP.field("scn_setpoint_l1").addr
COORDINATOR_REFUSES = 0x01
UNREADABLE = float("inf")  # setpoints that do not read back as numbers: what it holds is unknown  # a coordinator's slave answers an SCN setpoint write with exception 01


@dataclass(frozen=True)
class SocketSeen:
    cid: int
    phases: int  # 1 or 3: the station phases it draws on (from L1)
    asking: bool


@dataclass(frozen=True)
class StationView:
    name: str
    mapping: int
    max_current: float
    sockets: tuple[SocketSeen, ...] = ()
    reachable: bool = True
    scn_mode: bool = True
    error: str | None = None
    draw: tuple[float, float, float] = (0.0, 0.0, 0.0)  # per feeder phase, as the station reports it
    held: tuple[float, float, float] = (0.0, 0.0, 0.0)  # its setpoints as read back (its own L1..L3)
    held_s: float = 0.0  # the longest validity they have left

    def net_sockets(self) -> list[NetSocket]:
        return [
            NetSocket((self.name, s.cid), feeder_phases(self.mapping, s.phases), self.max_current,
                      s.asking, self.reachable and self.scn_mode)
            for s in self.sockets
        ]

    def safe(self, safe_a: float) -> tuple[float, float, float]:
        """Per feeder phase: what its sockets draw on the safe current."""
        out = [0.0, 0.0, 0.0]
        for s in self.net_sockets():
            for p in s.phases:
                out[p] += safe_a
        return (out[0], out[1], out[2])

    def to_feeder(self, station: Sequence[float]) -> tuple[float, float, float]:
        """Setpoints of the station's own L1..L3 as the feeder phases see them."""
        out = [0.0, 0.0, 0.0]
        for q, p in enumerate(feeder_phases(self.mapping)):
            out[p] = station[q]
        return (out[0], out[1], out[2])


def asking(state: str, available: bool) -> bool:
    return available and state[:1] in ("B", "C", "D")


def _station(regs: list[int], name: str) -> list[int]:
    """The registers of station field `name` within the unit 200 block read."""
    f = STATION_MAP.field(name)
    return regs[f.addr - _STATION_BLOCK[0] : f.end - _STATION_BLOCK[0]]


def _socket(regs: list[int], name: str) -> list[int]:
    """The registers of socket field `name` within the socket block read."""
    f = SOCKET_MAP.field(name)
    return regs[f.addr - _SOCKET_BLOCK[0] : f.end - _SOCKET_BLOCK[0]]


async def poll_member(client: ModbusClient, spec: MemberSpec) -> StationView:
    """Read one member; a station that does not answer is `reachable=False` with the sockets last seen."""
    st = await client.read(STATION_UNIT, *_STATION_BLOCK)
    count = _station(st, "scn_sockets")[0]
    scn = _station(st, "scn_enabled")[0] == 1
    seen = []
    for cid in range(1, min(count, 2) + 1):
        regs = await client.read(cid, *_SOCKET_BLOCK)
        available = _socket(regs, "available")[0] == 1
        state = codec.decode_string(_socket(regs, "mode3_state"))
        phases = _socket(regs, "phases")[0]
        seen.append(SocketSeen(cid, 1 if phases == 1 else 3, asking(state, available)))
    err = None if scn else "its MbsSlaveTCPIPMode is not SCN: its sockets are counted at their maximum"
    own = [codec.decode_float32(_station(st, f"scn_total_l{q + 1}")) for q in range(3)]
    held = [codec.decode_float32(_station(st, f"scn_setpoint_l{q + 1}")) for q in range(3)]
    left = [codec.decode_uint(_station(st, f"scn_valid_l{q + 1}")) for q in range(3)]
    view = StationView(spec.name, spec.phase_mapping, spec.max_current, tuple(seen), True, scn, err)
    return replace(view, draw=view.to_feeder([a if math.isfinite(a) else 0.0 for a in own]),
                   held=(held[0], held[1], held[2]) if all(math.isfinite(a) for a in held) else (UNREADABLE,) * 3,
                   held_s=float(max(left)))


async def write_member(client: ModbusClient, station: Sequence[float]) -> None:
    regs: list[int] = []
    for v in station:
        regs += codec.float32(float(v))
    await client.write(STATION_UNIT, _SETPOINTS, regs)

