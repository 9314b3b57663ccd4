"""Real drivers for the I2C chips of the board, over smbus2: the ADS1115 ADC (used by the pilot driver),
the MCP9808 and TMP102 temperature sensors and the ADXL345 accelerometer (tilt). smbus2 is imported only here.

Hardware assumption: the chips sit on a Linux I2C adapter (`/dev/i2c-N`, the CM4's i2c-1 on GPIO 2/3 at
100-400 kHz). Every bus error (NACK, missing chip, arbitration lost) surfaces as `DeviceOffline`. Each chip
checks its identity (an ID register, or the power-up pattern of registers nobody writes where the chip has
no ID) when it is armed, so a wrong address or another chip at the address (a TMP102 at 0x48 reading the
pilot's ADS1115) is a `DeviceError` at start-up. An impossible answer (all ones from a stuck bus, bits the
chip always reads as zero, a temperature outside the chip's range, no gravity) is a `DeviceError`, never a
value. After any error the next read re-arms the chip: identity checked again and its configuration
rewritten (an ADXL345 back from a brown-out is in standby and reads zeros).

These sensors are read from the control process every 10 ms tick, so each driver throttles its bus traffic
(`min_interval_s`) and serves the last value in between: one tick never costs more than one short transfer.
Tests pass a fake bus object that behaves like the chip's register map (`SMBusLike`).
"""

from __future__ import annotations

import math
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from board.schema import Param
from hal.errors import DeviceError, DeviceOffline
from hal.real_drivers import BuildContext, RealDriver

Now = Callable[[], float]


class SMBusLike(Protocol):
    """The part of `smbus2.SMBus` the drivers use (register-addressed byte and block transfers)."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None: ...


def open_smbus(bus: int) -> SMBusLike:
    """The real bus `/dev/i2c-<bus>`."""
    from smbus2 import SMBus

    try:
        return SMBus(bus)
    except OSError as exc:
        raise DeviceOffline(f"cannot open /dev/i2c-{bus}: {exc.strerror or exc}") from exc


class I2cChip:
    """A chip at `address` on `bus`; every transfer error becomes `DeviceOffline` naming the chip."""

    name = "i2c chip"

    def __init__(self, bus: SMBusLike, address: int) -> None:
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"{self.name}: I2C address 0x{address:02x} is outside 0x03..0x77")
        self.bus = bus
        self.address = address

    def _offline(self, what: str, exc: OSError) -> DeviceOffline:
        return DeviceOffline(f"{self.name} at 0x{self.address:02x}: {what} failed: {exc.strerror or exc}")

    def read_block(self, register: int, length: int) -> list[int]:
        try:
            return list(self.bus.read_i2c_block_data(self.address, register, length))
        except OSError as exc:
            raise self._offline(f"read of register 0x{register:02x}", exc) from exc

    def write_block(self, register: int, data: Sequence[int]) -> None:
        try:
            self.bus.write_i2c_block_data(self.address, register, list(data))
        except OSError as exc:
            raise self._offline(f"write of register 0x{register:02x}", exc) from exc

    def read_byte(self, register: int) -> int:
        try:
            return int(self.bus.read_byte_data(self.address, register))
        except OSError as exc:
            raise self._offline(f"read of register 0x{register:02x}", exc) from exc

    def write_byte(self, register: int, value: int) -> None:
        try:
            self.bus.write_byte_data(self.address, register, value)
        except OSError as exc:
            raise self._offline(f"write of register 0x{register:02x}", exc) from exc

    def read_data(self, register: int, length: int) -> list[int]:
        """A measurement read: all ones is a stuck bus (SDA held high, chip gone mid-transfer), not a value."""
        data = self.read_block(register, length)
        if all(b == 0xFF for b in data):
            raise DeviceError(f"{self.name} at 0x{self.address:02x}: register 0x{register:02x} reads all ones (stuck bus?)")
        return data

    def arm(self) -> None:
        """Check the chip's identity and write its configuration (at start-up and after an error)."""


