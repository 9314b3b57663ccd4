"""Debouncing of the pilot level into the IEC 61851 state (pure).

- A path to an error (E, a missing diode, a voltage outside every band, -12 V read back) acts within the tick
  it is first seen: no debounce.
- C or D -> B (the car stops) needs `stop_s` (50 ms): IEC 61851-1 wants the contactor open within 100 ms of
  the car opening S2, so the 250 ms used elsewhere would be too long here.
- Every other change (B -> C/D, C <-> D, A -> B, E -> B, ...) needs `debounce_s` (250 ms), and so does the
  path to A: a single +12 V sample is not an unplug (it clears latches, ends sessions). Until A is confirmed,
  `pilot_lost` says the pilot reads +12 V: the connector opens the contactor at once on it.
A level must be seen continuously for the whole time; any other level in between restarts the count.
"""

from __future__ import annotations

from controller.evse.pilot import CpLevel
from controller.evse.statemachine import EvseState, next_state

IMMEDIATE_LEVELS = frozenset({CpLevel.E, CpLevel.F, CpLevel.DIODE_FAULT, CpLevel.INVALID})
CHARGING_STATES = frozenset({EvseState.C, EvseState.D})


class PilotDebouncer:
    def __init__(self, start: float, debounce_s: float = 0.25, stop_s: float = 0.05) -> None:
        self.debounce_s = debounce_s
        self.stop_s = stop_s
        self.state = EvseState.A
        self._candidate: CpLevel | None = None  # nothing seen yet: even A must be seen for the debounce time
        self._since = start

    @property
    def pilot_lost(self) -> bool:
        """+12 V read but not (yet) confirmed as an unplug."""
        return self._candidate is CpLevel.A and self.state is not EvseState.A

    def steady(self, now: float) -> bool:
        """The present state's level has been seen for the whole debounce time."""
        return (
            self._candidate is not None
            and next_state(self._candidate) is self.state
            and now - self._since >= self.debounce_s
        )

    def hold(self, now: float, state: EvseState) -> None:
        """Set the state without a reading (we drive F and cannot see the car); the next level counts anew."""
        self.state = state
        self._candidate = None
        self._since = now

    def step(self, now: float, level: CpLevel) -> EvseState:
        if level != self._candidate:
            self._candidate = level
            self._since = now
        target = next_state(level)
        if target is self.state:
            return self.state
        if level in IMMEDIATE_LEVELS:
            self.state = target
        else:
            wait = self.stop_s if (self.state in CHARGING_STATES and target is EvseState.B) else self.debounce_s
            if now - self._since >= wait:
                self.state = target
        return self.state
