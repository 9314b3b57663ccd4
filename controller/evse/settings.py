"""The configuration keys the control loop owns, parsed robustly from the strings OCPP holds.

The main process forwards every key whose owner is "evse" as `{"t": "config", "values": {Key: "value"}}`, at
start and on each change. `EvseConfig.apply()` takes what it understands: booleans "true"/"false" (any case,
also "1"/"0"), numbers as decimal strings, enums by name (any case). A bad value is rejected and the old value
kept; unknown keys are ignored. Nothing here can raise.

Keys and meanings (Alfen key list, see docs in the reference folder):
- `TemperatureHigh` / `TemperatureLow` (°C): pause charging at/above, at/below.
- `ContactorProtect` (s, 0..32767, default 60): more than 10 EV start/stop requests within this window put
  the socket in error. The key list does not say what 0 means; a window of 0 s can never hold 11 requests,
  so 0 switches the check off (the Alfen convention for "0 = option off").
- `Disable105Percent` (bool): switch off the 105 % overcurrent check.
- `6mADetectResponse` (Smart | Immediate): reaction to the 6 mA DC residual current signal.
- `StrictPEMeasurementEnabled` (bool): a missing protective earth blocks charging.
- `Chameleon-MinCurrent` (A, default 14): the least current a Chameleon charger (Renault Zoe) is offered.
- `ZE-ready` (bool): treat every car as a Chameleon charger (apply Chameleon-MinCurrent always).
- `ConnectorN-MaxCurrent`, `Station-MaxCurrent` (A): caps of the offer.
- `CalibrateTilt` (write-only, any value): calibrate the tilt sensor at its present reading (the check is on
  before that too, against the sensor's own vertical).
- `_TiltOffset` (°, internal): the persisted calibration, handed back by the main process.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

CONNECTOR_MAX_RE = re.compile(r"^Connector(\d+)-MaxCurrent$")


class RcdMode(StrEnum):
    SMART = "Smart"
    IMMEDIATE = "Immediate"


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "1"):
            return True
        if v in ("false", "0"):
            return False
    return None


def parse_float(value: Any, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        f = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f) or not lo <= f <= hi:
        return None
    return f


def parse_int(value: Any, lo: int, hi: int) -> int | None:
    f = parse_float(value, lo, hi)
    if f is None or f != int(f):
        return None
    return int(f)


def parse_choice(value: Any, options: tuple[str, ...]) -> str | None:
    if not isinstance(value, str):
        return None
    for o in options:
        if value.strip().lower() == o.lower():
            return o
    return None


# key -> (EvseConfig attribute, parser returning None for a bad value): the plain keys, as data
SIMPLE_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "TemperatureHigh": ("temperature_high_c", lambda v: parse_float(v, -100.0, 200.0)),
    "TemperatureLow": ("temperature_low_c", lambda v: parse_float(v, -100.0, 200.0)),
    "ContactorProtect": ("contactor_protect_s", lambda v: parse_int(v, 0, 32767)),
    "Disable105Percent": ("disable_105_percent", parse_bool),
    "6mADetectResponse": ("rcd_mode", lambda v: _rcd_mode(parse_choice(v, tuple(m.value for m in RcdMode)))),
    "StrictPEMeasurementEnabled": ("strict_pe", parse_bool),
    "Chameleon-MinCurrent": ("chameleon_min_a", lambda v: parse_float(v, 0.0, 80.0)),
    "ZE-ready": ("ze_ready", parse_bool),
    "Station-MaxCurrent": ("station_max_a", lambda v: parse_float(v, 0.0, 1000.0)),
}


def _rcd_mode(choice: str | None) -> RcdMode | None:
    return None if choice is None else RcdMode(choice)


@dataclass
class EvseConfig:
    """Configuration values of the loop, shared by every socket; defaults are the key defaults."""

    temperature_high_c: float = 70.0
    temperature_low_c: float = -25.0
    contactor_protect_s: int = 60
    disable_105_percent: bool = False
    rcd_mode: RcdMode = RcdMode.IMMEDIATE
    strict_pe: bool = False
    chameleon_min_a: float = 14.0
    ze_ready: bool = False
    station_max_a: float | None = None  # None: no station cap beyond the sockets' own
    connector_max_a: dict[int, float] = field(default_factory=dict)
    tilt_offset_deg: float | None = None  # None: not calibrated, the sensor's own vertical (0°) counts
    calibrate_tilt: bool = False  # a CalibrateTilt write waits for the next tilt reading

    def apply(self, values: dict[str, Any]) -> list[str]:
        """Take the values we own; returns "Key='value'" for each rejected one (old value kept)."""
        rejected: list[str] = []

        def bad(key: str) -> None:
            rejected.append(f"{key}={values[key]!r}")

        for key in values:
            v = values[key]
            simple = SIMPLE_KEYS.get(key)
            if simple is not None:
                attr, parse = simple
                parsed = parse(v)
                if parsed is None:
                    bad(key)
                else:
                    setattr(self, attr, parsed)
            elif key == "_TiltOffset":
                if isinstance(v, str) and v.strip() == "":
                    self.tilt_offset_deg = None
                    continue
                f = parse_float(v, -180.0, 180.0)
                if f is None:
                    bad(key)
                else:
                    self.tilt_offset_deg = f
            elif key == "CalibrateTilt":
                # A persisted offset in the same message means this is a replay of the cached
                # configuration (e.g. after a restart), not a fresh write: never recalibrate then.
                if "_TiltOffset" not in values:
                    self.calibrate_tilt = True
            else:
                m = CONNECTOR_MAX_RE.match(key)
                if m:
                    f = parse_float(v, 0.0, 1000.0)
                    if f is None:
                        bad(key)
                    else:
                        self.connector_max_a[int(m.group(1))] = f
        return rejected