class _Throttle:
    """Calls `fetch` at most every `interval_s` and serves the last result (value or error) in between."""

    def __init__(self, fetch: Callable[[], float], now: Now, interval_s: float) -> None:
        self._fetch = fetch
        self._now = now
        self._interval = interval_s
        self._at: float | None = None
        self._value = 0.0
        self._error: tuple[type[DeviceError], str] | None = None

    def __call__(self) -> float:
        t = self._now()
        if self._at is None or t - self._at >= self._interval:
            self._at = t
            try:
                self._value = self._fetch()
                self._error = None
            except DeviceError as exc:
                self._error = (type(exc), str(exc))
        if self._error is not None:
            raise self._error[0](self._error[1])  # a new exception each time: no growing traceback
        return self._value


class I2cSensor(I2cChip):
    """A sensor read at most every `min_interval_s` (the last value or error served in between). A failed read
    disarms it; the next read re-arms it first (`arm()`), and when `ARM_SETTLE` (the chip needs a conversion
    after its configuration), that read reports the re-arm as an error and the one after it measures."""

    ARM_SETTLE = False

    def __init__(self, bus: SMBusLike, address: int, now: Now, min_interval_s: float) -> None:
        super().__init__(bus, address)
        self.arm()
        self._armed = True
        self.rearms = 0
        self._read = _Throttle(self._measure, now, min_interval_s)

    def _measure(self) -> float:
        if not self._armed:
            self.arm()
            self._armed = True
            self.rearms += 1
            if self.ARM_SETTLE:
                raise DeviceError(f"{self.name} at 0x{self.address:02x}: re-armed, first sample on the next read")
        try:
            return self._fetch()
        except DeviceError:
            self._armed = False
            raise

    def _fetch(self) -> float:
        raise NotImplementedError


# --- ADS1115 16-bit ADC -----------------------------------------------------------------------------------


