"""Loads a board file (TOML) and validates it strictly: unknown keys, missing devices, unknown drivers,
wrong types and doubly used pins are errors that name the file and the line (Klipper's habit: fail early)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from board.schema import (
    BOARD_KEYS,
    CONNECTOR_DEVICES,
    CONNECTOR_KEYS,
    DEFAULTS_KEYS_TYPE,
    DRIVERS,
    FIRMWARE_KEYS,
    LIMITS_KEYS,
    OPTIONAL_CONNECTOR_DEVICES,
    PILOT_BANDS_DEFAULT,
    STATION_DEVICES,
    Param,
)
from hal.errors import BoardError

BOARD_DIR = Path(__file__).parent
TOP_LEVEL = {"board", "connector", "pilot_bands", "limits", "defaults", "firmware", *STATION_DEVICES}


@dataclass(frozen=True)
class DeviceSpec:
    kind: str
    driver: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ConnectorSpec:
    id: int
    max_current: float
    phases: int
    devices: dict[str, DeviceSpec]
    ventilation: bool = False


@dataclass(frozen=True)
class Board:
    path: Path
    name: str
    description: str
    fixed_cable: bool
    connectors: tuple[ConnectorSpec, ...]
    station: dict[str, DeviceSpec]
    pilot_bands: dict[str, tuple[float, float]]
    limits: dict[str, float]
    defaults: dict[str, str] = field(default_factory=dict)
    firmware: dict[str, Any] = field(default_factory=dict)

    @property
    def is_simulated(self) -> bool:
        return all(d.driver == "sim" for c in self.connectors for d in c.devices.values() if d.kind == "pilot")


def builtin_board(name: str) -> Path:
    """Path of a board file shipped with the package, e.g. `sim` or `sim-double`."""
    return BOARD_DIR / f"{name}.toml"


class _Locator:
    """Finds the line of a section or key in the TOML text, for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def header(self, name: str, index: int = 0) -> int:
        pat = re.compile(r"^\s*\[\[?\s*" + re.escape(name) + r"\s*\]\]?\s*(#.*)?$")
        seen = 0
        for i, line in enumerate(self.lines, 1):
            if pat.match(line):
                if seen == index:
                    return i
                seen += 1
        return 0

    def key(self, section: str | None, key: str, index: int = 0) -> int:
        start = self.header(section, index) if section else 1
        pat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for i in range(max(start, 1), len(self.lines) + 1):
            line = self.lines[i - 1]
            if i > start and section and re.match(r"^\s*\[", line):
                break
            if pat.match(line):
                return i
        return start

    def error(self, line: int, msg: str) -> BoardError:
        where = f"{self.path}:{line}" if line else str(self.path)
        return BoardError(f"{where}: {msg}")


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


def _check_type(value: Any, spec: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) and spec in (int, (int, float)):
        return False
    return isinstance(value, spec)


def _check_table(
    loc: _Locator, table: dict[str, Any], spec: dict[str, Param], what: str, section: str, index: int = 0
) -> None:
    for key, value in table.items():
        if key not in spec:
            allowed = ", ".join(sorted(spec)) or "none"
            raise loc.error(loc.key(section, key, index), f"unknown key {key!r} in {what} (allowed: {allowed})")
        t, _ = spec[key]
        if not _check_type(value, t):
            raise loc.error(loc.key(section, key, index), f"{what}.{key} must be {_type_name(t)}, not {value!r}")
    for key, (_, required) in spec.items():
        if required and key not in table:
            raise loc.error(loc.header(section, index), f"{what} is missing {key!r}")


def _device(loc: _Locator, kind: str, raw: Any, section: str, index: int, pins: dict[int, str]) -> DeviceSpec:
    line = loc.key(section, kind, index) if section == "connector" else loc.header(kind)
    if not isinstance(raw, dict):
        raise loc.error(line, f"{kind} must be a table with a driver")
    driver = raw.get("driver")
    if not isinstance(driver, str):
        raise loc.error(line, f"{kind} has no driver (one of: {', '.join(sorted(DRIVERS[kind]))})")
    if driver not in DRIVERS[kind]:
        raise loc.error(line, f"{kind}: unknown driver {driver!r} (one of: {', '.join(sorted(DRIVERS[kind]))})")
    params = {k: v for k, v in raw.items() if k != "driver"}
    spec = DRIVERS[kind][driver]

    def key_line(key: str) -> int:
        return line if section == "connector" else loc.key(kind, key)

    for key, value in params.items():
        if key not in spec:
            allowed = ", ".join(sorted(spec)) or "none"
            raise loc.error(key_line(key), f"{kind} ({driver}): unknown key {key!r} (allowed: {allowed})")
        t, _ = spec[key]
        if not _check_type(value, t):
            raise loc.error(key_line(key), f"{kind}.{key} must be {_type_name(t)}, not {value!r}")
    for key, (_, required) in spec.items():
        if required and key not in params:
            raise loc.error(line, f"{kind} ({driver}) is missing {key!r}")
    for key, value in params.items():
        if key.endswith("pin"):
            owner = f"{section}[{index}].{kind}.{key}" if section == "connector" else f"{kind}.{key}"
            if value in pins:
                raise loc.error(key_line(key), f"pin {value} is used twice: by {pins[value]} and by {owner}")
            if not 0 <= value <= 27:
                raise loc.error(line, f"{owner}: GPIO pin {value} does not exist (0..27)")
            pins[value] = owner
    return DeviceSpec(kind, driver, params)


