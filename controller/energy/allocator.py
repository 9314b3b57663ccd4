"""Allocation of current to the sockets (pure): the offer of each socket from the station's limits.

Entry points:

- `allocate(station_max, socket_max, active)`: the simple split. Each socket gets at most its own maximum
  (ConnectorN-MaxCurrent, the board's rating and any smart charging limit); sockets that charge share
  Station-MaxCurrent equally, and what one cannot use goes to the others (water-filling).
- `allocate_sockets(asks, room, max_imbalance)`: the same idea per grid phase, used by load balancing. Every
  socket asks for up to `cap_a` on the grid phases it may draw on; each grid phase has a `room` (what the
  station as a whole may draw on it: Station-MaxCurrent, the fuse headroom from the grid meter, the safe
  current, a Modbus SCN setpoint, whichever is least). The fill is max-min fair (progressive filling: all
  sockets rise together; a socket stops rising when it reaches its cap or when a constraint it takes part in
  is tight). MaxImbalanceCurrent limits the difference between the most and the least loaded grid phase of
  the station's own draw. A share below 6 A cannot charge (IEC 61851: no PWM below 6 A): the smallest such
  share is paused (0 A) and the others are filled again, so two cars on 10 A get 10 + 0 rather than 5 + 5
  (the lower connector id wins a tie, as in the control loop's own second line, `controller.evse.share`).
  A phase no socket draws on never limits anything: a house load above the fuse on L1 does not pause a
  socket that only uses L2.
- `sequence_raises(desired, may_draw, asks, room, max_imbalance)`: the rule for every change of the offers.
  A lowered offer applies at once, but the car has 5 s to follow it, so until then it may still draw its
  highest offer of that window (`may_draw`). An offer is raised (or a socket starts) only into what every
  other socket's `may_draw` leaves under every limit; the rest of the raise waits for the others' window.
  This is the same rule the control loop applies to Station-MaxCurrent (`controller.evse.share`), here for
  every limit the allocation knows (fuse headroom, safe current, SCN, imbalance, the station's profile).
  `Background` carries such fixed draws into `allocate_sockets`.

Nothing here knows time, configuration keys or devices; `controller.energy.manager` feeds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

MIN_CURRENT_A = 6.0  # IEC 61851-1: the least current a PWM may offer
_EPS = 1e-6
_SCAN_STEP_A = 0.25
_RESOLUTION_A = 0.005

Room = Sequence[float | None]  # per grid phase L1, L2, L3: what the station may draw there (None: no limit)


def allocate(station_max: float, socket_max: Mapping[int, float], active: set[int]) -> dict[int, float]:
    """Current (A) offered to each socket. Inactive sockets are offered their own maximum capped by the
    station maximum, so a car that plugs in sees a sane offer before the next allocation."""
    result = {cid: min(m, station_max) for cid, m in socket_max.items()}
    want = {cid: socket_max[cid] for cid in active if cid in socket_max}
    remaining = station_max
    # water-filling: satisfy the smallest wants first, share the rest equally
    for i, (cid, w) in enumerate(sorted(want.items(), key=lambda kv: kv[1])):
        share = remaining / (len(want) - i)
        give = min(w, share)
        result[cid] = round(give, 2)
        remaining -= give
    return result


@dataclass(frozen=True)
class SocketAsk:
    """What one socket asks of the allocation.

    `phases`: the grid phases (0 = L1, 1 = L2, 2 = L3) the car may draw on; the room of each is checked.
    `imbalance_phases`: the grid phases its current actually flows on (a single-phase car on a three-phase
    socket draws on one); None = the same as `phases`.
    """

    cap_a: float
    phases: tuple[int, ...] = (0, 1, 2)
    imbalance_phases: tuple[int, ...] | None = None

    @property
    def flow_phases(self) -> tuple[int, ...]:
        return self.phases if self.imbalance_phases is None else self.imbalance_phases


def phase_loads(x: Mapping[int, float], asks: Mapping[int, SocketAsk], flow: bool = False) -> list[float]:
    """The station's draw per grid phase for the allocation `x`."""
    load = [0.0, 0.0, 0.0]
    for cid, amps in x.items():
        ask = asks[cid]
        for p in ask.flow_phases if flow else ask.phases:
            load[p] += amps
    return load


def imbalance_of(flow: Sequence[float]) -> float:
    return max(flow) - min(flow)


@dataclass(frozen=True)
class Background:
    """Draws the allocation does not set but must leave room for (per grid phase): `load` counts against the
    room, `flow` against the imbalance limit."""

    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    flow: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @staticmethod
    def of(x: Mapping[int, float], asks: Mapping[int, SocketAsk]) -> Background:
        load, flow = phase_loads(x, asks), phase_loads(x, asks, flow=True)
        return Background((load[0], load[1], load[2]), (flow[0], flow[1], flow[2]))


NOTHING = Background()


