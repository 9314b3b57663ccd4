"""`chargepoint board check FILE`: the strict loader (board/loader.py, which stops at the first error) and then
the cross-checks a board file can only fail as a whole, each problem named with file:line; prints a table of
the devices and their drivers. Pure over the loaded `Board` (no hardware is touched; `board probe` does that).

Cross-checks (Raspberry Pi CM4 / BCM2711 facts, the [system] config.txt lines of the board):
- a device pin on a pin a bus takes (I2C, a UART, the PWM overlay): the bus and the device would fight;
- the pilot's `pwm_pin` not the pin the PWM overlay routes the channel to;
- an I2C device on a bus config.txt does not enable (i2c-1: dtparam=i2c_arm=on, i2c-0: i2c_vc=on, i2c-N:
  dtoverlay=i2cN);
- two devices on one serial port, unless both are addressed devices of one RS-485 bus (a `unit` each, the
  same baud rate and parity, different units);
- two Modbus TCP devices at one host, port and unit.
The loader's own checks (unknown keys, each driver's parameters and bounds, pins used twice, two I2C chips at
one address, UARTs config.txt does not create) come first.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from board import system
from board.errors import BoardError
from board.loader import Board, DeviceSpec, load_board
from board.schema import driver

# the GPIO lines each bus takes on a CM4 (BCM2711 default pin muxing of the overlays)
UART_PINS: dict[str, tuple[int, int]] = {
    "/dev/ttyAMA0": (14, 15), "/dev/ttyAMA2": (0, 1), "/dev/ttyAMA3": (4, 5), "/dev/ttyAMA4": (8, 9),
    "/dev/ttyAMA5": (12, 13),
}
I2C_PINS: dict[int, tuple[int, int]] = {0: (0, 1), 1: (2, 3), 3: (4, 5), 4: (6, 7), 5: (12, 13), 6: (22, 23)}
PWM_DEFAULT_PIN = 18  # dtoverlay=pwm without pin=
PWM_2CHAN_DEFAULT_PINS = (18, 19)


@dataclass(frozen=True)
class Problem:
    where: str  # "file:line"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _items(config_txt: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """config.txt lines as (directive, {name: value}): `dtoverlay=pwm,pin=12` -> ("dtoverlay", {"pwm": "",
    "pin": "12"}), `dtparam=i2c_arm=on,i2c_arm_baudrate=400000` -> ("dtparam", {"i2c_arm": "on", ...})."""
    out = []
    for raw in config_txt:
        line = raw.split("#", 1)[0].strip().replace(" ", "")
        directive, _, rest = line.partition("=")
        fields: dict[str, str] = {}
        for part in rest.split(",") if rest else []:
            name, _, value = part.partition("=")
            fields[name] = value
        out.append((directive, fields))
    return out


def enabled_i2c_buses(config_txt: Iterable[str]) -> set[int]:
    out: set[int] = set()
    for directive, fields in _items(config_txt):
        if directive == "dtparam":
            if fields.get("i2c_arm") == "on" or fields.get("i2c") == "on":
                out.add(1)
            if fields.get("i2c_vc") == "on":
                out.add(0)
        if directive == "dtoverlay":
            out.update(int(m.group(1)) for name in fields if (m := re.fullmatch(r"i2c(\d)", name)))
    return out


def pwm_pins(config_txt: Iterable[str]) -> set[int]:
    out: set[int] = set()
    for directive, fields in _items(config_txt):
        if directive != "dtoverlay":
            continue
        if "pwm" in fields:
            out.add(int(fields.get("pin") or PWM_DEFAULT_PIN))
        if "pwm-2chan" in fields:
            out.add(int(fields.get("pin") or PWM_2CHAN_DEFAULT_PINS[0]))
            out.add(int(fields.get("pin2") or PWM_2CHAN_DEFAULT_PINS[1]))
    return out


def bus_pins(config_txt: Iterable[str]) -> dict[int, str]:
    """GPIO line -> the bus config.txt gives it to."""
    lines = list(config_txt)
    out: dict[int, str] = {}
    for port in system.enabled_uarts(lines):
        for pin in UART_PINS.get(port, ()):
            out[pin] = f"the UART {port}"
    for bus in enabled_i2c_buses(lines):
        for pin in I2C_PINS.get(bus, ()):
            out[pin] = f"I2C bus i2c-{bus}"
    for pin in pwm_pins(lines):
        out[pin] = "the PWM overlay"
    return out


def _resolved(spec: DeviceSpec) -> dict[str, Any]:
    decl = driver(spec.kind, spec.driver)
    return decl.resolve(spec.params) if decl is not None else dict(spec.params)


def _named(board: Board) -> list[tuple[str, DeviceSpec, dict[str, Any]]]:
    return [(name, spec, _resolved(spec)) for name, spec in board.devices()]


def _pin_problems(board: Board) -> list[Problem]:
    if board.system is None:
        return []
    config = board.system.config_txt
    taken, pwm = bus_pins(config), pwm_pins(config)
    out = []
    for name, spec, _params in _named(board):
        for key, value in spec.params.items():
            if not key.endswith("pin") or not isinstance(value, int):
                continue
            if key == "pwm_pin":
                if value not in pwm:
                    have = ", ".join(str(p) for p in sorted(pwm)) or "none"
                    out.append(Problem(spec.where, f"{name}.pwm_pin = {value}, but the PWM overlay routes the "
                                                   f"channel to GPIO {have} (config_txt dtoverlay=pwm,pin=...)"))
                continue
            if value in taken:
                out.append(Problem(spec.where, f"{name}.{key} = {value} is a pin of {taken[value]}"))
    return out


def _i2c_problems(board: Board) -> list[Problem]:
    if board.system is None:
        return []
    enabled = enabled_i2c_buses(board.system.config_txt)
    out = []
    for name, spec, params in _named(board):
        decl = driver(spec.kind, spec.driver)
        for bus_key, _address_key in decl.i2c if decl else ():
            bus = params[bus_key]
            if bus not in enabled:
                how = {1: "dtparam=i2c_arm=on", 0: "dtparam=i2c_vc=on"}.get(bus, f"dtoverlay=i2c{bus}")
                out.append(Problem(spec.where, f"{name} is on I2C bus i2c-{bus}, which config_txt does not "
                                               f"enable (it needs {how})"))
    return out


def _serial_problems(board: Board) -> list[Problem]:
    by_port: dict[str, list[tuple[str, DeviceSpec, dict[str, Any]]]] = {}
    for name, spec, params in _named(board):
        decl = driver(spec.kind, spec.driver)
        for key, p in (decl.params.items() if decl else ()):
            if getattr(p, "role", "") == "serial_port" and key in params:
                by_port.setdefault(params[key], []).append((name, spec, params))
    out = []
    for port, users in by_port.items():
        first_name, _, first = users[0]
        for name, spec, params in users[1:]:
            if "unit" not in first or "unit" not in params:
                out.append(Problem(spec.where, f"{name} and {first_name} both use the serial port {port}"))
            elif (params.get("baudrate"), params.get("parity")) != (first.get("baudrate"), first.get("parity")):
                out.append(Problem(spec.where, f"{name} and {first_name} share the bus {port} at different "
                                               "baud rates or parities"))
        units: dict[Any, str] = {}
        for name, spec, params in users:
            if "unit" in params and params["unit"] in units:
                out.append(Problem(spec.where, f"{name} and {units[params['unit']]} are both unit "
                                               f"{params['unit']} on {port}"))
            units.setdefault(params.get("unit"), name)
    return out


def _tcp_problems(board: Board) -> list[Problem]:
    seen: dict[tuple[Any, Any, Any], str] = {}
    out = []
    for name, spec, params in _named(board):
        if "host" not in params:
            continue
        at = (params["host"], params.get("tcp_port"), params.get("unit"))
        if at in seen:
            out.append(Problem(spec.where, f"{name} and {seen[at]} are both unit {at[2]} at {at[0]}:{at[1]}"))
        seen.setdefault(at, name)
    return out


CROSS_CHECKS = (_pin_problems, _i2c_problems, _serial_problems, _tcp_problems)


def cross_check(board: Board) -> list[Problem]:
    """Every cross-check problem of a board the loader accepted."""
    return [p for check in CROSS_CHECKS for p in check(board)]


def _summary(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={hex(v) if 'addr' in k and isinstance(v, int) else v}" for k, v in params.items())


def device_table(board: Board) -> str:
    """The devices of a board, their drivers and parameters (as the board file states them), one per line."""
    rows = [(name, spec.driver, _summary(spec.params)) for name, spec in board.devices()]
    w0 = max(len("device"), *(len(r[0]) for r in rows))
    w1 = max(len("driver"), *(len(r[1]) for r in rows))
    lines = [f"{'device':<{w0}}  {'driver':<{w1}}  parameters", f"{'-' * w0}  {'-' * w1}  ----------"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows]
    return "\n".join(lines)


def check(path: str | Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Load and cross-check a board file: 0 and the device table when it is valid, 1 and every problem
    (file:line: message) when not."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        board = load_board(path)
    except BoardError as exc:
        print(f"board error: {exc}", file=err)
        return 1
    problems = cross_check(board)
    print(f"board {board.name} ({board.path}): {len(board.connectors)} connector(s)", file=out)
    print(device_table(board), file=out)
    for p in problems:
        print(f"board error: {p}", file=err)
    if problems:
        print(f"{len(problems)} problem(s)", file=err)
        return 1
    print("board check passed", file=out)
    return 0
