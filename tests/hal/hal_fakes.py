"""Fakes that behave like the hardware the real drivers talk to: an SMBus with chips that implement their
register maps strictly (a register the model does not have NACKs, like a missing chip: OSError EREMOTEIO),
every transfer recorded; a sysfs PWM class as the kernel and udev make it (`FakePwmKernel`); the pilot's
analog front end (gated S/H pair + divider) reading the PWM state from that directory; gpiozero mock pins
wired like a contactor and an RCD module; a GPIO chip whose lines outlive the processes that drive them
(`FakeGpioChip`, as Raspberry Pi kernels keep released outputs driven unless strict_gpiod); and a directory
laid out like /proc, /sys/module and /dev (`make_system_root`)."""

from __future__ import annotations

import errno
import math
import os
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gpiozero.pins.mock import MockPin


def nack(what: str) -> OSError:
    return OSError(errno.EREMOTEIO, f"Remote I/O error ({what})")


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


# --- I2C --------------------------------------------------------------------------------------------------


class Chip:
    """A register-addressed chip. Subclasses implement read(reg, n) and write(reg, data)."""

    def read(self, reg: int, n: int) -> list[int]:
        raise nack(f"read register 0x{reg:02x}")

    def write(self, reg: int, data: list[int]) -> None:
        raise nack(f"write register 0x{reg:02x}")