def feasible(
    x: Mapping[int, float],
    asks: Mapping[int, SocketAsk],
    room: Room,
    max_imbalance: float | None,
    background: Background = NOTHING,
) -> bool:
    """Whether `x` (on top of `background`) fits. A phase only counts where `x` draws on it (so a phase that is
    over its limit without us, or that no socket uses, blocks nobody else); the imbalance may not grow beyond
    the larger of the limit and what the background alone causes."""
    own = phase_loads(x, asks)
    for p in range(3):
        r = room[p]
        if r is not None and own[p] > _EPS and own[p] + background.load[p] > r + _EPS:
            return False
    if max_imbalance is not None and max_imbalance > 0:
        flow = phase_loads(x, asks, flow=True)
        total = [flow[p] + background.flow[p] for p in range(3)]
        if imbalance_of(total) > max(max_imbalance, imbalance_of(background.flow)) + _EPS:
            return False
    return True


def fill(
    asks: Mapping[int, SocketAsk],
    room: Room,
    max_imbalance: float | None = None,
    background: Background = NOTHING,
) -> dict[int, float]:
    """Max-min fair progressive filling of `asks` under the per-phase `room` and the imbalance limit."""
    x = {cid: 0.0 for cid in asks}
    frozen = {cid for cid, a in asks.items() if a.cap_a <= _EPS}
    level = 0.0
    while len(frozen) < len(asks):
        free = [cid for cid in asks if cid not in frozen]

        def at(t: float, base: dict[int, float] = x, free: list[int] = free) -> dict[int, float]:
            return {**base, **{cid: min(t, asks[cid].cap_a) for cid in free}}

        def ok(t: float) -> bool:
            return feasible(at(t), asks, room, max_imbalance, background)

        top = max(asks[cid].cap_a for cid in free)
        lo, hi = level, None
        if max_imbalance is None or max_imbalance <= 0:
            # the room alone: the draw only grows with t, so the feasible levels are an interval: bisect it
            if not ok(top):
                hi = top
        else:
            # with the imbalance limit the feasible set need not be an interval in t: scan, then bisect
            t = level
            while t < top:
                t = min(top, t + _SCAN_STEP_A)
                if ok(t):
                    lo = t
                else:
                    hi = t
                    break
        if hi is None:
            lo = top
        else:
            while hi - lo > _RESOLUTION_A:
                mid = (lo + hi) / 2
                if ok(mid):
                    lo = mid
                else:
                    hi = mid
        level = lo
        x = at(level)
        newly = {cid for cid in free if x[cid] >= asks[cid].cap_a - _EPS}
        for cid in free:
            if cid in newly:
                continue
            bumped = dict(x)
            bumped[cid] = x[cid] + 2 * _RESOLUTION_A
            if not feasible(bumped, asks, room, max_imbalance, background):
                newly.add(cid)
        frozen |= newly or set(free)
    return x


def allocate_sockets(
    asks: Mapping[int, SocketAsk],
    room: Room,
    max_imbalance: float | None = None,
    min_a: float = MIN_CURRENT_A,
    background: Background = NOTHING,
) -> dict[int, float]:
    """Offer (A) per socket: the fair fill, with shares below `min_a` paused (0) and their current given to
    the others. Offers are rounded down to 0.01 A (within 0.00001 A of a step counts as the step)."""
    live = {cid: a for cid, a in asks.items() if a.cap_a >= min_a}
    while True:
        x = fill(live, room, max_imbalance, background)
        small = [cid for cid in live if x[cid] < min_a - _EPS]
        if not small:
            break
        drop = min(small, key=lambda c: (x[c], -c))  # the smallest share; a tie drops the higher id
        del live[drop]
    out = {cid: 0.0 for cid in asks}
    for cid, amps in x.items():
        out[cid] = max(0.0, int(amps * 100 + 1e-3) / 100)  # 10.6999998 (a float32 10.7) is 10.7
    return out


def sequence_raises(
    desired: Mapping[int, float],
    may_draw: Mapping[int, float],
    asks: Mapping[int, SocketAsk],
    room: Room,
    max_imbalance: float | None = None,
    min_a: float = MIN_CURRENT_A,
) -> dict[int, float]:
    """The offers to publish now, from the `desired` ones (every limit applied) and what each socket's car may
    still draw (`may_draw`: its highest offer of the reaction window). Lower or equal: at once. Higher: only
    as far as the others' `may_draw` leave room under every limit (shared fairly between the sockets that
    rise), and never less than the socket's own `may_draw` (holding that adds nothing to what may flow)."""
    rising = [c for c in desired if desired[c] > may_draw.get(c, 0.0) + _EPS]
    out = dict(desired)
    if not rising:
        return out
    held = {c: may_draw.get(c, 0.0) for c in desired if c not in rising}
    fit = allocate_sockets(
        {c: replace(asks[c], cap_a=desired[c]) for c in rising},
        room,
        max_imbalance,
        min_a,
        Background.of(held, asks),
    )
    for c in rising:
        out[c] = max(fit[c], may_draw.get(c, 0.0))
    return out


def offer_if_joined(
    asks: Mapping[int, SocketAsk],
    active: set[int],
    cid: int,
    room: Room,
    max_imbalance: float | None = None,
    min_a: float = MIN_CURRENT_A,
) -> float:
    """What an idle socket `cid` would get if it joined the active ones (its offer before its car starts)."""
    joined = {c: a for c, a in asks.items() if c in active or c == cid}
    return allocate_sockets(joined, room, max_imbalance, min_a)[cid]
