"""Loads a board file (TOML) and validates it strictly: unknown keys, missing devices, unknown drivers, wrong
types, values out of their declared bounds, doubly used pins, two I2C devices at one address, serial ports
the [system] config.txt does not create, a socket outlet without a proximity pilot (or a fixed cable with
one), and a board with GPIO power outputs that does not state
`dtparam=strict_gpiod` and its coil watchdog are errors that name the file and the line (Klipper's habit:
fail early). Each driver's parameters are those it declares (board.schema collects the declarations).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from board import system
from board.errors import BoardError
from board.schema import (
    AB_ONLY_KEYS,
    BOARD_KEYS,
    CONNECTOR_DEVICES,
    CONNECTOR_KEYS,
    DEFAULTS_KEYS_TYPE,
    FIRMWARE_KEYS,
    JOURNAL_KEYS,
    LIMITS_KEYS,
    MODBUS_SLAVE_KEYS,
    MQTT_KEYS,
    OPTIONAL_CONNECTOR_DEVICES,
    PILOT_BANDS_DEFAULT,
    SCN_KEYS,
    SCN_MEMBER_KEYS,
    SIGNING_METER_KEYS,
    STATION_DEVICES,
    SYSTEM_KEYS,
    WEB_KEYS,
    Driver,
    Param,
    as_param,
    driver,
    driver_names,
    real_drivers_installed,
)

__all__ = ["Board", "BoardError", "ConnectorSpec", "DeviceSpec", "SystemSpec", "builtin_board", "load_board"]

BOARD_DIR = Path(__file__).parent
TOP_LEVEL = {"board", "connector", "pilot_bands", "limits", "defaults", "firmware", "system", "journal",
             "modbus_slave", "scn", "mqtt", "web", "signing_meter", *STATION_DEVICES}


@dataclass(frozen=True)
class DeviceSpec:
    kind: str
    driver: str
    params: dict[str, Any]  # as written in the board file (the driver's declaration supplies the defaults)
    where: str = ""  # "file:line" of the device's entry, for errors at build time


@dataclass(frozen=True)
class ConnectorSpec:
    id: int
    max_current: float
    phases: int
    devices: dict[str, DeviceSpec]
    ventilation: bool = False

    @property
    def phase_relay(self) -> DeviceSpec | None:
        """The socket's 1/3-phase switch relay (None: it has none)."""
        spec = self.devices.get("phase_relay")
        return spec if spec is not None and spec.driver != "none" else None


@dataclass(frozen=True)
class SystemSpec:
    """The [system] section: the operating system facts the board needs."""

    config_txt: tuple[str, ...]
    coil_watchdog: str
    notes: str = ""

    @property
    def strict_gpiod(self) -> bool:
        return system.has_line(self.config_txt, system.STRICT_GPIOD)


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
    system: SystemSpec | None = None
    journal: dict[str, Any] = field(default_factory=dict)
    modbus_slave: dict[str, Any] = field(default_factory=dict)
    scn: dict[str, Any] = field(default_factory=dict)
    mqtt: dict[str, Any] = field(default_factory=dict)  # [mqtt] as written (controller/mqtt/settings.py)
    web: dict[str, Any] = field(default_factory=dict)  # [web] with the declared defaults filled in
    signing_meter: dict[str, Any] = field(default_factory=dict)  # [signing_meter]: the Eichrecht meters

    @property
    def phase_relays(self) -> tuple[int, ...]:
        """The sockets with a 1/3-phase switch relay."""
        return tuple(c.id for c in self.connectors if c.phase_relay is not None)

    @property
    def is_simulated(self) -> bool:
        return all(d.driver == "sim" for c in self.connectors for d in c.devices.values() if d.kind == "pilot")

    def devices(self) -> list[tuple[str, DeviceSpec]]:
        """Every device with a name for messages: connector devices first, then the station's."""
        out = [(f"connector {c.id} {kind}", spec) for c in self.connectors for kind, spec in c.devices.items()]
        return out + [(kind.replace("_", " "), spec) for kind, spec in self.station.items()]


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

    def where(self, line: int) -> str:
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, line: int, msg: str) -> BoardError:
        return BoardError(f"{self.where(line)}: {msg}")


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