class Ads1115(I2cChip):
    """TI ADS1115: 4 single-ended inputs, single-shot conversions. Register 0 = conversion, 1 = config.

    Non-blocking use: `start(channel)`, later `ready()` and `volts()`; a conversion at 860 SPS takes 1.2 ms.
    """

    name = "ADS1115"
    REG_CONVERSION = 0x00
    REG_CONFIG = 0x01
    REG_LO_THRESH = 0x02
    REG_HI_THRESH = 0x03
    PGA = {6.144: 0, 4.096: 1, 2.048: 2, 1.024: 3, 0.512: 4, 0.256: 5}
    RATES = {8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x48,
        full_scale_v: float = 4.096,
        rate_sps: int = 860,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(bus, address)
        self._sleep = sleep
        if full_scale_v not in self.PGA:
            raise ValueError(f"ADS1115 full scale must be one of {sorted(self.PGA)} V, not {full_scale_v}")
        if rate_sps not in self.RATES:
            raise ValueError(f"ADS1115 rate must be one of {sorted(self.RATES)} SPS, not {rate_sps}")
        self.full_scale_v = full_scale_v
        self.rate_sps = rate_sps
        self._pga = self.PGA[full_scale_v]
        self._dr = self.RATES[rate_sps]
        self._written: int | None = None  # the last config word written (without OS)
        self.arm()

    def arm(self) -> None:
        """The ADS1115 has no ID register: its comparator thresholds keep their power-up values (0x8000,
        0x7fff) because nothing on this board writes them; another chip at the address reads otherwise."""
        lo = self.read_block(self.REG_LO_THRESH, 2)
        hi = self.read_block(self.REG_HI_THRESH, 2)
        if (lo, hi) != ([0x80, 0x00], [0x7F, 0xFF]):
            raise DeviceError(
                f"chip at 0x{self.address:02x} is not an ADS1115 (thresholds {bytes(lo).hex()}/{bytes(hi).hex()}, "
                "expected the power-up 8000/7fff): another chip at this address?"
            )
        self._written = None

    def config_word(self, channel: int) -> int:
        """OS=1 (start), MUX=AINx vs GND, PGA, single-shot, data rate, comparator disabled."""
        if not 0 <= channel <= 3:
            raise ValueError(f"ADS1115 has inputs 0..3, not {channel}")
        return (1 << 15) | ((0b100 | channel) << 12) | (self._pga << 9) | (1 << 8) | (self._dr << 5) | 0b11

    def start(self, channel: int) -> None:
        word = self.config_word(channel)
        self.write_block(self.REG_CONFIG, [word >> 8, word & 0xFF])
        self._written = word & 0x7FFF

    def ready(self) -> bool:
        """True when no conversion is running (config bit 15 reads 1). DeviceError when the config register
        does not read back as written (the chip was reset, or the bus reads all ones)."""
        msb, lsb = self.read_block(self.REG_CONFIG, 2)
        word = (msb << 8) | lsb
        if self._written is not None and word & 0x7FFF != self._written:
            raise DeviceError(
                f"ADS1115 at 0x{self.address:02x}: config reads 0x{word:04x}, written 0x{self._written:04x} "
                "(chip reset or stuck bus)"
            )
        return bool(msb & 0x80)

    def volts(self) -> float:
        """The last conversion result in volts at the input."""
        msb, lsb = self.read_block(self.REG_CONVERSION, 2)
        raw = struct.unpack(">h", bytes((msb, lsb)))[0]
        return raw * self.full_scale_v / 32768.0

    def read_blocking(self, channel: int, timeout_s: float = 0.05) -> float:
        """One complete conversion (start-up only: it waits)."""
        self.start(channel)
        step = 1.5 / self.rate_sps
        waited = 0.0
        while not self.ready():
            if waited > timeout_s:
                raise DeviceError(f"ADS1115 at 0x{self.address:02x}: conversion did not finish in {timeout_s} s")
            self._sleep(step)
            waited += step
        return self.volts()


# --- temperature sensors ----------------------------------------------------------------------------------


class Mcp9808Temperature(I2cSensor):
    """Microchip MCP9808 (±0.25 °C typ., 0.0625 °C steps, conversion every 250 ms). Identity: manufacturer
    0x0054 (register 6), device ID 0x04 (register 7, high byte). Its power-up configuration is the one used
    (continuous conversion), so arming only checks the identity. Readings outside -40..125 °C are errors."""

    name = "MCP9808"
    REG_AMBIENT = 0x05
    REG_MANUFACTURER = 0x06
    REG_DEVICE = 0x07
    RANGE_C = (-40.0, 125.0)

    def __init__(
        self, bus: SMBusLike, address: int = 0x18, now: Now = time.monotonic, min_interval_s: float = 0.5
    ) -> None:
        super().__init__(bus, address, now, min_interval_s)

    def arm(self) -> None:
        manufacturer = self.read_block(self.REG_MANUFACTURER, 2)
        device = self.read_block(self.REG_DEVICE, 2)
        if manufacturer != [0x00, 0x54] or device[0] != 0x04:
            raise DeviceError(
                f"chip at 0x{self.address:02x} is not an MCP9808 (manufacturer {bytes(manufacturer).hex()}, "
                f"device {bytes(device).hex()})"
            )

    def _fetch(self) -> float:
        msb, lsb = self.read_data(self.REG_AMBIENT, 2)
        raw = ((msb & 0x1F) << 8) | lsb  # bits 15..13 are alarm flags; bit 12 is the sign (13-bit two's complement)
        if raw & 0x1000:
            raw -= 0x2000
        return _in_range(self, raw / 16.0, self.RANGE_C)

    def read_celsius(self) -> float:
        return self._read()


def _in_range(chip: I2cChip, celsius: float, limits: tuple[float, float]) -> float:
    lo, hi = limits
    if not lo <= celsius <= hi:
        raise DeviceError(f"{chip.name} at 0x{chip.address:02x}: {celsius} °C is outside its range {lo}..{hi} °C")
    return celsius


class Tmp102Temperature(I2cSensor):
    """TI TMP102 (0.0625 °C steps, 4 conversions/s). No ID register: arming checks the configuration
    register's read-only bits (R1 R0 = 11, low nibble 0000), which an ADS1115 or MCP9808 at the address does
    not have. Handles normal (12-bit) and extended (13-bit, EM bit) format; the bits the chip always reads
    as zero must be zero."""

    name = "TMP102"
    REG_TEMPERATURE = 0x00
    REG_CONFIG = 0x01
    RANGE_C = (-55.0, 150.0)

    def __init__(
        self, bus: SMBusLike, address: int = 0x48, now: Now = time.monotonic, min_interval_s: float = 0.5
    ) -> None:
        super().__init__(bus, address, now, min_interval_s)

    def arm(self) -> None:
        msb, lsb = self.read_block(self.REG_CONFIG, 2)
        if msb & 0x60 != 0x60 or lsb & 0x0F:
            raise DeviceError(
                f"chip at 0x{self.address:02x} is not a TMP102 (configuration {msb:02x}{lsb:02x}: the read-only "
                "bits R1 R0 = 11 and the low nibble 0000 do not match): another chip at this address?"
            )

    def _fetch(self) -> float:
        msb, lsb = self.read_data(self.REG_TEMPERATURE, 2)
        if lsb & 0x01:  # extended mode: 13 bits, then two zero bits
            if lsb & 0x06:
                raise DeviceError(f"TMP102 at 0x{self.address:02x}: impossible reading {msb:02x}{lsb:02x}")
            raw = (msb << 5) | (lsb >> 3)
            if raw & 0x1000:
                raw -= 0x2000
        else:  # normal mode: 12 bits, then four zero bits
            if lsb & 0x0F:
                raise DeviceError(f"TMP102 at 0x{self.address:02x}: impossible reading {msb:02x}{lsb:02x}")
            raw = (msb << 4) | (lsb >> 4)
            if raw & 0x800:
                raw -= 0x1000
        return _in_range(self, raw * 0.0625, self.RANGE_C)

    def read_celsius(self) -> float:
        return self._read()


# --- tilt -------------------------------------------------------------------------------------------------

Vector = tuple[float, float, float]


def angle_deg(a: Vector, b: Vector) -> float:
    """Angle between two vectors in degrees (0..180)."""
    na = math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2)
    nb = math.sqrt(b[0] ** 2 + b[1] ** 2 + b[2] ** 2)
    if na == 0.0 or nb == 0.0:
        raise ValueError("angle of a zero vector")
    cos = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / (na * nb)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


