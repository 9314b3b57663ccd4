"""The configuration keys the control loop owns, parsed robustly from the strings OCPP holds.

One truth: each key's type, range and default come from the key table (`controller.config.keys.KEYS`), the same
numbers the registry checks a ChangeConfiguration against, so a value the loop would refuse is Rejected where
it comes in. The main process forwards every key whose owner is "evse" (and Station-MaxCurrent) as a `Config`
message, at start and on each change. `EvseConfig.apply()` takes what it understands: booleans "true"/"false"
(any case, also "1"/"0"), numbers as decimal strings inside the table's range, enums by name (any case). A bad
value is rejected and the old value kept; unknown keys are ignored. Nothing here can raise.

Keys and meanings (Alfen key list, see docs in the reference folder):
- `TemperatureHigh` / `TemperatureLow` (°C): pause charging at/above, at/below (a fixed hard limit stays behind
  TemperatureHigh: `station.HARD_TEMPERATURE_MAX_C`).
- `ContactorProtect` (s, default 60): more than 10 EV start/stop requests within this window put the socket in
  error. The key list does not say what 0 means; a window of 0 s can never hold 11 requests, so 0 switches
  the check off (the Alfen convention for "0 = option off").
- `Disable105Percent` (bool): switch off the 105 % overcurrent check.
- `6mADetectResponse` (Smart | Immediate): reaction to the 6 mA DC residual current signal.
- `StrictPEMeasurementEnabled` (bool): a missing protective earth blocks charging.
- `Chameleon-MinCurrent` (A, default 14): the least current a Chameleon charger (Renault Zoe) is offered.
- `ZE-ready` (bool): treat every car as a Chameleon charger (apply Chameleon-MinCurrent always).
- `ConnectorN-MaxCurrent`, `Station-MaxCurrent` (A): caps of the offer.
- `CalibrateTilt` (write-only, any value): take the present gravity vector as the vertical (the check runs
  before that too, against the sensor's own vertical).
- `_TiltVector` ("x,y,z" in g, internal): the persisted calibration, handed back by the main process.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.config.keys import KEYS, KeySpec, KeyType

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


INT_RE = re.compile(r"[+-]?\d+")


def parse_int(value: Any, lo: float, hi: float) -> int | None:
    """An integer written as one ("30", not "30.0"), within lo..hi."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    if not INT_RE.fullmatch(text):
        return None
    n = int(text)
    return n if lo <= n <= hi else None


def parse_choice(value: Any, options: tuple[str, ...]) -> str | None:
    if not isinstance(value, str):
        return None
    for o in options:
        if value.strip().lower() == o.lower():
            return o
    return None


KEY_SPECS: dict[str, KeySpec] = {spec.name: spec for spec in KEYS}

# key -> EvseConfig attribute: the plain keys, as data (type, range and default: the key table)
SIMPLE_KEYS: dict[str, str] = {
    "TemperatureHigh": "temperature_high_c",
    "TemperatureLow": "temperature_low_c",
    "ContactorProtect": "contactor_protect_s",
    "Disable105Percent": "disable_105_percent",
    "6mADetectResponse": "rcd_mode",
    "StrictPEMeasurementEnabled": "strict_pe",
    "Chameleon-MinCurrent": "chameleon_min_a",
    "ZE-ready": "ze_ready",
    "Station-MaxCurrent": "station_max_a",
}
# the enum keys whose value the loop keeps as a Python enum
ENUMS: dict[str, Callable[[str], Any]] = {"6mADetectResponse": lambda v: RcdMode(v)}


def _bound(x: float | None, default: float) -> float:
    return default if x is None else float(x)


def parser(spec: KeySpec) -> Callable[[Any], Any]:
    """The parser of one key from its table entry; returns None for a value the table does not allow."""
    lo, hi = _bound(spec.minimum, -math.inf), _bound(spec.maximum, math.inf)
    if spec.type is KeyType.BOOL:
        return parse_bool
    if spec.type is KeyType.INT:
        return lambda v: parse_int(v, lo, hi)
    if spec.type is KeyType.FLOAT:
        return lambda v: parse_float(v, lo, hi)
    if spec.type is KeyType.ENUM:
        wrap = ENUMS.get(spec.name, lambda v: v)
        return lambda v: (lambda c: None if c is None else wrap(c))(parse_choice(v, spec.options))
    raise ValueError(f"{spec.name}: the loop has no parser for {spec.type}")


