"""Validation of every reading at the HAL boundary: a value is finite, of the right type and inside what the
quantity can physically be, or it is not a reading at all.

Each check returns the value or raises `InvalidReading` (a `DeviceError`), so the caller treats an invalid
reading exactly like a device that did not answer: a device fault, never a healthy value. The control process
reads every power-path device through these (`controller.evse.devio`). A stuck bus that returns a plausible
number (an I2C read of all ones) must be caught by the driver, which knows the raw pattern; here every value
outside its range, NaN, infinity, a negative current, or a wrong type (None, a string, a bool for a number) is
refused.
"""

from __future__ import annotations

import math
from typing import Any

from hal.errors import DeviceError
from hal.interfaces import MeterReading, PilotReading

Vector = tuple[float, float, float]

PILOT_V = (-15.0, 15.0)  # the ±12 V pilot with margin; anything else is a broken ADC or divider
CURRENT_A = (0.0, 250.0)  # per phase of a socket meter (a Type 2 socket carries at most 80 A)
VOLTAGE_V = (0.0, 500.0)
POWER_W = (-400_000.0, 400_000.0)
ENERGY_WH = (0.0, 1e12)
FREQUENCY_HZ = (0.0, 70.0)
TEMPERATURE_C = (-55.0, 150.0)
TILT_DEG = (0.0, 180.0)
GRAVITY_G = (0.5, 1.5)  # the length of a standing accelerometer's vector; far from 1 g is a broken sensor
PP_OHMS = (0.0, math.inf)  # math.inf: nothing plugged (open PP)


class InvalidReading(DeviceError):
    """A device answered with something that is not a valid reading."""


def number(value: Any, bounds: tuple[float, float], what: str, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidReading(f"{what}: {value!r} is not a number")
    f = float(value)
    if math.isnan(f) or (math.isinf(f) and not allow_inf):
        raise InvalidReading(f"{what}: {value!r} is not a finite number")
    lo, hi = bounds
    if not lo <= f <= hi:
        raise InvalidReading(f"{what}: {value!r} is outside {lo}..{hi}")
    return f


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidReading(f"{what}: {value!r} is not a boolean")
    return value


def optional_flag(value: Any, what: str) -> bool | None:
    """A contact that a board may not have: None means "none on this board"."""
    return None if value is None else flag(value, what)


def phases(value: Any) -> int | None:
    """A phase relay's feedback: 1 or 3; None means "no feedback contact on this board"."""
    if value is None:
        return None
    if isinstance(value, bool) or value not in (1, 3):
        raise InvalidReading(f"phase relay feedback: {value!r} is neither 1 nor 3 phases")
    return int(value)


def pilot(reading: Any) -> PilotReading:
    if not isinstance(reading, PilotReading):
        raise InvalidReading(f"pilot: {reading!r} is not a pilot reading")
    number(reading.high_v, PILOT_V, "pilot high phase")
    if reading.low_v is not None:
        number(reading.low_v, PILOT_V, "pilot low phase")
    return reading


def _three(values: Any, bounds: tuple[float, float], what: str) -> None:
    if not isinstance(values, tuple | list) or len(values) != 3:
        raise InvalidReading(f"{what}: {values!r} is not three phases")
    for i, v in enumerate(values):
        number(v, bounds, f"{what} L{i + 1}")


def meter(reading: Any) -> MeterReading:
    if not isinstance(reading, MeterReading):
        raise InvalidReading(f"meter: {reading!r} is not a meter reading")
    _three(reading.currents_a, CURRENT_A, "meter current")
    _three(reading.voltages_v, VOLTAGE_V, "meter voltage")
    number(reading.power_w, POWER_W, "meter power")
    number(reading.energy_wh, ENERGY_WH, "meter energy")
    number(reading.frequency_hz, FREQUENCY_HZ, "meter frequency")
    return reading


def temperature(value: Any) -> float:
    return number(value, TEMPERATURE_C, "temperature")


def tilt_deg(value: Any) -> float:
    return number(value, TILT_DEG, "tilt")


def gravity(value: Any) -> Vector:
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise InvalidReading(f"tilt: {value!r} is not a vector")
    x, y, z = (number(v, (-16.0, 16.0), "tilt axis") for v in value)
    g = math.sqrt(x * x + y * y + z * z)
    if not GRAVITY_G[0] <= g <= GRAVITY_G[1]:
        raise InvalidReading(f"tilt: gravity of {g:.2f} g is not a standing sensor's")
    return (x, y, z)


def pp_ohms(value: Any) -> float:
    return number(value, PP_OHMS, "proximity pilot", allow_inf=True)
