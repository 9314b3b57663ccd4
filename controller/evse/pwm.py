"""Duty cycle of the control pilot PWM from the offered current (IEC 61851-1 Annex A), and back."""

from __future__ import annotations

MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0


def duty_for_current(current_a: float) -> float | None:
    """PWM duty in percent that offers `current_a`; None when below 6 A (no charging: PWM off).

    6..51 A: D = I / 0.6; 51..80 A: D = I / 2.5 + 64; above 80 A the offer is capped at 80 A.
    """
    if current_a < MIN_CURRENT_A:
        return None
    current_a = min(current_a, MAX_CURRENT_A)
    if current_a <= 51.0:
        return round(current_a / 0.6, 2)
    return round(current_a / 2.5 + 64.0, 2)


def current_for_duty(duty: float) -> float:
    """The current a duty cycle offers; 0 for duties that offer none."""
    if 8.0 <= duty <= 85.0:
        return round(duty * 0.6, 2)
    if 85.0 < duty <= 96.0:
        return round((duty - 64.0) * 2.5, 2)
    return 0.0
