"""The Smart Charging Network's allocation (pure): SCN-TotalStaticCurrent per feeder phase shared by every
socket of the network.

Rules, in order:
1. Every socket of the network, reachable or not, charging or not, is counted at `SCN-SocketSafeCurrent` on
   the feeder phases it draws on: that is what it may draw whenever it loses the coordinator (its setpoint
   runs out), so the network must always have room for it. When the safe currents alone do not fit, the
   network is misconfigured (`Allocation.problem`) and nothing above them is granted.
2. Sockets whose car asks for current (of stations the coordinator reaches) are admitted in priority order,
   each needing 6 A (IEC 61851: no PWM below 6 A) on all of its phases beyond what it already counts. The
   order rotates by `turn` (see `turn_of`): when the current does not suffice for everyone, every car gets
   its turn over `SCN-AlternatingPeriod` (the period divided by the number of cars asking).
3. The admitted sockets are filled max-min fair (they rise together; a socket stops at its maximum or when a
   phase it draws on is full).

A socket's feeder phases come from its station's phase mapping (`SCN-PhaseMapping-1/2`, `feeder_phases`).
Nothing here knows time, devices or the network; `controller.scn.coordinator` feeds it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MIN_CURRENT_A = 6.0
_EPS = 1e-9

#: SCN-PhaseMapping codes: the feeder phases (0 = L1) a socket's L1, L2, L3 are wired to; 0 = not connected
PHASE_MAPPINGS: dict[int, tuple[int, ...]] = {
    0: (),
    1: (0,),
    2: (1,),
    3: (2,),
    4: (0, 1, 2),
    5: (0, 2, 1),
    6: (1, 0, 2),
    7: (1, 2, 0),
    8: (2, 0, 1),
    9: (2, 1, 0),
}

SocketKey = tuple[str, int]  # (station, connector id)


def feeder_phases(mapping: int, socket_phases: int = 3) -> tuple[int, ...]:
    """The feeder phases a socket wired for `socket_phases` draws on under the mapping code."""
    return PHASE_MAPPINGS[mapping][:socket_phases]


def turn_of(now: float, period_s: float, asking: int) -> int:
    """Which turn of the rotation it is: each car asking leads for `period_s / asking` seconds."""
    if asking <= 1 or period_s <= 0:
        return 0
    return int(now // (period_s / asking))


@dataclass(frozen=True)
class NetSocket:
    """One socket of the network as the coordinator sees it."""

    key: SocketKey
    phases: tuple[int, ...]  # feeder phases it draws on
    max_a: float = 32.0
    asking: bool = False  # a car is connected and may charge
    reachable: bool = True  # its station answers the coordinator


@dataclass(frozen=True)
class Allocation:
    grants: dict[SocketKey, float]  # A per phase for every socket (0 = not admitted)
    counted: tuple[float, float, float]  # what the network may draw per feeder phase under this allocation
    problem: str | None = None
    admitted: tuple[SocketKey, ...] = field(default_factory=tuple)


def _floor(a: float) -> float:
    return math.floor(a * 100 + 1e-6) / 100


def allocate(
    sockets: Sequence[NetSocket], available: Sequence[float], safe_a: float, turn: int = 0
) -> Allocation:
    """Grant each socket its current (A); see the module docstring."""
    free = [float(a) for a in available]
    counted = [0.0, 0.0, 0.0]
    for s in sockets:
        for p in s.phases:
            free[p] -= safe_a
            counted[p] += safe_a
    grants: dict[SocketKey, float] = {s.key: 0.0 for s in sockets}
    if any(f < -_EPS for f in free):
        need = [round(c, 2) for c in counted]
        return Allocation(grants, _tuple(counted), f"the sockets' SCN-SocketSafeCurrent ({need} A per phase) "
                          f"exceeds SCN-TotalStaticCurrent ({list(available)} A): nothing above the safe current")
    asking = sorted((s for s in sockets if s.asking and s.reachable and s.phases and s.max_a >= MIN_CURRENT_A),
                    key=lambda s: s.key)
    if asking:
        k = turn % len(asking)
        asking = asking[k:] + asking[:k]
    level: dict[SocketKey, float] = {}
    by_key = {s.key: s for s in asking}
    for s in asking:
        start = max(MIN_CURRENT_A, safe_a)
        extra = start - safe_a
        if all(free[p] >= extra - _EPS for p in s.phases):
            for p in s.phases:
                free[p] -= extra
            level[s.key] = start
    _fill(level, by_key, free)
    for key, amps in level.items():
        grants[key] = _floor(amps)
        for p in by_key[key].phases:
            counted[p] += grants[key] - safe_a
    return Allocation(grants, _tuple(counted), None, tuple(level))


def _fill(level: dict[SocketKey, float], sockets: Mapping[SocketKey, NetSocket], free: list[float]) -> None:
    """Raise the admitted sockets together (max-min fair) into `free`."""
    rising = {k for k in level if level[k] < sockets[k].max_a - _EPS and all(free[p] > _EPS for p in sockets[k].phases)}
    while rising:
        users = [sum(1 for k in rising if p in sockets[k].phases) for p in range(3)]
        step = min(
            min(sockets[k].max_a - level[k] for k in rising),
            min(free[p] / users[p] for p in range(3) if users[p]),
        )
        for k in rising:
            level[k] += step
        for p in range(3):
            free[p] -= step * users[p]
        rising = {k for k in rising if level[k] < sockets[k].max_a - _EPS and all(free[p] > _EPS for p in sockets[k].phases)}


def _tuple(v: Sequence[float]) -> tuple[float, float, float]:
    return (v[0], v[1], v[2])


def station_setpoints(
    grants: Mapping[SocketKey, float], station: str, socket_phases: Mapping[int, int]
) -> tuple[float, float, float]:
    """The per-phase setpoints (the station's own L1..L3, registers 1417..1421) of one station: the sum of its
    sockets' grants on each phase the socket is wired for."""
    out = [0.0, 0.0, 0.0]
    for cid, n in socket_phases.items():
        g = grants.get((station, cid), 0.0)
        for q in range(n):
            out[q] += g
    return _tuple([round(v, 2) for v in out])