class FakeSMBus:
    """smbus2.SMBus look-alike: chips by address; every transfer recorded as (op, address, register, data)."""

    def __init__(self, chips: dict[int, Chip] | None = None) -> None:
        self.chips: dict[int, Chip] = dict(chips or {})
        self.log: list[tuple[str, int, int, tuple[int, ...]]] = []
        self.all_ones = False  # a bus that reads all ones (whatever the address) and swallows writes

    def _chip(self, addr: int) -> Chip:
        chip = self.chips.get(addr)
        if chip is None:
            raise nack(f"no chip at 0x{addr:02x}")
        return chip

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        if self.all_ones:
            return [0xFF] * length
        data = self._chip(i2c_addr).read(register, length)
        assert len(data) == length
        self.log.append(("read", i2c_addr, register, tuple(data)))
        return data

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        if self.all_ones:
            return
        self._chip(i2c_addr).write(register, list(data))
        self.log.append(("write", i2c_addr, register, tuple(data)))

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        return self.read_i2c_block_data(i2c_addr, register, 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        self.write_i2c_block_data(i2c_addr, register, [value])

    def transfers(self, addr: int | None = None) -> int:
        return sum(1 for e in self.log if addr is None or e[1] == addr)


def _word(v: int) -> list[int]:
    return [(v >> 8) & 0xFF, v & 0xFF]


class FakeAds1115(Chip):
    """ADS1115: pointer 0 conversion (read-only), 1 config, 2/3 thresholds. A config write with OS=1 starts a
    single-shot conversion of the selected input that takes 1/rate s of `clock` time; config bit 15 reads 0
    while it runs. The input is sampled at the start (`analog(channel) -> volts`)."""

    FS = {0: 6.144, 1: 4.096, 2: 2.048, 3: 1.024, 4: 0.512, 5: 0.256, 6: 0.256, 7: 0.256}
    RATE = {0: 8, 1: 16, 2: 32, 3: 64, 4: 128, 5: 250, 6: 475, 7: 860}

    def __init__(self, clock: Clock, analog: Callable[[int], float]) -> None:
        self.clock = clock
        self.analog = analog
        self.config = 0x8583
        self.lo, self.hi = 0x8000, 0x7FFF
        self.result = 0
        self.busy_until = 0.0
        self.pending: int | None = None
        self.started: list[int] = []
        self.stuck = False  # a conversion that never finishes (config bit 15 stays 0)

    def power_cycle(self) -> None:
        """The supply dipped: config back to its power-up value, no conversion running, result cleared."""
        self.config, self.result, self.pending = 0x8583, 0, None

    def _finish(self) -> None:
        if self.pending is not None and not self.stuck and self.clock() >= self.busy_until:
            self.result = self.pending
            self.pending = None

    def read(self, reg: int, n: int) -> list[int]:
        if n != 2:
            raise nack(f"{n}-byte read")
        self._finish()
        if reg == 0:
            return _word(self.result & 0xFFFF)
        if reg == 1:
            busy = self.pending is not None
            return _word((self.config & 0x7FFF) | (0 if busy else 0x8000))
        if reg == 2:
            return _word(self.lo)
        if reg == 3:
            return _word(self.hi)
        return super().read(reg, n)

    def write(self, reg: int, data: list[int]) -> None:
        if len(data) != 2 or reg not in (1, 2, 3):
            super().write(reg, data)
        word = (data[0] << 8) | data[1]
        if reg == 2:
            self.lo = word
        elif reg == 3:
            self.hi = word
        else:
            self._finish()
            self.config = word & 0x7FFF
            if word & 0x8000 and self.pending is None:
                mux = (word >> 12) & 0x7
                assert mux & 0b100, "the driver only uses single-ended inputs"
                channel = mux & 0b011
                fs = self.FS[(word >> 9) & 0x7]
                rate = self.RATE[(word >> 5) & 0x7]
                code = round(self.analog(channel) / fs * 32768)
                self.pending = max(-32768, min(32767, code))
                self.busy_until = self.clock() + 1.0 / rate
                self.started.append(channel)


class AnalogInputs:
    """The voltage at each input of an ADC, settable per channel (`volts[channel]`); the `analog` of a
    FakeAds1115. An input nothing drives reads 0 V."""

    def __init__(self, volts: dict[int, float] | None = None) -> None:
        self.volts: dict[int, float] = dict(volts or {})

    def __call__(self, channel: int) -> float:
        return self.volts.get(channel, 0.0)


class PpCircuit(AnalogInputs):
    """A socket's proximity pilot: PP pulled up to `reference_v` through `pullup_ohms`, the plugged cable's
    coding resistor `cable_ohms` to PE (math.inf: nothing plugged), read by ADC input `channel`."""

    def __init__(self, channel: int = 0, pullup_ohms: float = 1000.0, reference_v: float = 3.3) -> None:
        super().__init__()
        self.channel = channel
        self.pullup_ohms = pullup_ohms
        self.reference_v = reference_v
        self.plug(math.inf)

    def plug(self, cable_ohms: float) -> None:
        self.cable_ohms = cable_ohms
        v = self.reference_v if math.isinf(cable_ohms) else self.reference_v * cable_ohms / (cable_ohms + self.pullup_ohms)
        self.volts[self.channel] = v


class FakeMcp9808(Chip):
    """MCP9808: 16-bit registers 1..8 (8 is 1 byte); 5 = ambient temperature with alarm flags in bits 15..13."""

    def __init__(self, celsius: float = 21.0, manufacturer: int = 0x0054, device: int = 0x0400) -> None:
        self.celsius = celsius
        self.regs = {1: 0x0000, 2: 0, 3: 0, 4: 0, 6: manufacturer, 7: device}
        self.resolution = 0x03

    def read(self, reg: int, n: int) -> list[int]:
        if reg == 8 and n == 1:
            return [self.resolution]
        if n != 2:
            raise nack(f"{n}-byte read")
        if reg == 5:
            raw = round(self.celsius * 16) & 0x1FFF  # 13-bit two's complement
            return _word(raw | 0x8000)  # T_CRIT flag set: the driver must mask it
        if reg in self.regs:
            return _word(self.regs[reg])
        return super().read(reg, n)


class FakeTmp102(Chip):
    """TMP102: 0 temperature (12 bit, or 13 bit with EM set: LSB bit 0), 1 config, 2 T_LOW, 3 T_HIGH."""

    def __init__(self, celsius: float = 21.0, extended: bool = False) -> None:
        self.celsius = celsius
        self.extended = extended
        self.regs = {1: 0x60A0 | (0x10 if extended else 0), 2: 0x4B00, 3: 0x5000}

    def read(self, reg: int, n: int) -> list[int]:
        if n != 2:
            raise nack(f"{n}-byte read")
        if reg == 0:
            raw = round(self.celsius / 0.0625)
            if self.extended:
                return _word(((raw & 0x1FFF) << 3) | 0x1)
            return _word((raw & 0xFFF) << 4)
        if reg in self.regs:
            return _word(self.regs[reg])
        return super().read(reg, n)


class FakeAdxl345(Chip):
    """ADXL345: 8-bit registers, multi-byte reads auto-increment. Implements DEVID, BW_RATE, POWER_CTL,
    DATA_FORMAT and DATAX0..DATAZ1 (zeros unless POWER_CTL has Measure); anything else NACKs."""

    POWER_UP = {0x2C: 0x0A, 0x2D: 0x00, 0x31: 0x00}

    def __init__(self, gravity: tuple[float, float, float] = (0.0, 0.0, 1.0), devid: int = 0xE5) -> None:
        self.gravity = gravity
        self.regs = {0x00: devid, **self.POWER_UP}
        self.writes: list[tuple[int, int]] = []

    def brown_out(self) -> None:
        """The supply dipped: every register back to its power-up value (standby: the data reads zeros)."""
        self.regs.update(self.POWER_UP)

    def tilt(self, degrees: float, about: str = "x") -> None:
        a = math.radians(degrees)
        self.gravity = (0.0, math.sin(a), math.cos(a)) if about == "x" else (math.sin(a), 0.0, math.cos(a))

    def _data(self) -> bytes:
        if not self.regs[0x2D] & 0x08:
            return bytes(6)
        full_res = bool(self.regs[0x31] & 0x08)
        lsb_per_g = 256.0 if full_res else 256.0 / (1 << (self.regs[0x31] & 0x3))
        return struct.pack("<hhh", *(round(g * lsb_per_g) for g in self.gravity))

    def read(self, reg: int, n: int) -> list[int]:
        out: list[int] = []
        data = self._data()
        for r in range(reg, reg + n):
            if 0x32 <= r <= 0x37:
                out.append(data[r - 0x32])
            elif r in self.regs:
                out.append(self.regs[r])
            else:
                raise nack(f"read register 0x{r:02x}")
        return out

    def write(self, reg: int, data: list[int]) -> None:
        if len(data) != 1 or reg not in (0x2C, 0x2D, 0x31):
            super().write(reg, data)
        self.regs[reg] = data[0]
        self.writes.append((reg, data[0]))


# --- sysfs PWM and the pilot front end ----------------------------------------------------------------------


def make_pwmchip(root: Path, chip: int = 0, npwm: int = 2, exported: tuple[int, ...] = ()) -> Path:
    """A plain directory laid out like a PWM chip (for tests that need no kernel rules)."""
    d = root / f"pwmchip{chip}"
    d.mkdir(parents=True)
    (d / "npwm").write_text(f"{npwm}\n")
    (d / "export").write_text("")
    (d / "unexport").write_text("")
    for ch in exported:
        make_channel(d, ch)
    return d


CHANNEL_FILES = {"period": "0", "duty_cycle": "0", "enable": "0", "polarity": "normal"}


def make_channel(chip_dir: Path, ch: int, **values: str) -> Path:
    """pwm<ch> with every attribute file at once (written in a temporary directory, then renamed into place:
    nobody ever sees a channel with some files missing)."""
    tmp = chip_dir / f".pwm{ch}.new"
    tmp.mkdir()
    for name, value in {**CHANNEL_FILES, **values}.items():
        (tmp / name).write_text(value + "\n")
    final = chip_dir / f"pwm{ch}"
    os.rename(tmp, final)
    return final


class FakePwmKernel:
    """The sysfs PWM class as the kernel and udev make it, for a non-root service (file access through the
    driver's `io`; the files are real, under `root`, so the pilot front end and the tests read them).

    - Writing N to `pwmchipK/export` creates pwmN with all its attributes at once, owned by root: the service's
      writes fail with EACCES until udev has given them to its group, `udev_delay_s` of `clock` time later.
      Exporting an exported channel is EBUSY.
    - The kernel's rules: duty_cycle <= period (EINVAL), enable needs a period (EINVAL), polarity only changes
      while the channel is disabled (EBUSY), values must parse (EINVAL).
    `sleep(dt)` advances the clock (pass it as the driver's sleep): deterministic, no threads."""

    def __init__(self, root: Path, clock: Clock, chips: tuple[int, ...] = (0,), npwm: int = 2, udev_delay_s: float = 0.05) -> None:
        self.root = root
        self.clock = clock
        self.udev_delay_s = udev_delay_s
        self.granted_at: dict[Path, float] = {}
        self.denied = 0
        self.writes: list[tuple[str, str]] = []
        for chip in chips:
            make_pwmchip(root, chip, npwm)

    def sleep(self, dt: float) -> None:
        self.clock.advance(dt)

    def channel(self, chip: int, ch: int, **values: str) -> Path:
        """A channel left exported (and given to the service by udev) by an earlier run."""
        d = make_channel(self.root / f"pwmchip{chip}", ch, **values)
        self.granted_at[d] = self.clock()
        return d

    def exists(self, path: Path) -> bool:
        return path.exists()

    def read(self, path: Path) -> str:
        return path.read_text()

    def _attr(self, path: Path) -> str:
        return (path.parent / path.name).read_text().strip()

    def write(self, path: Path, value: str) -> None:
        value = value.strip()
        if path.name == "export":
            n = int(value)
            if (path.parent / f"pwm{n}").exists():
                raise OSError(errno.EBUSY, "Device or resource busy")
            d = make_channel(path.parent, n)
            self.granted_at[d] = self.clock() + self.udev_delay_s
            self.writes.append((str(path.relative_to(self.root)), value))
            return
        d = path.parent
        if self.clock() < self.granted_at.get(d, float("inf")):
            self.denied += 1
            raise PermissionError(errno.EACCES, "Permission denied")
        cur = {name: (d / name).read_text().strip() for name in CHANNEL_FILES}
        enabled = cur["enable"] == "1"
        if path.name in ("period", "duty_cycle", "enable"):
            if not value.isdigit():
                raise OSError(errno.EINVAL, "Invalid argument")
            v = int(value)
            if path.name == "period" and v < int(cur["duty_cycle"]):
                raise OSError(errno.EINVAL, "Invalid argument")
            if path.name == "duty_cycle" and v > int(cur["period"]):
                raise OSError(errno.EINVAL, "Invalid argument")
            if path.name == "enable" and (v not in (0, 1) or (v == 1 and int(cur["period"]) == 0)):
                raise OSError(errno.EINVAL, "Invalid argument")
        elif path.name == "polarity":
            if value not in ("normal", "inversed"):
                raise OSError(errno.EINVAL, "Invalid argument")
            if enabled and value != cur["polarity"]:
                raise OSError(errno.EBUSY, "Device or resource busy")
        else:
            raise OSError(errno.EACCES, "Permission denied")
        path.write_text(value + "\n")
        self.writes.append((str(path.relative_to(self.root)), value))


class FakeEv:
    """The car's side of the pilot: the high-phase level of its state; a missing diode makes the low phase
    the negative of it."""

    LEVELS = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0}

    def __init__(self) -> None:
        self.state = "A"
        self.diode = True


