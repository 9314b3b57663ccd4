"""Real control pilot: 1 kHz PWM through the Linux sysfs PWM class and the pilot voltage through an ADS1115.

Owns the pilot output (`/sys/class/pwm/pwmchipN/pwmM/{period,duty_cycle,polarity,enable}`; the root and the
file access are parameters so tests use a fake that behaves like the kernel and udev) and the pilot ADC.

Hardware assumption (CM4 carrier rev1):
- The PWM channel (e.g. pwmchip0/pwm0 on GPIO12 via `dtoverlay=pwm,pin=12,func=4`) drives the ±12 V pilot
  stage: line high = +12 V, line low = -12 V (`inverted = true` for a stage that inverts). Steady +12 V is
  duty 100 %, steady -12 V duty 0 %; both keep the channel enabled. With the channel disabled (boot) a
  non-inverting stage outputs -12 V (state F), which no EV charges against. sysfs PWM is kernel state that no
  process owns: when the controller dies the last duty keeps running, until `chargepoint safe-outputs` (the
  unit's ExecStopPost) leaves it at the board's `on_exit` state (default: disabled).
- The pilot is measured after the 1 kΩ source resistor by a sample-and-hold pair gated by the pilot phase
  (derived from the PWM line, so it follows an inverting stage): S/H-H tracks during the high phase, S/H-L
  during the low phase, each holds otherwise (gates switched a few µs after the edges). Each S/H feeds one
  single-ended ADS1115 input through a divider with offset, so
      pilot_v = (adc_v - adc_offset_v) * adc_divider
  (rev1: ±12 V -> 1.65 ± 1.5 V, i.e. offset 1.65 V, divider 8). In steady +12 V only S/H-H is current and
  in steady -12 V only S/H-L: the driver converts only the inputs that are current for the output.

Non-blocking: each `read()` costs at most three short I2C transfers (config poll, result, next start) and never
waits; the channels alternate, so a value is at most two ticks old. Conversions started before an output
change has settled (`settle_s`) are discarded (the S/H may have held a value from the old output). An ADC that
stops answering raises DeviceOffline; one that answers impossibly (its config register not as written: reset
or stuck bus) or a conversion still running after `max_busy_polls` reads raises DeviceError; the read after an
error first re-checks the chip (two more transfers).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from board.schema import Param
from hal.errors import DeviceError, DeviceOffline
from hal.i2c_devices import Ads1115
from hal.interfaces import PilotMode, PilotOutput, PilotReading
from hal.real_drivers import SYSFS_PWM_ROOT, BuildContext, RealDriver

PILOT_PERIOD_NS = 1_000_000  # 1 kHz
PARK_STATES = ("disabled", "negative", "high")


class SysfsIO(Protocol):
    """File access to the PWM class directory (tests: a fake that behaves like the kernel and udev)."""

    def read(self, path: Path) -> str: ...
    def write(self, path: Path, value: str) -> None: ...
    def exists(self, path: Path) -> bool: ...


class RealSysfs:
    def read(self, path: Path) -> str:
        return path.read_text()

    def write(self, path: Path, value: str) -> None:
        with open(path, "w") as f:
            f.write(value)

    def exists(self, path: Path) -> bool:
        return path.exists()


class SysfsPwm:
    """One channel of a sysfs PWM chip. Exports the channel if needed and sets it up within
    `export_timeout_s`: the kernel creates pwmN with root-only files and udev changes their group and mode
    afterwards, so a non-root service's first writes fail with EACCES until udev has run; they are retried
    until the timeout. Writes `polarity = normal` (the kernel accepts a polarity change only while the
    channel is disabled; an inverting pilot stage is handled by the duty, `SysfsPilot.inverted`). Invariant
    kept on every write: duty_cycle <= period (the kernel rejects anything else)."""

    def __init__(
        self,
        chip: int,
        channel: int,
        period_ns: int = PILOT_PERIOD_NS,
        sysfs_root: str | os.PathLike[str] = SYSFS_PWM_ROOT,
        export_timeout_s: float = 1.0,
        io: SysfsIO | None = None,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.chip_dir = Path(sysfs_root) / f"pwmchip{chip}"
        self.dir = self.chip_dir / f"pwm{channel}"
        self.period_ns = period_ns
        self.io: SysfsIO = io or RealSysfs()
        self._now = now
        self._sleep = sleep
        self.permission_retries = 0
        self._deadline = now() + export_timeout_s
        if not self.io.exists(self.chip_dir):
            raise DeviceOffline(f"no PWM chip {self.chip_dir} (is the pwm overlay enabled?)")
        if not self.io.exists(self.dir):
            self._write(self.chip_dir / "export", str(channel))
            while not self.io.exists(self.dir / "period"):
                if self._now() > self._deadline:
                    raise DeviceOffline(f"exported {self.dir} did not appear within {export_timeout_s} s")
                self._sleep(0.01)
        self.duty_ns = int(self._read("duty_cycle") or 0)
        if self._read("polarity") != "normal":
            self._put("enable", 0)  # the kernel refuses a polarity change while enabled (-12 V meanwhile)
            self._put("polarity", "normal")
        current_period = int(self._read("period") or 0)
        if current_period != period_ns:
            if self.duty_ns > period_ns:
                self._put("duty_cycle", 0)
                self.duty_ns = 0
            self._put("period", period_ns)

    def _read(self, name: str) -> str:
        try:
            return self.io.read(self.dir / name).strip()
        except OSError as exc:
            raise DeviceOffline(f"cannot read {self.dir / name}: {exc.strerror or exc}") from exc

    def _write(self, path: Path, value: str) -> None:
        try:
            self.io.write(path, value)
        except OSError as exc:
            raise DeviceError(f"cannot write {value!r} to {path}: {exc.strerror or exc}") from exc

    def _put(self, name: str, value: int | str) -> None:
        """Write one channel file. EACCES (udev has not given us the file yet) is retried until the set-up
        deadline; after it, and for any other error, DeviceError."""
        while True:
            try:
                self.io.write(self.dir / name, str(value))
                return
            except PermissionError as exc:
                if exc.errno != errno.EACCES or self._now() > self._deadline:
                    raise DeviceError(
                        f"cannot write {value!r} to {self.dir / name}: {exc.strerror or exc} (is the service in "
                        "the group udev gives the PWM files, gpio on Raspberry Pi OS?)"
                    ) from exc
                self.permission_retries += 1
                self._sleep(0.01)
            except OSError as exc:
                raise DeviceError(f"cannot write {value!r} to {self.dir / name}: {exc.strerror or exc}") from exc

    def set_duty_ns(self, duty_ns: int) -> None:
        duty_ns = max(0, min(self.period_ns, duty_ns))
        if duty_ns != self.duty_ns:
            self._put("duty_cycle", duty_ns)
            self.duty_ns = duty_ns

    def enable(self, on: bool = True) -> None:
        self._put("enable", 1 if on else 0)

    def park(self, state: str, inverted: bool = False) -> None:
        """Leave the channel in the steady state the board declares safe once no process drives the pilot:
        "disabled" (the line rests low: -12 V through a non-inverting stage), "negative" (steady -12 V,
        enabled) or "high" (steady +12 V, enabled)."""
        if state == "disabled":
            self.enable(False)
            return
        line_high = (state == "high") != inverted
        self.set_duty_ns(self.period_ns if line_high else 0)
        self.enable(True)

    @property
    def enabled(self) -> bool:
        return self._read("enable") == "1"


def _has_high_phase(mode: PilotMode) -> bool:
    return mode in (PilotMode.STEADY_HIGH, PilotMode.PWM)


def _has_low_phase(mode: PilotMode) -> bool:
    return mode in (PilotMode.PWM, PilotMode.STEADY_NEGATIVE)


class SysfsPilot:
    """ControlPilot on a sysfs PWM channel and an ADS1115 behind a gated sample-and-hold pair.
    Safe state: steady +12 V (duty 100 %).

    Settling: after the output changes (PWM enabled, duty changed, mode changed) the ±12 V stage slews and the
    S/H capacitors follow the new gating for `settle_s`; conversions started before then are discarded. Until
    a conversion started after the settling time has finished, `low_v` is None and `high_v` is the last level
    reported: the loop never takes an unsettled low phase for the car's diode.

    Re-arm: after an ADC error the next `read()` first re-checks the chip's identity (ADS1115.arm())."""

    def __init__(
        self,
        pwm: SysfsPwm,
        adc: Ads1115,
        high_channel: int = 0,
        low_channel: int = 1,
        divider: float = 8.0,
        offset_v: float = 1.65,
        inverted: bool = False,
        settle_s: float = 0.02,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
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
        self.settle_s = settle_s
        self._now = now
        self.output = PilotOutput.high()
        # An S/H value is current while its phase exists without interruption; `_epoch[channel]` is bumped
        # when the phase (re)appears, which invalidates values (and running conversions) from before. A value
        # also needs a conversion started after the output settled (`_settled_at`).
        self._epoch = {high_channel: 0, low_channel: 0}
        # channel -> (pilot volts, epoch at conversion start, time of conversion start)
        self._values: dict[int, tuple[float, int, float]] = {}
        self._busy: tuple[int, int, float] | None = None  # (channel, epoch, start) of the running conversion
        self._busy_polls = 0
        self.max_busy_polls = 20  # a conversion takes 1.2 ms; 20 ticks (200 ms) busy is a stuck ADC
        self._turn = 0
        self._rearm = False
        self.conversions = 0
        self.rearms = 0
        self._write_duty(100.0)
        pwm.enable()
        sleep(settle_s)  # start-up may wait: the stage was off or at another output
        self._settled_at = now()
        # one blocking conversion at start-up so that the first read() has a value
        self._values[high_channel] = (self._pilot_v(adc.read_blocking(high_channel)), 0, self._settled_at)
        self._last = PilotReading(self._values[high_channel][0], None)

    def _pilot_v(self, adc_v: float) -> float:
        return (adc_v - self.offset_v) * self.divider

    def _write_duty(self, duty_percent: float) -> None:
        duty_ns = round(max(0.0, min(100.0, duty_percent)) * self.pwm.period_ns / 100.0)
        self.pwm.set_duty_ns(self.pwm.period_ns - duty_ns if self.inverted else duty_ns)

    def set_output(self, output: PilotOutput) -> None:
        if output.mode is PilotMode.OFF:
            raise ValueError("this pilot stage cannot output 0 V (PilotMode.OFF)")
        if output == self.output:
            return
        duty = {PilotMode.STEADY_HIGH: 100.0, PilotMode.STEADY_NEGATIVE: 0.0}.get(output.mode, output.duty)
        self._write_duty(duty)
        old = self.output.mode
        if _has_high_phase(output.mode) and not _has_high_phase(old):
            self._epoch[self.high_channel] += 1
        if _has_low_phase(output.mode) and not _has_low_phase(old):
            self._epoch[self.low_channel] += 1
        self._settled_at = self._now() + self.settle_s
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
        if v is None or v[1] != self._epoch[channel] or v[2] < self._settled_at:
            return None
        return v[0]

    def read(self) -> PilotReading:
        """The pilot voltages from the conversions finished so far; starts the next one. Never waits.
        Raises DeviceOffline when the ADC does not answer, DeviceError when it answers impossibly (config
        register not as written: a reset chip or a stuck bus); the next read re-checks the chip first."""
        try:
            return self._read()
        except DeviceError:
            self._rearm = True
            self._busy = None
            raise

    def _read(self) -> PilotReading:
        if self._rearm:
            self.adc.arm()
            self._rearm = False
            self.rearms += 1
        if self._busy is not None:
            if not self.adc.ready():
                self._busy_polls += 1
                if self._busy_polls <= self.max_busy_polls:
                    return self._view()
                raise DeviceError(f"ADS1115 at 0x{self.adc.address:02x}: conversion never finished")
            channel, epoch, started = self._busy
            self._values[channel] = (self._pilot_v(self.adc.volts()), epoch, started)
            self._busy = None
            self.conversions += 1
        channels = self._channels()
        self._turn = (self._turn + 1) % len(channels)
        channel = channels[self._turn]
        started = self._now()
        self.adc.start(channel)
        self._busy = (channel, self._epoch[channel], started)
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
        # until the first settled conversion in a new output has finished, the level is the last one reported
        self._last = PilotReading(level if level is not None else self._last.high_v, low)
        return self._last


# --- board-file declaration ---------------------------------------------------------------------------------


def _pwm(p: dict[str, Any], ctx: BuildContext) -> SysfsPwm:
    return SysfsPwm(p["pwm_chip"], p["pwm_channel"], sysfs_root=ctx.sysfs_root, io=ctx.sysfs, now=ctx.now, sleep=ctx.sleep)


def _build(p: dict[str, Any], ctx: BuildContext, name: str) -> SysfsPilot:
    adc = Ads1115(ctx.bus(p["i2c_bus"]), p["adc_address"], float(p["adc_full_scale_v"]), sleep=ctx.sleep)
    return SysfsPilot(
        _pwm(p, ctx),
        adc,
        high_channel=p["adc_high_input"],
        low_channel=p["adc_low_input"],
        divider=float(p["adc_divider"]),
        offset_v=float(p["adc_offset_v"]),
        inverted=p["inverted"],
        settle_s=float(p["settle_s"]),
        now=ctx.now,
        sleep=ctx.sleep,
    )


def _park(p: dict[str, Any], ctx: BuildContext) -> str:
    """No ADC needed: only the PWM channel is touched."""
    pwm = _pwm(p, ctx)
    pwm.park(p["on_exit"], p["inverted"])
    return f"pilot PWM pwmchip{p['pwm_chip']}/pwm{p['pwm_channel']} {p['on_exit']}"


NUMBER = (int, float)
PILOT = RealDriver(
    "pilot",
    "sysfs_ads1115",
    {
        "pwm_chip": Param(int, default=0, min=0, why="/sys/class/pwm/pwmchipN"),
        "pwm_channel": Param(int, default=0, min=0, why="pwmM"),
        "pwm_pin": Param(int, why="the GPIO the PWM overlay routes the channel to (checked for double use)"),
        "inverted": Param(bool, default=False, why="the ±12 V stage inverts the PWM line"),
        "i2c_bus": Param(int, default=1),
        "adc_address": Param(int, default=0x48, min=0x48, max=0x4B, why="ADS1115 ADDR pin: 0x48..0x4b"),
        "adc_high_input": Param(int, default=0, min=0, max=3, why="AIN of the high-phase S/H"),
        "adc_low_input": Param(int, default=1, min=0, max=3, why="AIN of the low-phase S/H"),
        "adc_divider": Param(NUMBER, default=8.0, why="pilot volts per ADC volt"),
        "adc_offset_v": Param(NUMBER, default=1.65, why="ADC volts at 0 V pilot"),
        "adc_full_scale_v": Param(NUMBER, default=4.096, choices=tuple(Ads1115.PGA), why="ADS1115 PGA range"),
        "settle_s": Param(
            NUMBER,
            default=0.02,
            min=0.0,
            max=0.2,
            why="after an output change, the ±12 V stage and the S/H settle before a reading counts",
        ),
        "on_exit": Param(
            str,
            default="disabled",
            choices=PARK_STATES,
            why="what `chargepoint safe-outputs` leaves the PWM at when no process drives the pilot",
        ),
    },
    what="sysfs PWM pilot with an ADS1115 behind a gated S/H pair",
    i2c=(("i2c_bus", "adc_address"),),
    config_txt=(
        (r"dtoverlay=pwm(-2chan)?\b", "the PWM channel exists only with the pwm overlay"),
        (r"dtparam=audio=off\b", "the analogue audio driver uses the PWM channels"),
    ),
    build=_build,
    park=_park,
)