PARSERS: dict[str, Callable[[Any], Any]] = {key: parser(KEY_SPECS[key]) for key in SIMPLE_KEYS}


def default(key: str) -> Any:
    """The key table's default of a key the loop owns, parsed."""
    value = PARSERS[key](KEY_SPECS[key].default)
    if value is None:
        raise ValueError(f"{key}: the key table's default {KEY_SPECS[key].default!r} is outside its own range")
    return value


def connector_max_parser(cid: int) -> Callable[[Any], Any]:
    spec = KEY_SPECS.get(f"Connector{cid}-MaxCurrent") or KEY_SPECS["Connector1-MaxCurrent"]
    return parser(spec)


def parse_vector(value: Any) -> tuple[float, float, float] | None:
    """ "x,y,z" (g) -> a non-zero finite vector, else None."""
    if not isinstance(value, str):
        return None
    parts = value.split(",")
    if len(parts) != 3:
        return None
    out = [parse_float(p, -16.0, 16.0) for p in parts]
    if any(x is None for x in out) or all(x == 0.0 for x in out):
        return None
    return (float(out[0]), float(out[1]), float(out[2]))  # type: ignore[arg-type]


@dataclass
class EvseConfig:
    """Configuration values of the loop, shared by every socket; defaults are the key table's defaults."""

    temperature_high_c: float = field(default_factory=lambda: default("TemperatureHigh"))
    temperature_low_c: float = field(default_factory=lambda: default("TemperatureLow"))
    contactor_protect_s: int = field(default_factory=lambda: default("ContactorProtect"))
    disable_105_percent: bool = field(default_factory=lambda: default("Disable105Percent"))
    rcd_mode: RcdMode = field(default_factory=lambda: default("6mADetectResponse"))
    strict_pe: bool = field(default_factory=lambda: default("StrictPEMeasurementEnabled"))
    chameleon_min_a: float = field(default_factory=lambda: default("Chameleon-MinCurrent"))
    ze_ready: bool = field(default_factory=lambda: default("ZE-ready"))
    station_max_a: float | None = field(default_factory=lambda: default("Station-MaxCurrent"))
    connector_max_a: dict[int, float] = field(default_factory=dict)  # absent: the board's rating
    tilt_vector: tuple[float, float, float] | None = None  # None: not calibrated, the sensor's own vertical
    calibrate_tilt: bool = False  # a CalibrateTilt write waits for the next tilt reading

    def apply(self, values: dict[str, Any]) -> list[str]:
        """Take the values we own; returns "Key='value'" for each rejected one (old value kept)."""
        rejected: list[str] = []

        def bad(key: str) -> None:
            rejected.append(f"{key}={values[key]!r}")

        for key in values:
            v = values[key]
            parse = PARSERS.get(key)
            if parse is not None:
                parsed = parse(v)
                if parsed is None:
                    bad(key)
                else:
                    setattr(self, SIMPLE_KEYS[key], parsed)
            elif key == "_TiltVector":
                if isinstance(v, str) and v.strip() == "":
                    self.tilt_vector = None
                    continue
                vec = parse_vector(v)
                if vec is None:
                    bad(key)
                else:
                    self.tilt_vector = vec
            elif key == "CalibrateTilt":
                # A persisted calibration in the same message means this is a replay of the cached
                # configuration (e.g. after a restart), not a fresh write: never recalibrate then.
                if "_TiltVector" not in values:
                    self.calibrate_tilt = True
            else:
                m = CONNECTOR_MAX_RE.match(key)
                if m:
                    f = connector_max_parser(int(m.group(1)))(v)
                    if f is None:
                        bad(key)
                    else:
                        self.connector_max_a[int(m.group(1))] = f
        return rejected