def load_board(path: str | Path) -> Board:
    """Parse and validate a board file; raises BoardError naming file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BoardError(f"{p}: cannot read board file: {exc.strerror or exc}") from exc
    loc = _Locator(p, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"{p}: not valid TOML: {exc}") from exc

    for key in data:
        if key not in TOP_LEVEL:
            line = loc.header(key) or loc.key(None, key)
            raise loc.error(line, f"unknown section {key!r} (allowed: {', '.join(sorted(TOP_LEVEL))})")
    if "board" not in data:
        raise loc.error(0, "missing [board] section")
    board = data["board"]
    _check_table(loc, board, BOARD_KEYS, "board", "board")

    pins: dict[int, str] = {}
    raw_connectors = data.get("connector", [])
    if not isinstance(raw_connectors, list):
        raise loc.error(loc.header("connector"), "connectors must be [[connector]] tables")
    if len(raw_connectors) != board["connectors"]:
        raise loc.error(
            loc.key("board", "connectors"),
            f"board.connectors = {board['connectors']} but {len(raw_connectors)} [[connector]] tables are given",
        )
    connectors: list[ConnectorSpec] = []
    for i, raw in enumerate(raw_connectors):
        _check_table(loc, raw, CONNECTOR_KEYS, f"connector {i + 1}", "connector", i)
        if raw["id"] != i + 1:
            raise loc.error(loc.key("connector", "id", i), f"connector ids must be 1, 2, ... in order; got {raw['id']}")
        phases = raw.get("phases", 3)
        if phases not in (1, 3):
            raise loc.error(loc.key("connector", "phases", i), "phases must be 1 or 3")
        devices = {kind: _device(loc, kind, raw[kind], "connector", i, pins) for kind in CONNECTOR_DEVICES}
        for kind in OPTIONAL_CONNECTOR_DEVICES:
            if kind in raw:
                devices[kind] = _device(loc, kind, raw[kind], "connector", i, pins)
        pp = devices.get("pp")
        if board.get("fixed_cable", False):
            if pp is not None and pp.driver != "none":
                raise loc.error(loc.key("connector", "pp", i), "a fixed cable has no proximity pilot (pp)")
        elif pp is None or pp.driver == "none":
            raise loc.error(
                loc.header("connector", i),
                f"connector {raw['id']} is a socket: it needs a proximity pilot (pp = {{ driver = ... }}), "
                "or the board has a fixed cable (fixed_cable = true)",
            )
        connectors.append(
            ConnectorSpec(
                raw["id"], float(raw.get("max_current", 32)), phases, devices, bool(raw.get("ventilation", False))
            )
        )

    station: dict[str, DeviceSpec] = {}
    for kind in STATION_DEVICES:
        if kind not in data:
            raise loc.error(0, f"missing [{kind}] section (use driver = \"none\" if the board has no {kind})")
        station[kind] = _device(loc, kind, data[kind], kind, 0, pins)

    bands = dict(PILOT_BANDS_DEFAULT)
    for state, rng in data.get("pilot_bands", {}).items():
        line = loc.key("pilot_bands", state)
        if state not in bands:
            raise loc.error(line, f"unknown pilot state {state!r} (A..F)")
        if (
            not isinstance(rng, list)
            or len(rng) != 2
            or not all(_check_type(v, (int, float)) for v in rng)
            or rng[0] >= rng[1]
        ):
            raise loc.error(line, f"pilot band {state} must be [low, high] volts with low < high")
        bands[state] = (float(rng[0]), float(rng[1]))

    limits_raw = data.get("limits", {})
    _check_table(loc, limits_raw, LIMITS_KEYS, "limits", "limits")
    limits = {"tilt_threshold_deg": 15.0, "diode_max_low_v": -10.5, "temperature_hysteresis_c": 5.0}
    limits.update({k: float(v) for k, v in limits_raw.items()})

    defaults_raw = data.get("defaults", {})
    for key, value in defaults_raw.items():
        if not _check_type(value, DEFAULTS_KEYS_TYPE[0]):
            raise loc.error(loc.key("defaults", key), f"defaults.{key} must be a string, number or boolean")
    defaults = {k: (("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in defaults_raw.items()}

    firmware_raw = data.get("firmware", {})
    _check_table(loc, firmware_raw, FIRMWARE_KEYS, "firmware", "firmware")
    command = firmware_raw.get("install_command")
    if isinstance(command, list) and not all(isinstance(a, str) for a in command):
        raise loc.error(loc.key("firmware", "install_command"), "firmware.install_command items must be strings")

    return Board(
        path=p,
        name=board["name"],
        description=board.get("description", ""),
        fixed_cable=board.get("fixed_cable", False),
        connectors=tuple(connectors),
        station=station,
        pilot_bands=bands,
        limits=limits,
        defaults=defaults,
        firmware=dict(firmware_raw),
    )