class PilotFrontEnd:
    """The board's analog side: reads the PWM state from the sysfs channel directory, gates the two S/H
    (high phase / low phase of the pilot), scales with the divider + offset to ADC volts."""

    def __init__(
        self, channel_dir: Path, ev: FakeEv, high_input: int = 0, low_input: int = 1,
        divider: float = 8.0, offset_v: float = 1.65, inverted: bool = False,
    ) -> None:  # fmt: skip
        self.dir = channel_dir
        self.ev = ev
        self.high_input = high_input
        self.low_input = low_input
        self.divider = divider
        self.offset_v = offset_v
        self.inverted = inverted
        self.held = {high_input: 0.0, low_input: 0.0}  # pilot volts on each S/H (power-up: 0 V)

    def _high_fraction(self) -> float:
        enabled = (self.dir / "enable").read_text().strip() == "1"
        period = int((self.dir / "period").read_text())
        duty = int((self.dir / "duty_cycle").read_text())
        assert 0 <= duty <= period or not enabled, f"duty {duty} > period {period}"
        line_high = duty / period if enabled and period else 0.0
        return 1.0 - line_high if self.inverted else line_high

    def update(self) -> None:
        """Let the S/H track whatever phase the pilot has right now."""
        high_fraction = self._high_fraction()
        level = FakeEv.LEVELS[self.ev.state]
        if high_fraction > 0.0:
            self.held[self.high_input] = level
        if high_fraction < 1.0:
            self.held[self.low_input] = -12.0 if self.ev.diode or high_fraction == 0.0 else -level

    def analog(self, channel: int) -> float:
        self.update()
        pilot_v = self.held.get(channel, 0.0)
        return pilot_v / self.divider + self.offset_v


