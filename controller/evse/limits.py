"""Per-socket safety limits as small pure pieces (time comes in as `now`), each table-tested:

- `OfferHistory`: what the car may still draw. IEC 61851-1 gives the car 5 s to follow a lowered PWM, so the
  reference for the overcurrent check is the highest offer in effect at any time in the last 5 s.
- `overcurrent()`: the 105 % rule. Any phase above 105 % of the reference interrupts charging. With no
  reference (PWM off for more than 5 s) there is nothing to compare with: the 6 s force-open after PWM off
  covers a car that keeps drawing then.
- `SwitchCounter`: ContactorProtect. More than `limit` (10) start/stop requests of the EV within the window
  is an error. Requests are the car's debounced changes between B and C/D, either way.
- `ChameleonDetector`: a Chameleon charger (Renault Zoe) cannot charge below its minimum current; it stays in
  C and draws nothing. Seen for `detect_s` while offered less than Chameleon-MinCurrent, the socket applies the
  minimum for the rest of the session. `chameleon_floor()` applies it: below the minimum, offer nothing.
"""

from __future__ import annotations

from collections import deque


class OfferHistory:
    """Sliding-window maximum of the offer, O(1) amortised per tick whatever the offers do."""

    def __init__(self, reaction_s: float = 5.0) -> None:
        self.reaction_s = reaction_s
        self._offer = 0.0
        # offers that have ended: (ended at, offer), offers strictly decreasing front to back
        self._ended: deque[tuple[float, float]] = deque()

    @property
    def offer(self) -> float:
        return self._offer

    @property
    def kept(self) -> int:
        """How many ended offers it remembers (bounded: they are strictly decreasing)."""
        return len(self._ended)

    def update(self, now: float, offer: float) -> None:
        if offer == self._offer:
            return
        old = self._offer
        while self._ended and self._ended[-1][1] <= old:
            self._ended.pop()  # ended earlier and no higher: can never be the maximum again
        self._ended.append((now, old))
        self._offer = offer

    def reference(self, now: float) -> float:
        """The highest offer in effect at any time in (now - reaction_s, now]."""
        horizon = now - self.reaction_s
        while self._ended and self._ended[0][0] <= horizon:
            self._ended.popleft()
        return max(self._offer, self._ended[0][1]) if self._ended else self._offer


def overcurrent(currents: tuple[float, float, float], reference_a: float, ratio: float = 1.05) -> bool:
    """Any phase above `ratio` x the reference; a phase that is not a number counts as above (the HAL
    boundary never lets one through; this is the second line)."""
    limit = ratio * reference_a
    return reference_a > 0.0 and any(not c <= limit for c in currents)


class SwitchCounter:
    def __init__(self, limit: int = 10) -> None:
        self.limit = limit
        self._times: deque[float] = deque()

    def reset(self) -> None:
        self._times.clear()

    def record(self, now: float) -> None:
        self._times.append(now)
        if len(self._times) > 4 * self.limit:
            self._times.popleft()

    def count(self, now: float, window_s: float) -> int:
        """Requests in (now - window_s, now]."""
        while self._times and self._times[0] <= now - window_s:
            self._times.popleft()
        return len(self._times)

    def exceeded(self, now: float, window_s: float) -> bool:
        if window_s <= 0:  # ContactorProtect 0: the check is off
            return False
        return self.count(now, window_s) > self.limit


class ChameleonDetector:
    def __init__(self, detect_s: float = 10.0, idle_a: float = 1.0) -> None:
        self.detect_s = detect_s
        self.idle_a = idle_a
        self.detected = False
        self._since: float | None = None

    def reset(self) -> None:
        self.detected = False
        self._since = None

    def step(
        self,
        now: float,
        charging_state: bool,
        contactor_closed: bool,
        offered_a: float,
        min_a: float,
        currents: tuple[float, float, float] | None,
    ) -> bool:
        if self.detected:
            return True
        starving = (
            charging_state
            and contactor_closed
            and 0.0 < offered_a < min_a
            and currents is not None
            and max(currents) < self.idle_a
        )
        if not starving:
            self._since = None
        elif self._since is None:
            self._since = now
        elif now - self._since >= self.detect_s:
            self.detected = True
        return self.detected


def chameleon_floor(offer_a: float, min_a: float, active: bool) -> float:
    """Never offer a Chameleon charger less than its minimum: below it, offer nothing (pause)."""
    if active and offer_a < min_a:
        return 0.0
    return offer_a
