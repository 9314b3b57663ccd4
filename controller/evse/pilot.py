"""Classifies control pilot voltages into IEC 61851 levels (pure)."""

from __future__ import annotations

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
