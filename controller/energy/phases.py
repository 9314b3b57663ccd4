"""Phases (pure): how the station's phases map to the grid's, and which grid phases a socket draws on.

- `Phase-Connected` (e.g. "L1L2L3", "L3L2L1", "L2"): the grid phase each station phase is connected to, in
  station order. "L3L2L1" means station L1 is on grid L3, station L2 on grid L2, station L3 on grid L1;
  "L2" is a single-phase station on grid L2. Socket meters measure station phases; the grid meter measures
  grid phases; load balancing compares them through this mapping.
- A socket draws on the first `phases` (board file, 1 or 3) of the connected phases.
- `MaxAllowedPhases` = 1 makes a socket charge on its first phase only, but that needs a phase-switch relay.
  A socket without one (`PHASE_SWITCH_RELAY`, the default of the functions below) cannot hold a three-phase car
  to one phase, so for the fuse headroom the car is still assumed to draw on every connected phase (the safe
  side); a socket with one (board file `phase_relay`) is switched (`PhaseDecider`).
- For the imbalance limit what counts is where the current really flows: a single-phase car on a
  three-phase socket loads one phase; `drawn_phases()` finds those phases from the socket meter. Until the
  socket meter has seen the car draw, the worst case counts: a single-phase car on the socket's first phase
  (`CarPhases.flow`), so the first second of a single-phase car cannot break MaxImbalanceCurrent.
- For a power limit (W) what counts is how many phases the car will really draw on (`CarPhases.count`): the
  most the socket meter has seen it use in this session, and before that every phase the socket has (a
  station without a phase-switch relay cannot hold a car to fewer). Never fewer: a profile's numberPhases=1
  does not make a three-phase car draw on one.
- Where a socket has a phase-switch relay (board file `phase_relay`), `PhaseDecider` says how many phases it
  should charge on; the control loop switches (controller/evse/phaseswitch.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

GRID_PHASES = ("L1", "L2", "L3")
PHASE_SWITCH_RELAY = False  # a socket without a phase relay (the energy manager knows those with one)
DRAWN_THRESHOLD_A = 1.0  # a phase carrying at least this much counts as used by the car
_PHASE_RE = re.compile(r"L([123])")


def parse_phase_connected(value: str) -> tuple[int, ...]:
    """"L3L2L1" -> (2, 1, 0). An invalid value (the registry validates, so only a corrupt store) -> L1L2L3."""
    text = value.strip().upper()
    found = _PHASE_RE.findall(text)
    phases = tuple(int(n) - 1 for n in found)
    if not phases or "".join(f"L{n}" for n in found) != text or len(set(phases)) != len(phases):
        return (0, 1, 2)
    return phases


def format_phases(phases: Sequence[int]) -> str:
    return "".join(GRID_PHASES[p] for p in phases)


def socket_phases(
    connected: Sequence[int], board_phases: int, max_allowed: int, relay: bool = PHASE_SWITCH_RELAY
) -> tuple[int, ...]:
    """The grid phases a socket's car may draw on."""
    physical = tuple(connected[: max(1, board_phases)])
    if relay and max_allowed == 1:
        return physical[:1]
    return physical


def charging_phase_count(connected: Sequence[int], board_phases: int, max_allowed: int, relay: bool = PHASE_SWITCH_RELAY) -> int:
    """How many phases the socket charges on (what Modbus register 1215 reports)."""
    return len(socket_phases(connected, board_phases, max_allowed, relay))


def to_grid(station_currents: Sequence[float], connected: Sequence[int]) -> list[float]:
    """Currents measured on station phases L1..L3 as currents on the grid phases."""
    out = [0.0, 0.0, 0.0]
    for k, grid in enumerate(connected):
        if k < len(station_currents):
            out[grid] += float(station_currents[k])
    return out


def drawn_phases(
    station_currents: Sequence[float] | None, connected: Sequence[int], threshold: float = DRAWN_THRESHOLD_A
) -> tuple[int, ...] | None:
    """The grid phases the car draws on now; None while it draws nothing (not known yet)."""
    if not station_currents:
        return None
    grid = to_grid(station_currents, connected)
    used = tuple(p for p in range(3) if abs(grid[p]) >= threshold)
    return used or None


