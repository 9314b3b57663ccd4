"""Real drivers for the I2C chips of the board, over smbus2: the ADS1115 ADC (used by the pilot driver),
the MCP9808 and TMP102 temperature sensors and the ADXL345 accelerometer (tilt). smbus2 is imported only here.

Hardware assumption: the chips sit on a Linux I2C adapter (`/dev/i2c-N`, the CM4's i2c-1 on GPIO 2/3 at
100-400 kHz). Every bus error (NACK, missing chip, arbitration lost) surfaces as `DeviceOffline`; a chip that
answers with the wrong identity is a `DeviceError` at construction, so a wrong address fails at start-up.

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
from typing import Protocol

from hal.errors import DeviceError, DeviceOffline

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


# --- ADS1115 16-bit ADC -----------------------------------------------------------------------------------


class Ads1115(I2cChip):
    """TI ADS1115: 4 single-ended inputs, single-shot conversions. Register 0 = conversion, 1 = config.

    Non-blocking use: `start(channel)`, later `ready()` and `volts()`; a conversion at 860 SPS takes 1.2 ms.
    """

    name = "ADS1115"
    REG_CONVERSION = 0x00
    REG_CONFIG = 0x01
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

    def config_word(self, channel: int) -> int:
        """OS=1 (start), MUX=AINx vs GND, PGA, single-shot, data rate, comparator disabled."""
        if not 0 <= channel <= 3:
            raise ValueError(f"ADS1115 has inputs 0..3, not {channel}")
        return (1 << 15) | ((0b100 | channel) << 12) | (self._pga << 9) | (1 << 8) | (self._dr << 5) | 0b11

    def start(self, channel: int) -> None:
        word = self.config_word(channel)
        self.write_block(self.REG_CONFIG, [word >> 8, word & 0xFF])

    def ready(self) -> bool:
        """True when no conversion is running (config bit 15 reads 1)."""
        msb, _ = self.read_block(self.REG_CONFIG, 2)
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


class Mcp9808Temperature(I2cChip):
    """Microchip MCP9808 (±0.25 °C typ., 0.0625 °C steps, conversion every 250 ms). Checks its IDs at start-up:
    manufacturer 0x0054 (register 6), device ID 0x04 (register 7, high byte)."""

    name = "MCP9808"
    REG_AMBIENT = 0x05
    REG_MANUFACTURER = 0x06
    REG_DEVICE = 0x07

    def __init__(
        self, bus: SMBusLike, address: int = 0x18, now: Now = time.monotonic, min_interval_s: float = 0.5
    ) -> None:
        super().__init__(bus, address)
        manufacturer = self.read_block(self.REG_MANUFACTURER, 2)
        device = self.read_block(self.REG_DEVICE, 2)
        if manufacturer != [0x00, 0x54] or device[0] != 0x04:
            raise DeviceError(
                f"chip at 0x{address:02x} is not an MCP9808 (manufacturer {bytes(manufacturer).hex()}, "
                f"device {bytes(device).hex()})"
            )
        self._read = _Throttle(self._fetch, now, min_interval_s)

    def _fetch(self) -> float:
        msb, lsb = self.read_block(self.REG_AMBIENT, 2)
        raw = ((msb & 0x1F) << 8) | lsb  # bits 15..13 are alarm flags; bit 12 is the sign (13-bit two's complement)
        if raw & 0x1000:
            raw -= 0x2000
        return raw / 16.0

    def read_celsius(self) -> float:
        return self._read()


class Tmp102Temperature(I2cChip):
    """TI TMP102 (0.0625 °C steps, 4 conversions/s). No ID register: start-up reads the config register to
    prove the chip answers. Handles normal (12-bit) and extended (13-bit, EM bit) format."""

    name = "TMP102"
    REG_TEMPERATURE = 0x00
    REG_CONFIG = 0x01

    def __init__(
        self, bus: SMBusLike, address: int = 0x48, now: Now = time.monotonic, min_interval_s: float = 0.5
    ) -> None:
        super().__init__(bus, address)
        self.read_block(self.REG_CONFIG, 2)
        self._read = _Throttle(self._fetch, now, min_interval_s)

    def _fetch(self) -> float:
        msb, lsb = self.read_block(self.REG_TEMPERATURE, 2)
        if lsb & 0x01:  # extended mode: 13 bits
            raw = (msb << 5) | (lsb >> 3)
            if raw & 0x1000:
                raw -= 0x2000
        else:
            raw = (msb << 4) | (lsb >> 4)
            if raw & 0x800:
                raw -= 0x1000
        return raw * 0.0625

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


class Adxl345Tilt(I2cChip):
    """Analog Devices ADXL345 accelerometer as tilt sensor: tilt = angle between the measured gravity and the
    calibrated vertical (`vertical`, in sensor axes: the gravity vector measured when the station was
    installed upright; (0, 0, 1) when the chip lies flat with Z up).

    Start-up checks DEVID (0xE5), selects full resolution ±2 g (3.9 mg/LSB), 100 Hz, measurement mode. Reads
    at most every `min_interval_s` and averages the last `average` samples (a door slam is not a tilt).
    """

    name = "ADXL345"
    REG_DEVID = 0x00
    REG_BW_RATE = 0x2C
    REG_POWER_CTL = 0x2D
    REG_DATA_FORMAT = 0x31
    REG_DATAX0 = 0x32
    DEVID = 0xE5
    G_PER_LSB = 0.0039

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x53,
        vertical: Vector = (0.0, 0.0, 1.0),
        now: Now = time.monotonic,
        min_interval_s: float = 0.1,
        average: int = 5,
    ) -> None:
        super().__init__(bus, address)
        if vertical == (0.0, 0.0, 0.0):
            raise ValueError("ADXL345: the calibrated vertical must not be the zero vector")
        self.vertical = vertical
        devid = self.read_byte(self.REG_DEVID)
        if devid != self.DEVID:
            raise DeviceError(f"chip at 0x{address:02x} is not an ADXL345 (DEVID 0x{devid:02x}, expected 0xe5)")
        self.write_byte(self.REG_DATA_FORMAT, 0x08)  # FULL_RES, ±2 g, right-justified
        self.write_byte(self.REG_BW_RATE, 0x0A)  # 100 Hz output rate
        self.write_byte(self.REG_POWER_CTL, 0x08)  # Measure
        self._samples: deque[Vector] = deque(maxlen=max(1, average))
        self._mean: Vector = vertical
        self._read = _Throttle(self._fetch, now, min_interval_s)

    def gravity(self) -> Vector:
        """One sample of the acceleration in g, sensor axes."""
        data = self.read_block(self.REG_DATAX0, 6)
        x, y, z = struct.unpack("<hhh", bytes(data))
        return (x * self.G_PER_LSB, y * self.G_PER_LSB, z * self.G_PER_LSB)

    def _fetch(self) -> float:
        self._samples.append(self.gravity())
        n = len(self._samples)
        mean = (
            sum(s[0] for s in self._samples) / n,
            sum(s[1] for s in self._samples) / n,
            sum(s[2] for s in self._samples) / n,
        )
        if mean == (0.0, 0.0, 0.0):
            raise DeviceError("ADXL345 measures no gravity at all (broken sensor or not in measurement mode)")
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
