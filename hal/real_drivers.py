"""Board parameters -> real driver objects, for every real driver listed in `board.schema.DRIVERS`.

`hal.factory` calls `build(kind, spec, ctx)` for any driver that is not "sim" or "none". The context carries
what tests replace: the gpiozero pin factory, the SMBus opener (one bus object per bus number, shared by the
chips on it), the sysfs PWM root and the clock. Driver modules are imported only when a board uses them, so a
simulated board never imports smbus2, pymodbus or dsmr-parser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from board.loader import DeviceSpec
from hal.pilot_sysfs import SYSFS_PWM_ROOT


@dataclass
class BuildContext:
    pin_factory: Any = None
    smbus: Callable[[int], Any] | None = None  # bus number -> SMBusLike; None: the real /dev/i2c-N
    sysfs_root: str = SYSFS_PWM_ROOT
    now: Callable[[], float] = time.monotonic
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


def _pick(params: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: params[n] for n in names if n in params}


def _gpio(kind: str, p: dict[str, Any], ctx: BuildContext) -> Any:
    from hal import gpio

    if kind == "contactor":
        return gpio.GpioContactor(pin_factory=ctx.pin_factory, **_pick(p, "pin", "feedback_pin", "active_high", "feedback_active_high"))
    if kind == "lock":
        return gpio.GpioLock(pin_factory=ctx.pin_factory, **_pick(p, "pin", "feedback_pin", "feedback_active_high"))
    if kind == "suspend_input":
        return gpio.GpioSuspendInput(pin_factory=ctx.pin_factory, **_pick(p, "pin", "active_high"))
    if kind == "rcd":
        return gpio.GpioRcd(
            pin_factory=ctx.pin_factory,
            now=ctx.now,
            **_pick(p, "fault_pin", "test_pin", "reset_pin", "fault_active_high", "test_timeout_s"),
        )
    if kind == "leds":
        return gpio.GpioRgbLeds(
            pin_factory=ctx.pin_factory, **_pick(p, "red_pin", "green_pin", "blue_pin", "nfc_pin", "active_high")
        )
    raise ValueError(f"no gpiozero driver for {kind}")


def _pilot(p: dict[str, Any], ctx: BuildContext) -> Any:
    from hal.i2c_devices import Ads1115
    from hal.pilot_sysfs import SysfsPilot, SysfsPwm

    adc = Ads1115(
        ctx.bus(p.get("i2c_bus", 1)), p.get("adc_address", 0x48), float(p.get("adc_full_scale_v", 4.096))
    )
    pwm = SysfsPwm(p.get("pwm_chip", 0), p.get("pwm_channel", 0), sysfs_root=ctx.sysfs_root)
    return SysfsPilot(
        pwm,
        adc,
        high_channel=p.get("adc_high_input", 0),
        low_channel=p.get("adc_low_input", 1),
        divider=float(p.get("adc_divider", 8.0)),
        offset_v=float(p.get("adc_offset_v", 1.65)),
        inverted=p.get("inverted", False),
    )


def _meter(driver: str, p: dict[str, Any], ctx: BuildContext, name: str, signed: bool) -> Any:
    if driver == "p1":
        from hal.p1_meter import P1Meter

        return P1Meter(now=ctx.now, **_pick(p, "port", "baudrate", "spec", "stale_after_s"))
    from hal import modbus_meter

    common = _pick(p, "unit", "poll_interval_s", "stale_after_s", "timeout_s")
    if driver == "sdm_tcp":
        return modbus_meter.sdm_tcp(
            signed_currents=signed, now=ctx.now, name=name, **_pick(p, "host", "tcp_port"), **common
        )
    if driver == "sdm_rtu":
        return modbus_meter.sdm_rtu(
            signed_currents=signed, now=ctx.now, name=name, **_pick(p, "port", "baudrate", "parity"), **common
        )
    if driver in ("modbus_tcp", "modbus_rtu"):
        select = ctx.meter_model if signed else None  # only the grid meter follows the key
        make = modbus_meter.modbus_tcp if driver == "modbus_tcp" else modbus_meter.modbus_rtu
        link = _pick(p, "host", "tcp_port") if driver == "modbus_tcp" else _pick(p, "port", "baudrate", "parity")
        return make(
            signed_currents=signed, now=ctx.now, name=name, model=p.get("model"), select=select, **link, **common
        )
    raise ValueError(f"no meter driver {driver!r}")


def build(kind: str, spec: DeviceSpec, ctx: BuildContext, name: str = "") -> Any:
    """The real device for `spec` (a validated board entry)."""
    p = spec.params
    d = spec.driver
    if d == "gpiozero":
        return _gpio(kind, p, ctx)
    if kind == "pilot" and d == "sysfs_ads1115":
        return _pilot(p, ctx)
    if kind in ("meter", "grid_meter"):
        return _meter(d, p, ctx, name or kind.replace("_", " "), signed=kind == "grid_meter")
    if kind == "temperature" and d in ("mcp9808", "tmp102"):
        from hal.i2c_devices import Mcp9808Temperature, Tmp102Temperature

        cls = Mcp9808Temperature if d == "mcp9808" else Tmp102Temperature
        address = p.get("address", 0x18 if d == "mcp9808" else 0x48)
        return cls(ctx.bus(p.get("i2c_bus", 1)), address, now=ctx.now)
    if kind == "tilt" and d == "adxl345":
        from hal.i2c_devices import Adxl345Tilt

        vertical = (float(p.get("vertical_x", 0.0)), float(p.get("vertical_y", 0.0)), float(p.get("vertical_z", 1.0)))
        return Adxl345Tilt(ctx.bus(p.get("i2c_bus", 1)), p.get("address", 0x53), vertical, now=ctx.now)
    if kind == "rfid" and d == "rdm6300":
        from hal.serial_rfid import Rdm6300Reader

        return Rdm6300Reader(now=ctx.now, **_pick(p, "port", "baudrate"))
    if kind == "rfid" and d == "pn532_hsu":
        from hal.pn532 import pn532_hsu

        return pn532_hsu(now=ctx.now, **_pick(p, "port", "baudrate", "reverse_uid"))
    if kind == "rfid" and d == "pn532_i2c":
        from hal.pn532 import pn532_i2c

        bus_number = p.get("i2c_bus", 1)
        return pn532_i2c(
            ctx.bus(bus_number), p.get("address", 0x24), bus_number, now=ctx.now, **_pick(p, "reverse_uid")
        )
    raise ValueError(f"no driver {d!r} for {kind}")


def close_all(devices: list[Any]) -> None:
    """Closes every device that has `close()` (threads stopped, pins released); errors are ignored."""
    for dev in devices:
        close = getattr(dev, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - every device gets its chance
                pass