# --- gpiozero mock pins wired like the hardware ------------------------------------------------------------


class ContactorCoilPin(MockPin):
    """A coil output pin wired to a contactor whose NC mirror contact pulls `mirror_pin` high while the main
    contacts are open. `welded = True`: the main contacts stay closed whatever the coil does."""

    def __init__(self, factory, info, mirror_pin: MockPin | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(factory, info)
        self.mirror_pin = mirror_pin
        self.welded = False
        self._main_closed = False
        if mirror_pin is not None:
            mirror_pin.drive_high()

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        self._main_closed = bool(value) or (self.welded and self._main_closed)
        if self.mirror_pin is not None:
            if self._main_closed:
                self.mirror_pin.drive_low()
            else:
                self.mirror_pin.drive_high()
        return changed


class RcdTestPin(MockPin):
    """The test input of an RDC-DD module: test current on -> the module trips and latches `fault_pin` high
    (unless `dead`); a pulse on the reset pin clears the latch (unless `stuck`)."""

    def __init__(self, factory, info, fault_pin: MockPin | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(factory, info)
        self.fault_pin = fault_pin
        self.dead = False
        self.trips = 0

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if value and not self.dead and self.fault_pin is not None:
            self.trips += 1
            self.fault_pin.drive_high()
        return changed


class RcdResetPin(MockPin):
    def __init__(self, factory, info, fault_pin: MockPin | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(factory, info)
        self.fault_pin = fault_pin
        self.stuck = False
        self.pulses = 0

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed and not value:
            self.pulses += 1
            if not self.stuck and self.fault_pin is not None:
                self.fault_pin.drive_low()
        return changed


# --- DSMR 5 telegrams -------------------------------------------------------------------------------------


def crc16_arc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def dsmr5_telegram(
    currents: tuple[int, int, int] = (12, 3, 1),
    plus_kw: tuple[float, float, float] | None = None,  # default: what the currents draw at cos phi 0.95
    minus_kw: tuple[float, float, float] = (0.0, 0.0, 0.0),
    volts: tuple[float, float, float] = (229.8, 231.2, 230.4),
    t1: float = 4521.330, t2: float = 3876.002, r1: float = 12.5, r2: float = 893.456,
    corrupt: bool = False,
) -> bytes:  # fmt: skip
    if plus_kw is None:
        plus_kw = (
            round(currents[0] * volts[0] * 0.95 / 1000, 3),
            round(currents[1] * volts[1] * 0.95 / 1000, 3),
            round(currents[2] * volts[2] * 0.95 / 1000, 3),
        )
    lines = [
        "/ISk5\\2MT382-1000",
        "",
        "1-3:0.2.8(50)",
        "0-0:1.0.0(240611134512S)",
        "0-0:96.1.1(4B384547303034303436333935353037)",
        f"1-0:1.8.1({t1:010.3f}*kWh)",
        f"1-0:1.8.2({t2:010.3f}*kWh)",
        f"1-0:2.8.1({r1:010.3f}*kWh)",
        f"1-0:2.8.2({r2:010.3f}*kWh)",
        "0-0:96.14.0(0002)",
        f"1-0:1.7.0({max(0.0, sum(plus_kw) - sum(minus_kw)):06.3f}*kW)",
        f"1-0:2.7.0({max(0.0, sum(minus_kw) - sum(plus_kw)):06.3f}*kW)",
        "0-0:96.7.21(00004)",
        "0-0:96.7.9(00002)",
        "1-0:99.97.0(2)(0-0:96.7.19)(101208152415W)(0000000240*s)(101208151004W)(0000000301*s)",
        "1-0:32.32.0(00002)",
        "1-0:52.32.0(00001)",
        "1-0:72.32.0(00000)",
        "1-0:32.36.0(00000)",
        "1-0:52.36.0(00003)",
        "1-0:72.36.0(00000)",
        "0-0:96.13.0()",
        f"1-0:32.7.0({volts[0]:05.1f}*V)",
        f"1-0:52.7.0({volts[1]:05.1f}*V)",
        f"1-0:72.7.0({volts[2]:05.1f}*V)",
        f"1-0:31.7.0({currents[0]:03d}*A)",
        f"1-0:51.7.0({currents[1]:03d}*A)",
        f"1-0:71.7.0({currents[2]:03d}*A)",
        f"1-0:21.7.0({plus_kw[0]:06.3f}*kW)",
        f"1-0:41.7.0({plus_kw[1]:06.3f}*kW)",
        f"1-0:61.7.0({plus_kw[2]:06.3f}*kW)",
        f"1-0:22.7.0({minus_kw[0]:06.3f}*kW)",
        f"1-0:42.7.0({minus_kw[1]:06.3f}*kW)",
        f"1-0:62.7.0({minus_kw[2]:06.3f}*kW)",
        "0-1:24.1.0(003)",
        "0-1:96.1.0(3232323241424344313233343536373839)",
        "0-1:24.2.1(240611134500S)(02569.648*m3)",
    ]
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    crc = crc16_arc(body)
    if corrupt:
        body = body.replace(b"(00004)", b"(00005)")  # a bit flipped on the line
    return body + f"{crc:04X}\r\n".encode()


class Pty:
    """A pseudo-terminal: tests write what a device sends to `master`; drivers open `name` with pyserial."""

    def __init__(self, settle_s: float = 0.0) -> None:
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)
        self.settle_s = settle_s

    def send(self, data: bytes) -> None:
        os.write(self.master, data)
        if self.settle_s:
            time.sleep(self.settle_s)  # let the line discipline pass it on

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)



# --- a GPIO chip whose lines outlive the processes --------------------------------------------------------


class GpioLine:
    def __init__(self) -> None:
        self.function = "input"
        self.level = False  # the level an output drives
        self.history: list[tuple[str, bool]] = []

    @property
    def coil_on(self) -> bool:
        """What a coil driver with a gate pull-down sees: the driven level, or off for an input."""
        return self.function == "output" and self.level


class ChipPin(MockPin):
    """A MockPin that is a view of one line of a FakeGpioChip (the line keeps its state between processes)."""

    chip: FakeGpioChip

    def __init__(self, factory, info) -> None:  # type: ignore[no-untyped-def]
        super().__init__(factory, info)
        self.line = self.chip.line(int(info.name.removeprefix("GPIO")))  # BCM number (info.number is the header pin)
        if self.line.function == "output":
            self._function = "output"
            self._state = self.line.level

    def _set_function(self, value: str) -> None:
        super()._set_function(value)
        self.line.function = value

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if self._function == "output":
            self.line.level = bool(value)
            self.line.history.append(("drive", bool(value)))
        return changed

    def close(self) -> None:
        self.chip.release(self)


class FakeGpioChip:
    """GPIO lines that outlive the processes driving them. A released line (a device closed, or its process
    dead) stays an output at its last level, as on Raspberry Pi kernels without dtparam=strict_gpiod; with
    `strict` it returns to an input (and the board's pull-down holds the coil off). `process()` is the pin
    factory of one process; `kill(factory)` is that process dying without closing anything."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.lines: dict[int, GpioLine] = {}
        self.pin_class = type("BoundChipPin", (ChipPin,), {"chip": self})

    def line(self, number: int) -> GpioLine:
        return self.lines.setdefault(number, GpioLine())

    def process(self):  # type: ignore[no-untyped-def]
        from gpiozero.pins.mock import MockFactory

        return MockFactory(pin_class=self.pin_class)

    def release(self, pin: ChipPin) -> None:
        pin.when_changed = None
        if self.strict:
            pin.line.function = "input"
            pin.line.history.append(("released to input", False))
        else:
            pin.line.history.append(("released, still driven", pin.line.level))

    def kill(self, factory) -> None:  # type: ignore[no-untyped-def]
        for pin in list(factory.pins.values()):
            self.release(pin)
        factory.reset()


def make_system_root(
    root: Path, persist_gpio_outputs: str | None = "N", cmdline: str = "console=tty1 root=/dev/mmcblk0p2 rootwait"
) -> Path:
    """A directory laid out like the parts of / the drivers check: the pinctrl parameter (None: a kernel
    without it), /proc/cmdline, /dev/ttyAMA0..4 and /dev/serial0 -> ttyAMA0."""
    root.mkdir(parents=True, exist_ok=True)
    if persist_gpio_outputs is not None:
        param = root / "sys/module/pinctrl_bcm2835/parameters/persist_gpio_outputs"
        param.parent.mkdir(parents=True)
        param.write_text(persist_gpio_outputs + "\n")
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/cmdline").write_text(cmdline + "\n")
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    for n in range(5):
        (dev / f"ttyAMA{n}").write_text("")
    (dev / "serial0").symlink_to("ttyAMA0")
    return root
