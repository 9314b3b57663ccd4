"""Classifies control pilot voltages into IEC 61851 levels, and the proximity pilot's coding resistor into the
cable's rating (IEC 61851-1 Annex B), both pure."""

from __future__ import annotations

import math
from enum import StrEnum

from hal.interfaces import PilotReading


class CpLevel(StrEnum):
    A = "A"  # +12 V: no vehicle
    B = "B"  # +9 V: vehicle connected
    C = "C"  # +6 V: charging
    D = "D"  # +3 V: charging with ventilation
    E = "E"  # 0 V: short circuit / EVSE fault
    F = "F"  # -12 V: EVSE unavailable (what we output in an error)
    DIODE_FAULT = "diode"  # PWM low phase not at about -12 V
    INVALID = "invalid"  # between bands


def classify(
    reading: PilotReading, bands: dict[str, tuple[float, float]], diode_max_low_v: float, pwm_on: bool
) -> CpLevel:
    """Level of the high phase; with PWM on, a low phase above `diode_max_low_v` is a diode fault."""
    level = CpLevel.INVALID
    for name in ("A", "B", "C", "D", "E", "F"):
        lo, hi = bands[name]
        if lo <= reading.high_v <= hi:
            level = CpLevel(name)
            break
    if (
        pwm_on
        and level in (CpLevel.B, CpLevel.C, CpLevel.D)
        and reading.low_v is not None
        and reading.low_v > diode_max_low_v
    ):
        return CpLevel.DIODE_FAULT
    return level


# The cable's coding resistor Rc between PP and PE -> its rating (A). Windows around each nominal value (1.5 kΩ,
# 680 Ω, 220 Ω, 100 Ω), not overlapping: a value between two windows, a short or an open PP is no valid cable.
PP_WINDOWS: tuple[tuple[float, float, float], ...] = (
    (1100.0, 2460.0, 13.0),
    (400.0, 936.0, 20.0),
    (164.0, 308.0, 32.0),
    (75.0, 140.0, 63.0),
)
PP_OPEN_OHMS = 10_000.0  # above this nothing is plugged into the socket (or the PP line is broken)


def cable_rating(ohms: float) -> float | None:
    """The rating of the cable whose coding resistor reads `ohms`; None: no valid cable (open, short, between
    windows, or not a number)."""
    if not math.isfinite(ohms):
        return None
    for lo, hi, amps in PP_WINDOWS:
        if lo <= ohms <= hi:
            return amps
    return None