def _check_type(value: Any, spec: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) and spec in (int, (int, float)):
        return False
    return isinstance(value, spec)


def _value_problem(label: str, value: Any, p: Param) -> str | None:
    if not _check_type(value, p.type):
        return f"{label} must be {_type_name(p.type)}, not {value!r}"
    why = f" ({p.why})" if p.why else ""
    if p.choices and value not in p.choices:
        return f"{label} must be {' or '.join(repr(c) for c in p.choices)}, not {value!r}{why}"
    if p.min is not None and value < p.min:
        return f"{label} must be at least {p.min}, not {value!r}{why}"
    if p.max is not None and value > p.max:
        return f"{label} must be at most {p.max}, not {value!r}{why}"
    return None


def _check_table(
    loc: _Locator, table: dict[str, Any], spec: dict[str, Param], what: str, section: str, index: int = 0
) -> None:
    for key, value in table.items():
        if key not in spec:
            allowed = ", ".join(sorted(spec)) or "none"
            raise loc.error(loc.key(section, key, index), f"unknown key {key!r} in {what} (allowed: {allowed})")
        problem = _value_problem(f"{what}.{key}", value, spec[key])
        if problem:
            raise loc.error(loc.key(section, key, index), problem)
    for key, p in spec.items():
        if p.required and key not in table:
            raise loc.error(loc.header(section, index), f"{what} is missing {key!r}")


@dataclass
class _Uses:
    """What the devices seen so far occupy, for the double-use checks."""

    pins: dict[int, str] = field(default_factory=dict)
    i2c: dict[tuple[int, int], str] = field(default_factory=dict)
    serial_ports: list[tuple[str, int, str]] = field(default_factory=list)  # (port, line, owner)
    needs: list[tuple[str, str, int, str]] = field(default_factory=list)  # (regex, why, line, owner)
    power_outputs: list[tuple[int, str]] = field(default_factory=list)  # (line, owner)


def _unknown_driver(kind: str, name: str | None) -> str:
    names = ", ".join(driver_names(kind))
    what = f"unknown driver {name!r}" if name is not None else "no driver"
    hint = ""
    if not real_drivers_installed():
        hint = "; no real drivers are installed: reinstall the package (`make .venv/.installed` or `pip install -e .`)"
    return f"{kind}: {what} (one of: {names}){hint}"


def _device(loc: _Locator, kind: str, raw: Any, section: str, index: int, uses: _Uses) -> DeviceSpec:
    line = loc.key(section, kind, index) if section == "connector" else loc.header(kind)
    owner = f"connector[{index + 1}].{kind}" if section == "connector" else kind
    if not isinstance(raw, dict):
        raise loc.error(line, f"{kind} must be a table with a driver")
    name = raw.get("driver")
    if not isinstance(name, str):
        raise loc.error(line, _unknown_driver(kind, None))
    decl: Driver | None = driver(kind, name)
    if decl is None:
        raise loc.error(line, _unknown_driver(kind, name))
    params = {k: v for k, v in raw.items() if k != "driver"}

    def key_line(key: str) -> int:
        return line if section == "connector" else loc.key(kind, key)

    declared = {k: as_param(p) for k, p in decl.params.items()}
    for key, value in params.items():
        if key not in declared:
            allowed = ", ".join(sorted(declared)) or "none"
            raise loc.error(key_line(key), f"{kind} ({name}): unknown key {key!r} (allowed: {allowed})")
        problem = _value_problem(f"{kind}.{key}", value, declared[key])
        if problem:
            raise loc.error(key_line(key), problem)
    for key, p in declared.items():
        if p.required and key not in params:
            raise loc.error(line, f"{kind} ({name}) is missing {key!r}")
    for key, value in params.items():
        if key.endswith("pin"):
            who = f"{owner}.{key}"
            if value in uses.pins:
                raise loc.error(key_line(key), f"pin {value} is used twice: by {uses.pins[value]} and by {who}")
            if not 0 <= value <= 27:
                raise loc.error(line, f"{who}: GPIO pin {value} does not exist (0..27)")
            uses.pins[value] = who
        if declared[key].role == "serial_port":
            uses.serial_ports.append((value, key_line(key), f"{owner}.{key}"))
    resolved = decl.resolve(params)
    for bus_key, address_key in decl.i2c:
        at = (resolved[bus_key], resolved[address_key])
        who = f"{owner} ({name} at 0x{at[1]:02x} on i2c-{at[0]})"
        if at in uses.i2c:
            raise loc.error(
                key_line(address_key) if address_key in params else line,
                f"I2C address 0x{at[1]:02x} on bus {at[0]} is used twice: by {uses.i2c[at]} and by {who}",
            )
        uses.i2c[at] = who
    for pattern, why in decl.config_txt:
        uses.needs.append((pattern, why, line, f"{owner} ({name})"))
    if decl.power_output:
        uses.power_outputs.append((line, f"{owner} ({name})"))
    return DeviceSpec(kind, name, params, loc.where(line))