class Adxl345Tilt(I2cSensor):
    """Analog Devices ADXL345 accelerometer as tilt sensor: tilt = angle between the measured gravity and the
    calibrated vertical (`vertical`, in sensor axes: the gravity vector measured when the station was
    installed upright; (0, 0, 1) when the chip lies flat with Z up).

    Arming checks DEVID (0xE5), selects full resolution ±2 g (3.9 mg/LSB), 100 Hz, measurement mode; after a
    brown-out the chip is back in standby (POWER_CTL 0, data all zeros), which reads as "no gravity": an
    error, and the next read re-arms it (the read after that measures again). A sample whose magnitude is not
    near 1 g (zeros in standby, all ones from a stuck bus) is an error, never averaged. Reads at most every
    `min_interval_s` and averages the last `average` samples (a door slam is not a tilt).
    """

    name = "ADXL345"
    REG_DEVID = 0x00
    REG_BW_RATE = 0x2C
    REG_POWER_CTL = 0x2D
    REG_DATA_FORMAT = 0x31
    REG_DATAX0 = 0x32
    DEVID = 0xE5
    G_PER_LSB = 0.0039
    PLAUSIBLE_G = (0.3, 3.0)  # |acceleration| of a station standing (or knocked over), not falling
    ARM_SETTLE = True  # after measurement mode is set, the first sample comes one output period (10 ms) later

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x53,
        vertical: Vector = (0.0, 0.0, 1.0),
        now: Now = time.monotonic,
        min_interval_s: float = 0.1,
        average: int = 5,
    ) -> None:
        if vertical == (0.0, 0.0, 0.0):
            raise ValueError("ADXL345: the calibrated vertical must not be the zero vector")
        self.vertical = vertical
        self._samples: deque[Vector] = deque(maxlen=max(1, average))
        self._mean: Vector = vertical
        super().__init__(bus, address, now, min_interval_s)

    def arm(self) -> None:
        devid = self.read_byte(self.REG_DEVID)
        if devid != self.DEVID:
            raise DeviceError(f"chip at 0x{self.address:02x} is not an ADXL345 (DEVID 0x{devid:02x}, expected 0xe5)")
        self.write_byte(self.REG_DATA_FORMAT, 0x08)  # FULL_RES, ±2 g, right-justified
        self.write_byte(self.REG_BW_RATE, 0x0A)  # 100 Hz output rate
        self.write_byte(self.REG_POWER_CTL, 0x08)  # Measure
        self._samples.clear()  # samples from before a reset say nothing about now

    def gravity(self) -> Vector:
        """One sample of the acceleration in g, sensor axes."""
        data = self.read_block(self.REG_DATAX0, 6)
        x, y, z = struct.unpack("<hhh", bytes(data))
        return (x * self.G_PER_LSB, y * self.G_PER_LSB, z * self.G_PER_LSB)

    def _fetch(self) -> float:
        g = self.gravity()
        magnitude = math.sqrt(g[0] ** 2 + g[1] ** 2 + g[2] ** 2)
        if magnitude == 0.0:
            raise DeviceError("ADXL345 measures no gravity at all (in standby after a brown-out, or broken)")
        lo, hi = self.PLAUSIBLE_G
        if not lo <= magnitude <= hi:
            raise DeviceError(f"ADXL345 measures {magnitude:.3f} g: impossible for a standing station (stuck bus?)")
        self._samples.append(g)
        n = len(self._samples)
        mean = (
            sum(s[0] for s in self._samples) / n,
            sum(s[1] for s in self._samples) / n,
            sum(s[2] for s in self._samples) / n,
        )
        self._mean = mean
        return angle_deg(mean, self.vertical)

    def read_tilt_deg(self) -> float:
        return self._read()

    def read_vector(self) -> Vector:
        """The averaged gravity vector (g, sensor axes) behind `read_tilt_deg` (a calibration by vector)."""
        self._read()  # the same throttled, averaged samples; raises like read_tilt_deg
        return self._mean

    def calibrate(self, samples: int = 20, interval_s: float = 0.01) -> Vector:
        """Measure the current gravity (the station stands upright now) and use it as the vertical. Blocking:
        for installation, never from the control loop. Returns the vector to store in the board file."""
        acc = [0.0, 0.0, 0.0]
        for i in range(samples):
            g = self.gravity()
            acc = [acc[0] + g[0], acc[1] + g[1], acc[2] + g[2]]
            if i + 1 < samples:
                time.sleep(interval_s)
        vertical = (acc[0] / samples, acc[1] / samples, acc[2] / samples)
        if vertical == (0.0, 0.0, 0.0):
            raise DeviceError("ADXL345 measures no gravity: cannot calibrate")
        self.vertical = vertical
        self._samples.clear()
        return vertical


