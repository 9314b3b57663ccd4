"""Setpoints an energy manager writes over Modbus (pure, time comes in as `now`), with their validity.

Each setpoint is a maximum current (A) that counts for MbsSlaveTCPIPValidityTime seconds after its last write;
every write restarts the countdown. Per socket (Alfen unit 1/2 register 1210) and per phase of the station
(unit 200 registers 1417/1419/1421, "SCN max current L1/L2/L3"). They are not kept over a restart.

How they limit (MbsSlaveTCPIPMode, only while MbsSlaveTCPIP is On):
- "Socket": a socket's limit is its setpoint while valid, else Safe-MaxCurrent. Before the first write a
  socket is on Safe-MaxCurrent (register 1208 reads 0 s left: already fallen back).
- "SCN": the station may draw per grid phase the phase setpoint while valid, else Safe-MaxCurrent, and each
  socket then at most SCN-SocketSafeCurrent (what the network's coordinator counts it at).
- "Off": setpoints are stored and read back, and limit nothing (register 1214 reads 0).
A setpoint of 0 pauses the socket; anything below 6 A does too (the allocation's 6 A rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Setpoint:
    value: float = 0.0
    written_at: float | None = None

    def remaining(self, now: float, validity_s: float) -> float:
        if self.written_at is None:
            return 0.0
        return max(0.0, self.written_at + validity_s - now)

    def valid(self, now: float, validity_s: float) -> bool:
        return self.remaining(now, validity_s) > 0.0


class Setpoints:
    def __init__(self, sockets: tuple[int, ...]) -> None:
        self.sockets = {cid: Setpoint() for cid in sockets}
        self.phases = [Setpoint(), Setpoint(), Setpoint()]
        self.writes = 0

    @staticmethod
    def acceptable(value: float) -> bool:
        return math.isfinite(value) and 0.0 <= value <= 1000.0

    def write_socket(self, cid: int, value: float, now: float) -> None:
        self.sockets[cid] = Setpoint(value, now)
        self.writes += 1

    def write_phase(self, phase: int, value: float, now: float) -> None:
        self.phases[phase] = Setpoint(value, now)
        self.writes += 1

    def socket_limit(self, cid: int, now: float, mode: str, validity_s: float, safe_a: float) -> float | None:
        """The socket's Modbus limit in "Socket" mode; None when setpoints do not apply."""
        if mode != "Socket" or cid not in self.sockets:
            return None
        sp = self.sockets[cid]
        return sp.value if sp.valid(now, validity_s) else safe_a

    def phase_limits(self, now: float, mode: str, validity_s: float, safe_a: float) -> list[float | None]:
        """The station's per grid phase Modbus limits in "SCN" mode; None where setpoints do not apply."""
        if mode != "SCN":
            return [None, None, None]
        return [sp.value if sp.valid(now, validity_s) else safe_a for sp in self.phases]

    def scn_socket_limit(self, now: float, mode: str, validity_s: float, socket_safe_a: float) -> float | None:
        """In "SCN" mode, a socket's own limit once the station setpoints ran out (the coordinator is lost):
        SCN-SocketSafeCurrent; None while they are valid or in another mode."""
        if mode != "SCN" or all(sp.valid(now, validity_s) for sp in self.phases):
            return None
        return socket_safe_a

    def next_expiry(self, now: float, validity_s: float) -> float | None:
        """When the next valid setpoint runs out (to re-allocate then)."""
        ends = [
            sp.written_at + validity_s
            for sp in (*self.sockets.values(), *self.phases)
            if sp.written_at is not None and sp.written_at + validity_s > now
        ]
        return min(ends) if ends else None