class CarPhases:
    """What one socket's car has shown of its phases in the running session (reset when it ends). The socket
    meter's samples of the first `grace_s` of a session are not the car's: they may still show the previous
    car (a sample is up to two seconds old when it arrives)."""

    def __init__(self, grace_s: float = 0.0) -> None:
        self.grace_s = grace_s
        self.started_at: float | None = None
        self.last_flow: tuple[int, ...] | None = None  # the grid phases it drew on when last seen drawing
        self.most = 0  # the most phases seen at once

    def reset(self) -> None:
        self.started_at = None
        self.last_flow = None
        self.most = 0

    def see(self, now: float, drawn: tuple[int, ...] | None) -> None:
        """A sample of its socket meter during the session (`drawn`: the grid phases carrying current)."""
        if self.started_at is None:
            self.started_at = now
        if drawn and now >= self.started_at + self.grace_s:
            self.last_flow = drawn
            self.most = max(self.most, len(drawn))

    def flow(self, phases: tuple[int, ...]) -> tuple[int, ...]:
        """The grid phases its current flows on, for the imbalance limit: as last seen, else the worst case."""
        seen = tuple(p for p in self.last_flow if p in phases) if self.last_flow else ()
        return seen or phases[:1]

    def count(self, phases: tuple[int, ...]) -> int:
        """How many phases it will draw on, for a power limit: as many as seen, else every phase of the socket."""
        return min(len(phases), self.most) if self.most else len(phases)


# -- 1<->3 phase switching: who decides -----------------------------------------------------------------------
MIN_SWITCH_INTERVAL_S = 300.0  # load balancing switches a socket at most once in this time (contactor wear)
SWITCH_UP_MARGIN_A = 1.0  # back to three phases only with this much above 6 A per phase (hysteresis)
MIN_A = 6.0  # IEC 61851: the least current a PWM may offer


@dataclass(frozen=True)
class PhaseWish:
    """What decides a relay socket's phase count, in one snapshot.

    `room_1` / `room_3`: the current (A) the socket could be given on its first phase alone / per phase on
    three phases under every limit load balancing knows (fuse headroom, Station-MaxCurrent, safe current).
    `profile_phases`: numberPhases of the charging schedule period in force (None: none says). `modbus_phases`:
    what a Modbus master wrote to register 1215 (None: nothing)."""

    enabled: bool  # EnablePhaseSwitching
    max_allowed: int  # MaxAllowedPhases
    room_1: float
    room_3: float
    profile_phases: int | None = None
    modbus_phases: int | None = None


class PhaseDecider:
    """The phase count one socket with a relay should charge on (pure; time comes in as `now`).

    - `MaxAllowedPhases` 1 holds it to one phase, always (an installation rule).
    - With `EnablePhaseSwitching`: a schedule's numberPhases < 3 or register 1215 = 1 hold it to one phase
      (they act at once: a switch down to obey a limit never waits); 1215 = 3 asks for three phases at once
      where they get at least 6 A each; otherwise load balancing decides: on
      three phases with less than 6 A per phase but at least 6 A on one, switch down; on one phase, switch
      up once three phases get 6 A + `up_margin_a` each. Load balancing's switches are `min_interval_s`
      apart so the contactor is not worn out.
    - Without it: three phases (unless MaxAllowedPhases says one).
    """

    def __init__(
        self,
        start: float,
        phases: int = 3,
        min_interval_s: float = MIN_SWITCH_INTERVAL_S,
        up_margin_a: float = SWITCH_UP_MARGIN_A,
    ) -> None:
        self.phases = phases
        self.min_interval_s = min_interval_s
        self.up_margin_a = up_margin_a
        self.changed_at = start - min_interval_s  # the first decision may switch at once

    def decide(self, now: float, wish: PhaseWish) -> int:
        want = self._want(now, wish)
        if want != self.phases:
            self.phases = want
            self.changed_at = now
        return self.phases

    def _want(self, now: float, w: PhaseWish) -> int:
        if w.max_allowed == 1:
            return 1
        if not w.enabled:
            return 3
        if (w.profile_phases is not None and w.profile_phases < 3) or w.modbus_phases == 1:
            return 1
        if w.modbus_phases == 3 and w.room_3 >= MIN_A:
            return 3  # a master's explicit wish, where three phases can charge
        if now - self.changed_at < self.min_interval_s:
            return self.phases
        if self.phases == 3 and w.room_3 < MIN_A <= w.room_1:
            return 1
        if self.phases == 1 and w.room_3 >= MIN_A + self.up_margin_a:
            return 3
        return self.phases