# --- board-file declarations --------------------------------------------------------------------------------


def _i2c_params(default: int, addresses: tuple[int, ...]) -> dict[str, Param]:
    return {
        "i2c_bus": Param(int, default=1, min=0, why="/dev/i2c-N"),
        "address": Param(int, default=default, choices=addresses, why="the addresses the chip's pins can select"),
    }


def _mcp9808(p: dict[str, Any], ctx: BuildContext, name: str) -> Mcp9808Temperature:
    return Mcp9808Temperature(ctx.bus(p["i2c_bus"]), p["address"], now=ctx.now)


def _tmp102(p: dict[str, Any], ctx: BuildContext, name: str) -> Tmp102Temperature:
    return Tmp102Temperature(ctx.bus(p["i2c_bus"]), p["address"], now=ctx.now)


def _adxl345(p: dict[str, Any], ctx: BuildContext, name: str) -> Adxl345Tilt:
    vertical = (float(p["vertical_x"]), float(p["vertical_y"]), float(p["vertical_z"]))
    return Adxl345Tilt(ctx.bus(p["i2c_bus"]), p["address"], vertical, now=ctx.now)


_I2C = (("i2c_bus", "address"),)
NUMBER = (int, float)
MCP9808 = RealDriver(
    "temperature", "mcp9808", _i2c_params(0x18, tuple(range(0x18, 0x20))), what="MCP9808 temperature sensor", i2c=_I2C, build=_mcp9808
)
TMP102 = RealDriver(
    "temperature", "tmp102", _i2c_params(0x48, (0x48, 0x49, 0x4A, 0x4B)), what="TMP102 temperature sensor", i2c=_I2C, build=_tmp102
)
ADXL345 = RealDriver(
    "tilt",
    "adxl345",
    {
        **_i2c_params(0x53, (0x53, 0x1D)),
        # the gravity vector measured with the station upright (sensor axes, g): `Adxl345Tilt.calibrate()`
        "vertical_x": Param(NUMBER, default=0.0),
        "vertical_y": Param(NUMBER, default=0.0),
        "vertical_z": Param(NUMBER, default=1.0),
    },
    what="ADXL345 accelerometer as tilt sensor",
    i2c=_I2C,
    build=_adxl345,
)
