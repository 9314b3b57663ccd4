"""Hysteresis of load balancing (pure, time comes in as `now`): the offer follows the limits without flapping.

`OfferSmoother` (one per socket) turns the allocated target into the offer:
- Lower: at once. A lower target is a limit that must hold (the fuse); the car then has 5 s to follow.
- Below 6 A: pause (offer 0, SuspendedEVSE); never an offer between 0 and 6 A.
- Higher while the grid meter is what limits (`meter_bound`): only by at least `step_a`, so the offer does
  not creep after every flicker of the house load (the meter's release window already delays rises).
  A higher limit that is not the meter's (a Modbus setpoint, a key change) applies at once.
- Resume after a pause the meter caused: only when the target is at least 6 A (+ `resume_margin_a` while the
  meter is what limits it), has been for `resume_delay_s`, and the pause has lasted `min_pause_s`, whatever
  limits the target by then (the house load may have fallen so far that the meter no longer limits at all:
  a pulsing hob would otherwise start and stop the car with every pulse, wear its contactor and trip
  ContactorProtect, > 10 start/stops a minute). A pause that was not the meter's (Modbus 0, a lower key)
  ends as soon as the target is 6 A again.
- Once the meter is lost, the station runs on Safe-MaxCurrent and the meter's pause has no reading to wait
  for: the car resumes at the safe current as soon as the pause has lasted `min_pause_s` (no margin, no
  resume delay: Safe-MaxCurrent is 6 A by default, and 6 A + 1 A would never come).

`DemandTracker` (one per socket, used with Static-LoadBalancing On): a car that takes clearly less than its
offer for `release_after_s` (also one that takes nothing at all: state B, or less than 1 A) is asked for what
it takes plus `margin_a`, at least 6 A, so the other socket gets the rest; as soon as it takes (nearly) all
it is offered it asks for its full cap again (and gets it as the other car's lowered offer leaves room, see
`allocator.sequence_raises`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from controller.energy.allocator import MIN_CURRENT_A

_EPS = 1e-6


@dataclass(frozen=True)
class Hysteresis:
    step_a: float = 1.0
    resume_margin_a: float = 1.0
    resume_delay_s: float = 5.0
    min_pause_s: float = 15.0


class OfferSmoother:
    def __init__(self, hysteresis: Hysteresis | None = None, min_a: float = MIN_CURRENT_A) -> None:
        self.h = hysteresis or Hysteresis()
        self.min_a = min_a
        self.offer = 0.0
        self.meter_paused_at: float | None = None  # set while a pause caused by the meter lasts
        self._resume_since: float | None = None

    def reset(self) -> None:
        """A new session (or none): the next start is a fresh one."""
        self.offer = 0.0
        self.meter_paused_at = None
        self._resume_since = None

    @property
    def paused_by_meter(self) -> bool:
        return self.meter_paused_at is not None

    def step(self, now: float, target: float, unconstrained: float, meter_lost: bool = False) -> float:
        """`target`: the allocation with every limit; `unconstrained`: the same without the grid meter's (nor the
        safe current that stands in for it); `meter_lost`: the meter is lost, the safe current applies."""
        meter_bound = target < unconstrained - 0.05
        if target < self.min_a:
            if self.offer >= self.min_a or (self.meter_paused_at is None and unconstrained >= self.min_a):
                # a pause starts; it is the meter's if without the meter there would be current
                self.meter_paused_at = now if unconstrained >= self.min_a else None
            elif unconstrained < self.min_a:
                self.meter_paused_at = None
            self.offer = 0.0
            self._resume_since = None
            return 0.0
        if self.offer < self.min_a:
            if self.meter_paused_at is None:
                self.offer = target
                return target
            paused_long_enough = now - self.meter_paused_at >= self.h.min_pause_s - _EPS
            if meter_lost:
                self._resume_since = None
                if paused_long_enough:
                    return self._resume(target)
                return 0.0
            margin = self.h.resume_margin_a if meter_bound else 0.0  # no swing of the house can reach it then
            if target >= self.min_a + margin - _EPS:
                if self._resume_since is None:
                    self._resume_since = now
                if now - self._resume_since >= self.h.resume_delay_s - _EPS and paused_long_enough:
                    return self._resume(target)
            else:
                self._resume_since = None
            return 0.0
        if target <= self.offer or not meter_bound or target >= self.offer + self.h.step_a - _EPS:
            self.offer = target
        return self.offer

    def _resume(self, target: float) -> float:
        self.meter_paused_at = None
        self._resume_since = None
        self.offer = target
        return target


class DemandTracker:
    def __init__(self, margin_a: float = 2.0, use_margin_a: float = 1.0, release_after_s: float = 10.0) -> None:
        self.margin_a = margin_a
        self.use_margin_a = use_margin_a
        self.release_after_s = release_after_s
        self.limit: float | None = None
        self._low_since: float | None = None

    def reset(self) -> None:
        self.limit = None
        self._low_since = None

    def step(self, now: float, cap: float, offer: float, drawn: float | None) -> float:
        """The socket's demand: `cap`, or less when its car takes clearly less than `offer`.
        `drawn`: the highest phase current of the socket's meter; None when not charging/unknown."""
        if drawn is None or offer < MIN_CURRENT_A:
            self.reset()
            return cap
        if drawn >= offer - self.use_margin_a:
            # it takes what it gets: it may want more
            self.reset()
            return cap
        if drawn < offer - self.margin_a - _EPS:
            if self._low_since is None:
                self._low_since = now
            if now - self._low_since >= self.release_after_s - _EPS:
                self.limit = max(MIN_CURRENT_A, drawn + self.margin_a)
                self._low_since = None
        else:
            self._low_since = None
        return cap if self.limit is None else min(cap, self.limit)


class MayDraw:
    """What a socket's car may still draw: the highest offer published in the last `reaction_s` (a car has 5 s
    to follow a lowered PWM; plus the time the limits take to reach the loop). The control loop keeps the same
    window of its own PWM (`controller.evse.limits.OfferHistory`); the main process may not import the loop's
    package, so this is its own, over the offers it publishes."""

    def __init__(self, reaction_s: float) -> None:
        self.reaction_s = reaction_s
        self.offer = 0.0  # the offer in force
        self._ended: deque[tuple[float, float]] = deque()  # (ended at, offer), decreasing front to back

    def update(self, now: float, offer: float) -> None:
        if offer == self.offer:
            return
        while self._ended and self._ended[-1][1] <= self.offer:
            self._ended.pop()  # ended earlier and no higher: never the highest again
        self._ended.append((now, self.offer))
        self.offer = offer

    def reference(self, now: float) -> float:
        """The highest offer in force at any time in (now - reaction_s, now]."""
        while self._ended and self._ended[0][0] <= now - self.reaction_s:
            self._ended.popleft()
        return max(self.offer, self._ended[0][1]) if self._ended else self.offer
