"""When the control process collects garbage: never in the middle of a tick. Python's automatic collector runs
whenever allocations pass a threshold, i.e. at a random point of a tick, and a collection of the older
generations takes longer than a whole tick. The runner turns it off (after `gc.freeze()` of everything built at
start-up) and asks this pacer after each tick, with the time left before the next one: the young generation
every `young_every` ticks, everything every `full_every_s`, each only when at least `min_slack` of a tick is
left. Memory stays bounded when there is never any slack (an overloaded loop): after `force_after` times the
interval a collection runs anyway.

Pure: the runner passes the clock and the slack; tested from tables."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CollectorPacer:
    young_every: int = 200  # ticks between collections of generation 0 (2 s at the production 10 ms tick)
    full_every_s: float = 60.0  # seconds between full collections
    min_slack: float = 0.5  # the share of a tick that must be left before the next one
    force_after: int = 4  # a collection put off this many intervals runs anyway
    _ticks: int = 0
    _last_full: float | None = None

    def after_tick(self, now: float, slack_s: float, tick_s: float) -> int | None:
        """The generation to collect now (0 or 2), or None."""
        self._ticks += 1
        if self._last_full is None:
            self._last_full = now
        room = slack_s >= self.min_slack * tick_s
        full_due = now - self._last_full >= self.full_every_s
        if full_due and (room or now - self._last_full >= self.force_after * self.full_every_s):
            self._last_full = now
            self._ticks = 0
            return 2
        if self._ticks >= self.young_every and (room or self._ticks >= self.force_after * self.young_every):
            self._ticks = 0
            return 0
        return None
