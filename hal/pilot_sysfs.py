"""Real control pilot: 1 kHz PWM through the Linux sysfs PWM class and the pilot voltage through an ADS1115.

Owns the pilot output (`/sys/class/pwm/pwmchipN/pwmM/{period,duty_cycle,enable}`; the root is a parameter
so tests use a directory laid out like sysfs) and the pilot ADC.

Hardware assumption (CM4 carrier rev1):
- The PWM channel (e.g. pwmchip0/pwm0 on GPIO12 via `dtoverlay=pwm,pin=12,func=4`) drives the ±12 V pilot
  stage: line high = +12 V, line low = -12 V (`inverted = true` for a stage that inverts). Steady +12 V is
  duty 100 %, steady -12 V duty 0 %; both keep the channel enabled. With the channel disabled (boot, dead
  process) a non-inverting stage outputs -12 V (state F), which no EV charges against.
- The pilot is measured after the 1 kΩ source resistor by a sample-and-hold pair gated by the pilot phase
  (derived from the PWM line, so it follows an inverting stage): S/H-H tracks during the high phase, S/H-L
  during the low phase, each holds otherwise (gates switched a few µs after the edges). Each S/H feeds one
  single-ended ADS1115 input through a divider with offset, so
      pilot_v = (adc_v - adc_offset_v) * adc_divider
  (rev1: ±12 V -> 1.65 ± 1.5 V, i.e. offset 1.65 V, divider 8). In steady +12 V only S/H-H is current and
  in steady -12 V only S/H-L: the driver converts only the inputs that are current for the output.

Non-blocking: each `read()` costs at most three short I2C transfers (config poll, result, next start) and never
waits; the channels alternate, so a value is at most two ticks old. Conversions started before an output
mode change are discarded (the S/H may have held a value from the old mode). An ADC that stops answering
raises DeviceOffline; a conversion still running after `max_busy_polls` reads raises DeviceError.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hal.errors import DeviceError, DeviceOffline
from hal.i2c_devices import Ads1115
from hal.interfaces import PilotMode, PilotOutput, PilotReading

SYSFS_PWM_ROOT = "/sys/class/pwm"
PILOT_PERIOD_NS = 1_000_000  # 1 kHz


class SysfsPwm:
    """One channel of a sysfs PWM chip. Exports the channel if needed (waits up to `export_timeout_s` for udev
    to create it). Invariant kept on every write: duty_cycle <= period (the kernel rejects anything else)."""

    def __init__(
        self,
        chip: int,
        channel: int,
        period_ns: int = PILOT_PERIOD_NS,
        sysfs_root: str | os.PathLike[str] = SYSFS_PWM_ROOT,
        export_timeout_s: float = 1.0,
    ) -> None:
        self.chip_dir = Path(sysfs_root) / f"pwmchip{chip}"
        self.dir = self.chip_dir / f"pwm{channel}"
        self.period_ns = period_ns
        if not self.chip_dir.is_dir():
            raise DeviceOffline(f"no PWM chip {self.chip_dir} (is the pwm overlay enabled?)")
        if not self.dir.is_dir():
            self._write(self.chip_dir / "export", str(channel))
            end = time.monotonic() + export_timeout_s
            while not (self.dir / "period").exists():
                if time.monotonic() > end:
                    raise DeviceOffline(f"exported {self.dir} did not appear within {export_timeout_s} s")
                time.sleep(0.01)
        self.duty_ns = int(self._read("duty_cycle") or 0)
        current_period = int(self._read("period") or 0)
        if current_period != period_ns:
            if self.duty_ns > period_ns:
                self._set("duty_cycle", 0)
                self.duty_ns = 0
            self._set("period", period_ns)

    def _read(self, name: str) -> str:
        try:
            return (self.dir / name).read_text().strip()
        except OSError as exc:
            raise DeviceOffline(f"cannot read {self.dir / name}: {exc.strerror or exc}") from exc

    @staticmethod
    def _write(path: Path, value: str) -> None:
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            raise DeviceError(f"cannot write {value!r} to {path}: {exc.strerror or exc}") from exc

    def _set(self, name: str, value: int) -> None:
        self._write(self.dir / name, str(value))

    def set_duty_ns(self, duty_ns: int) -> None:
        duty_ns = max(0, min(self.period_ns, duty_ns))
        if duty_ns != self.duty_ns:
            self._set("duty_cycle", duty_ns)
            self.duty_ns = duty_ns

    def enable(self, on: bool = True) -> None:
        self._set("enable", 1 if on else 0)

    @property
    def enabled(self) -> bool:
        return self._read("enable") == "1"


def _has_high_phase(mode: PilotMode) -> bool:
    return mode in (PilotMode.STEADY_HIGH, PilotMode.PWM)


def _has_low_phase(mode: PilotMode) -> bool:
    return mode in (PilotMode.PWM, PilotMode.STEADY_NEGATIVE)


class SysfsPilot:
    """ControlPilot on a sysfs PWM channel and an ADS1115 behind a gated sample-and-hold pair.
    Safe state: steady +12 V (duty 100 %)."""

    def __init__(
        self,
        pwm: SysfsPwm,
        adc: Ads1115,
        high_channel: int = 0,
        low_channel: int = 1,
        divider: float = 8.0,
        offset_v: float = 1.65,
        inverted: bool = False,
    ) -> None:
        if high_channel == low_channel:
            raise ValueError("the high- and low-phase S/H must be on different ADC inputs")
        self.pwm = pwm
        self.adc = adc
        self.high_channel = high_channel
        self.low_channel = low_channel
        self.divider = divider
        self.offset_v = offset_v
        self.inverted = inverted
        self.output = PilotOutput.high()
        # An S/H value is current while its phase exists without interruption; `_epoch[channel]` is bumped
        # when the phase (re)appears, which invalidates values (and running conversions) from before.
        self._epoch = {high_channel: 0, low_channel: 0}
        self._values: dict[int, tuple[float, int]] = {}  # channel -> (pilot volts, epoch at conversion start)
        self._busy: tuple[int, int] | None = None  # (channel, epoch) of the running conversion
        self._busy_polls = 0
        self.max_busy_polls = 20  # a conversion takes 1.2 ms; 20 ticks (200 ms) busy is a stuck ADC
        self._turn = 0
        self.conversions = 0
        self._write_duty(100.0)
        pwm.enable()
        # one blocking conversion at start-up so that the first read() has a value
        self._values[high_channel] = (self._pilot_v(adc.read_blocking(high_channel)), 0)
        self._last = PilotReading(self._values[high_channel][0], None)

    def _pilot_v(self, adc_v: float) -> float:
        return (adc_v - self.offset_v) * self.divider

    def _write_duty(self, duty_percent: float) -> None:
        duty_ns = round(max(0.0, min(100.0, duty_percent)) * self.pwm.period_ns / 100.0)
        self.pwm.set_duty_ns(self.pwm.period_ns - duty_ns if self.inverted else duty_ns)

    def set_output(self, output: PilotOutput) -> None:
        if output.mode is PilotMode.OFF:
            raise ValueError("this pilot stage cannot output 0 V (PilotMode.OFF)")
        duty = {PilotMode.STEADY_HIGH: 100.0, PilotMode.STEADY_NEGATIVE: 0.0}.get(output.mode, output.duty)
        self._write_duty(duty)
        old = self.output.mode
        if _has_high_phase(output.mode) and not _has_high_phase(old):
            self._epoch[self.high_channel] += 1
        if _has_low_phase(output.mode) and not _has_low_phase(old):
            self._epoch[self.low_channel] += 1
        self.output = output

    def to_safe_state(self) -> None:
        self.set_output(PilotOutput.high())

    def _channels(self) -> tuple[int, ...]:
        mode = self.output.mode
        if mode is PilotMode.PWM:
            return (self.high_channel, self.low_channel)
        if mode is PilotMode.STEADY_NEGATIVE:
            return (self.low_channel,)
        return (self.high_channel,)

    def _current(self, channel: int) -> float | None:
        v = self._values.get(channel)
        return v[0] if v is not None and v[1] == self._epoch[channel] else None

    def read(self) -> PilotReading:
        """The pilot voltages from the conversions finished so far; starts the next one. Never waits.
        Raises DeviceOffline when the ADC does not answer."""
        if self._busy is not None:
            if not self.adc.ready():
                self._busy_polls += 1
                if self._busy_polls <= self.max_busy_polls:
                    return self._view()
                self._busy = None  # start afresh on the next read
                raise DeviceError(f"ADS1115 at 0x{self.adc.address:02x}: conversion never finished")
            channel, epoch = self._busy
            self._values[channel] = (self._pilot_v(self.adc.volts()), epoch)
            self._busy = None
            self.conversions += 1
        channels = self._channels()
        self._turn = (self._turn + 1) % len(channels)
        channel = channels[self._turn]
        self.adc.start(channel)
        self._busy = (channel, self._epoch[channel])
        self._busy_polls = 0
        return self._view()

    def _view(self) -> PilotReading:
        mode = self.output.mode
        if mode is PilotMode.STEADY_NEGATIVE:
            level = self._current(self.low_channel)
            low: float | None = None
        else:
            level = self._current(self.high_channel)
            low = self._current(self.low_channel) if mode is PilotMode.PWM else None
        # until the first conversion in a new mode has finished, the level is the last one reported
        self._last = PilotReading(level if level is not None else self._last.high_v, low)
        return self._last
