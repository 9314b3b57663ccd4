"""Duty cycle of the control pilot PWM from the offered current (IEC 61851-1 Annex A), and back."""

from __future__ import annotations

import math

MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0


def duty_for_current(current_a: float) -> float | None:
    """PWM duty in percent that offers `current_a`; None when below 6 A (no charging: PWM off).

    6..51 A: D = I / 0.6; 51..80 A: D = I / 2.5 + 64; above 80 A the offer is capped at 80 A. The duty is
    rounded *down* to 0.01 %, so the car never reads more than it is allowed (16 A -> 26.66 %, 15.996 A).
    """
    if current_a < MIN_CURRENT_A:
        return None
    current_a = min(current_a, MAX_CURRENT_A)
    duty = current_a / 0.6 if current_a <= 51.0 else current_a / 2.5 + 64.0
    return math.floor(duty * 100 + 1e-6) / 100


def current_for_duty(duty: float) -> float:
    """The current a duty cycle offers; 0 for duties that offer none."""
    if 8.0 <= duty <= 85.0:
        return round(duty * 0.6, 2)
    if 85.0 < duty <= 96.0:
        return round((duty - 64.0) * 2.5, 2)
    return 0.0


class PwmGovernor:
    """Holds the PWM duty to the IEC 61851 pace: a change that raises the offer (including switching the
    PWM on) waits until `interval_s` after the previous change; lowering, stopping and pausing act at once.

    Why every lowering is immediate: the command the loop follows is a maximum the station must respect (a
    fuse, the grid connection, a charging profile, a safety limit), so a lower offer is never held back; the
    car then has 5 s to follow, which the overcurrent check allows for. `reset()` (on unplug) lets the next
    car get its PWM at once.
    """

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self.duty: float | None = None
        self.changed_at = -math.inf

    def reset(self) -> None:
        self.changed_at = -math.inf

    def force_off(self, now: float) -> None:
        if self.duty is not None:
            self.duty = None
            self.changed_at = now

    def step(self, now: float, want: float | None) -> float | None:
        """The duty to drive now (None: PWM off) when `want` is asked for."""
        cur = self.duty
        if want == cur:
            return cur
        lowering = want is None or (cur is not None and want < cur)
        if lowering or now - self.changed_at >= self.interval_s:
            self.duty = want
            self.changed_at = now
        return self.duty
