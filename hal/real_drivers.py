"""What a real driver declares and how the factory builds it.

A real driver module declares each driver it offers as a `RealDriver`: the board-file parameters (a
`board.schema.Driver`), `build(params, ctx, name)` and, for drivers with outputs, `park(params, ctx)` (drive
the outputs to their safe state from a fresh process: `chargepoint safe-outputs`). The declarations are
registered as entry points (pyproject.toml, group `chargepoint.board_drivers`), which is how the board loader
finds them without importing hal, and how `build()` here finds a driver by name. Driver modules are imported
only when a board names them, so a simulated board never imports smbus2, pymodbus or dsmr-parser.

The `BuildContext` carries what tests replace: the gpiozero pin factory, the SMBus opener (one bus object
per bus number, shared by the chips on it), the sysfs PWM root and file access, the root of /proc, /sys and
/dev (for the kernel checks: released GPIO outputs, serial consoles), the clock and the sleep function, and
the meter model the keys name (for a Modbus grid meter whose board entry pins none).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from board import system
from board.loader import DeviceSpec
from board.schema import Driver, driver
from hal.errors import DeviceError, UnsafeSystem

SYSFS_PWM_ROOT = "/sys/class/pwm"


def _no_park(params: dict[str, Any], ctx: BuildContext) -> str:
    return "no outputs"


@dataclass(frozen=True)
class RealDriver(Driver):
    """A driver's declaration with its builder. `build(params, ctx, name)` gets the parameters resolved
    against the declaration (defaults filled in); `park(params, ctx)` drives the device's outputs safe and
    releases them, returning what it did (None: the device has no outputs)."""

    build: Callable[[dict[str, Any], BuildContext, str], Any] | None = None
    park: Callable[[dict[str, Any], BuildContext], str] | None = None


@dataclass
class BuildContext:
    pin_factory: Any = None  # gpiozero pin factory; None: gpiozero's default (lgpio on the board)
    smbus: Callable[[int], Any] | None = None  # bus number -> SMBusLike; None: the real /dev/i2c-N
    sysfs_root: str = SYSFS_PWM_ROOT
    sysfs: Any = None  # file access under sysfs_root (hal.pilot_sysfs.SysfsIO); None: the real files
    system_root: str = "/"  # where /proc, /sys/module and /dev are (tests: a directory laid out like them)
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    buses: dict[int, Any] = field(default_factory=dict)
    meter_model: Callable[[], str] | None = None  # the key's grid meter model, for a grid meter without `model`

    def bus(self, number: int) -> Any:
        if number not in self.buses:
            if self.smbus is not None:
                self.buses[number] = self.smbus(number)
            else:
                from hal.i2c_devices import open_smbus

                self.buses[number] = open_smbus(number)
        return self.buses[number]

    def path(self, absolute: str) -> Path:
        return Path(self.system_root) / absolute.lstrip("/")

    def serial_port(self, port: str) -> str:
        """`port`, after checking that the kernel console is not on it (a console and a getty on the P1
        port read the meter's bytes: telegrams fail their CRC). UnsafeSystem says how to turn it off."""
        if not port.startswith("/dev/"):
            return port  # a URL (socket://, loop://, rfc2217://)
        try:
            cmdline = self.path("/proc/cmdline").read_text()
        except OSError:
            return port
        target = os.path.realpath(self.path(port))
        for name in system.serial_consoles(cmdline):
            if f"/dev/{name}" == port or os.path.realpath(self.path(f"/dev/{name}")) == target:
                raise UnsafeSystem(
                    f"{port} carries the kernel console (console={name} in /proc/cmdline): remove it from "
                    "cmdline.txt (`chargepoint board-setup`, run by install.sh) and reboot"
                )
        return port


def declaration(spec: DeviceSpec) -> RealDriver:
    decl = driver(spec.kind, spec.driver)
    if not isinstance(decl, RealDriver) or decl.build is None:
        raise ValueError(f"no real driver {spec.driver!r} for {spec.kind}")
    return decl


def build(kind: str, spec: DeviceSpec, ctx: BuildContext, name: str = "") -> Any:
    """The real device for `spec` (a validated board entry)."""
    decl = declaration(spec)
    assert decl.build is not None
    return decl.build(decl.resolve(spec.params), ctx, name or kind.replace("_", " "))


def park(spec: DeviceSpec, ctx: BuildContext) -> str | None:
    """Drive the outputs of the device `spec` describes to their safe state; what was done (None: nothing
    to do). Raises DeviceError (or OSError, gpiozero's errors) when it could not."""
    decl = declaration(spec)
    if decl.park is None:
        return None
    return decl.park(decl.resolve(spec.params), ctx)


def close_all(devices: list[Any]) -> None:
    """Closes every device that has `close()` (threads stopped, pins released); errors are ignored."""
    for dev in devices:
        close = getattr(dev, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - every device gets its chance
                pass


__all__ = ["SYSFS_PWM_ROOT", "BuildContext", "DeviceError", "RealDriver", "build", "close_all", "park"]