def _check_pp(loc: _Locator, index: int, pp: DeviceSpec | None, fixed_cable: bool) -> None:
    """A socket outlet reads the cable's coding resistor (IEC 61851-1 Annex B): without it the loop could only
    assume the board's rating, and a 13 A cable in a 32 A socket would overheat. A fixed cable has no PP."""
    present = pp is not None and pp.driver != "none"
    if fixed_cable and present:
        raise loc.error(
            loc.key("connector", "pp", index),
            f"connector {index + 1}: the board has a fixed cable (board.fixed_cable = true), which has no "
            "proximity pilot: remove pp",
        )
    if not fixed_cable and not present:
        line = loc.key("connector", "pp", index) if pp is not None else loc.header("connector", index)
        raise loc.error(
            line,
            f"connector {index + 1} is a socket outlet (the board is not fixed_cable = true): it needs a pp device "
            "reading the cable's coding resistor (IEC 61851-1 Annex B), e.g. pp = { driver = \"ads1115\", ... }",
        )


def _system(loc: _Locator, data: dict[str, Any], uses: _Uses) -> SystemSpec | None:
    raw = data.get("system")
    if raw is None:
        if uses.power_outputs:
            line, owner = uses.power_outputs[0]
            raise loc.error(
                line,
                f"{owner} is a GPIO power output: the board needs a [system] section with config_txt (including "
                f"{system.STRICT_GPIOD}) and coil_watchdog (what opens the contactor when no software runs)",
            )
        return None
    if not isinstance(raw, dict):
        raise loc.error(loc.key(None, "system"), "system must be a table")
    _check_table(loc, raw, SYSTEM_KEYS, "system", "system")
    config = raw["config_txt"]
    if not all(isinstance(x, str) for x in config):
        raise loc.error(loc.key("system", "config_txt"), "system.config_txt items must be strings")
    for port, line, owner in uses.serial_ports:
        problem = system.uart_problem(port, config)
        if problem:
            raise loc.error(line, f"{owner}: {problem}")
    for pattern, why, _line, owner in uses.needs:
        if not any(re.match(pattern, x.strip()) for x in config):
            raise loc.error(
                loc.key("system", "config_txt"), f"{owner} needs a config_txt line matching {pattern!r}: {why}"
            )
    return SystemSpec(tuple(config), raw["coil_watchdog"], raw.get("notes", ""))


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

    uses = _Uses()
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
        devices = {kind: _device(loc, kind, raw[kind], "connector", i, uses) for kind in CONNECTOR_DEVICES}
        for kind in OPTIONAL_CONNECTOR_DEVICES:
            if kind in raw:
                devices[kind] = _device(loc, kind, raw[kind], "connector", i, uses)
        _check_pp(loc, i, devices.get("pp"), bool(board.get("fixed_cable", False)))
        connectors.append(
            ConnectorSpec(
                raw["id"], float(raw.get("max_current", 32)), raw.get("phases", 3), devices,
                bool(raw.get("ventilation", False)),
            )
        )

    station: dict[str, DeviceSpec] = {}
    for kind in STATION_DEVICES:
        if kind not in data:
            raise loc.error(0, f"missing [{kind}] section (use driver = \"none\" if the board has no {kind})")
        station[kind] = _device(loc, kind, data[kind], kind, 0, uses)

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
    limits = {k: float(p.default) for k, p in LIMITS_KEYS.items()}
    limits.update({k: float(v) for k, v in limits_raw.items()})

    defaults_raw = data.get("defaults", {})
    for key, value in defaults_raw.items():
        if not _check_type(value, DEFAULTS_KEYS_TYPE):
            raise loc.error(loc.key("defaults", key), f"defaults.{key} must be a string, number or boolean")
    defaults = {k: (("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in defaults_raw.items()}

    firmware_raw = data.get("firmware", {})
    _check_table(loc, firmware_raw, FIRMWARE_KEYS, "firmware", "firmware")
    for key in ("install_command", "slot_install_command"):
        value = firmware_raw.get(key)
        if isinstance(value, list) and not all(isinstance(a, str) for a in value):
            raise loc.error(loc.key("firmware", key), f"firmware.{key} items must be strings")
    method = firmware_raw.get("method", "command")
    for key in ("install_command",) if method == "ab" else AB_ONLY_KEYS:
        if key in firmware_raw:
            raise loc.error(loc.key("firmware", key), f"firmware.{key} does not apply to method = {method!r}")
    journal_raw = data.get("journal", {})
    _check_table(loc, journal_raw, JOURNAL_KEYS, "journal", "journal")
    modbus_raw = data.get("modbus_slave", {})
    _check_table(loc, modbus_raw, MODBUS_SLAVE_KEYS, "modbus_slave", "modbus_slave")
    for a in modbus_raw.get("allow", []):
        try:
            ipaddress.ip_network(a, strict=False)
        except (TypeError, ValueError):
            raise loc.error(loc.key("modbus_slave", "allow"), f"modbus_slave.allow: {a!r} is not an address or network") from None
    scn_raw = data.get("scn", {})
    if scn_raw:
        _check_table(loc, scn_raw, SCN_KEYS, "scn", "scn")
    for m in scn_raw.get("members", []):
        if not isinstance(m, dict):
            raise loc.error(loc.key("scn", "members"), "scn.members items must be tables { address = \"host:port\" }")
        _check_table(loc, m, SCN_MEMBER_KEYS, "scn.members", "scn")
        host, _, port = str(m["address"]).rpartition(":")
        if not host or not port.isdigit():
            raise loc.error(loc.key("scn", "members"), f"scn.members: address {m['address']!r} is not host:port")
    mqtt_raw = data.get("mqtt", {})
    _check_table(loc, mqtt_raw, MQTT_KEYS, "mqtt", "mqtt")
    web_raw = data.get("web", {})
    _check_table(loc, web_raw, WEB_KEYS, "web", "web")

    signing_raw = data.get("signing_meter", {})
    if "signing_meter" in data:
        _check_table(loc, signing_raw, SIGNING_METER_KEYS, "signing_meter", "signing_meter")
    for cid in signing_raw.get("connectors", []):
        if cid not in [c.id for c in connectors]:
            raise loc.error(loc.key("signing_meter", "connectors"), f"signing_meter.connectors: no connector {cid!r}")

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
        system=_system(loc, data, uses),
        journal=dict(journal_raw),
        modbus_slave=dict(modbus_raw),
        scn=dict(scn_raw),
        mqtt=dict(mqtt_raw),
        web={**{k: w.default for k, w in WEB_KEYS.items()}, **web_raw},
        signing_meter=dict(signing_raw),
    )
