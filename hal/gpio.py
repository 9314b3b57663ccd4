"""Real drivers on GPIO pins through gpiozero: contactor with mirror contact, connector lock, 1/3-phase relay
with auxiliary contact, external suspend input, residual current monitor fault/test/reset lines, RGB status
LEDs; their board-file declarations; the kernel check that released outputs return to inputs; lgpio's working directory.
gpiozero is imported only here (and by hal/edges.py).

Hardware assumption (CM4 carrier rev1): outputs drive relay/contactor coils through low-side drivers with a
hardware pull-down on the gate, so an unconfigured pin (boot, reset) leaves the coil off. A pin a process
released is another matter: Raspberry Pi kernels keep a released output driven at its last level unless
`dtparam=strict_gpiod` (`pinctrl_bcm2835.persist_gpio_outputs=n`) returns it to an input, so a crashed or
killed process would leave the coil on. Hence: boards with GPIO power outputs state `dtparam=strict_gpiod`
in [system] and `check_released_outputs_return_to_inputs()` refuses to run without it; the factory claims
and drives off the power outputs before it builds anything else; `chargepoint safe-outputs` (the unit's
ExecStopPost) drives them off after any exit. Feedback inputs (mirror contact, lock switch, RCD fault) come
through opto-couplers with their own pull resistors, so the internal pulls are off and `*_active_high` says
which level means "closed/locked/tripped".

Pin factory: gpiozero 2 needs lgpio on Raspberry Pi OS kernels (its native factory uses /sys/class/gpio,
which fails on kernels 6.6+ where gpiochip0's base is 512, and has no PWM). The unit sets
GPIOZERO_PIN_FACTORY=lgpio so that a missing lgpio is fatal instead of a silent fallback.

Tests run these same classes on gpiozero's MockFactory pins (`pin_factory` argument).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gpiozero import PWMLED, RGBLED, DigitalInputDevice, DigitalOutputDevice

from board.schema import PHASE_RELAY_PARAMS, Param
from hal.errors import UnsafeSystem
from hal.real_drivers import BuildContext, RealDriver

# the pinctrl driver of the BCM2711 (CM4, Pi 4) and its parameter: "N" = released outputs return to inputs
PERSIST_GPIO_OUTPUTS = "/sys/module/pinctrl_bcm2835/parameters/persist_gpio_outputs"
LGPIO_BASE_ENV = "CHARGEPOINT_LGPIO_DIR"


def check_released_outputs_return_to_inputs(system_root: str | os.PathLike[str] = "/") -> None:
    """Raise UnsafeSystem unless the kernel returns released GPIO outputs to inputs (dtparam=strict_gpiod),
    so that a process that dies with a coil on leaves it to the hardware pull-down."""
    path = Path(system_root) / PERSIST_GPIO_OUTPUTS.lstrip("/")
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise UnsafeSystem(
            f"cannot read {PERSIST_GPIO_OUTPUTS} ({exc.strerror or exc}): this kernel cannot be told to return "
            "released GPIO outputs to inputs, so a dead process would leave the contactor coil on; "
            "use a Raspberry Pi kernel with dtparam=strict_gpiod (6.6.y from mid 2024 on). Refusing to run."
        ) from exc
    if value not in ("N", "n", "0"):
        raise UnsafeSystem(
            f"{PERSIST_GPIO_OUTPUTS} = {value}: released GPIO outputs stay driven, so a dead process would leave "
            "the contactor coil on. Add dtparam=strict_gpiod to config.txt (`chargepoint board-setup`) and "
            "reboot. Refusing to run."
        )


def use_lgpio_workdir(role: str) -> Path:
    """Give this process its own lgpio working directory, `<base>/lgpio-<role>`, before lgpio is first used.

    lgpio creates its notification FIFOs (`.lgd-nfy<handle>`, handles counted per process) in its working
    directory, `$LG_WD` or the current directory, and chdir()s the process there on first use. Under
    ProtectSystem=strict the current directory `/` is read-only (gpiozero then fails to watch edges), and two
    processes in one directory would share `.lgd-nfy0`. The base is the directory the first process started
    in (the unit's WorkingDirectory=, the state directory) or `$LG_WD`; it is passed on to child processes in
    $CHARGEPOINT_LGPIO_DIR so that each role gets a sibling directory."""
    base = os.environ.get(LGPIO_BASE_ENV) or os.environ.get("LG_WD") or os.getcwd()
    os.environ[LGPIO_BASE_ENV] = os.path.abspath(base)
    workdir = Path(os.environ[LGPIO_BASE_ENV]) / f"lgpio-{role}"
    workdir.mkdir(mode=0o700, exist_ok=True)
    os.environ["LG_WD"] = str(workdir)
    return workdir


def _input(pin: int, active_high: bool, pin_factory: Any) -> DigitalInputDevice:
    """An input with an external pull resistor (opto-coupler output): no internal pull."""
    return DigitalInputDevice(pin, pull_up=None, active_state=active_high, pin_factory=pin_factory)


class _CoilWithContact:
    """A coil output on `pin` (starts off) and an optional contact input on `feedback_pin` that tells whether
    it pulled in (`feedback_active_high`: the level that means so). `close()` leaves the coil off."""

    def __init__(
        self,
        pin: int,
        feedback_pin: int | None = None,
        active_high: bool = True,
        feedback_active_high: bool = True,
        pin_factory: Any = None,
    ) -> None:
        self._coil = DigitalOutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)
        self._fb = _input(feedback_pin, feedback_active_high, pin_factory) if feedback_pin is not None else None

    def to_safe_state(self) -> None:
        self._coil.off()

    def close(self) -> None:
        self._coil.off()
        self._coil.close()
        if self._fb is not None:
            self._fb.close()


class GpioContactor(_CoilWithContact):
    """Contactor coil on `pin`, feedback contact on `feedback_pin`. Safe state: open (coil off); starts open.

    `feedback_active_high`: the input level that means "main contacts closed". A mirror contact (NC, IEC
    60947-4-1 Annex F) conducts while the main contacts are open; wired to pull the opto input high it reads
    high when open, so such a board sets `feedback_active_high = false`."""

    def set_closed(self, closed: bool) -> None:
        if closed:
            self._coil.on()
        else:
            self._coil.off()

    @property
    def commanded(self) -> bool:
        return bool(self._coil.value)

    def feedback_closed(self) -> bool | None:
        return None if self._fb is None else bool(self._fb.value)


class GpioLock(_CoilWithContact):
    """Connector lock actuator held by `pin` (solenoid or motor with end switch), feedback switch on
    `feedback_pin` (`feedback_active_high`: level that means locked). Safe state: unlocked."""

    def __init__(
        self,
        pin: int,
        feedback_pin: int | None = None,
        feedback_active_high: bool = True,
        pin_factory: Any = None,
    ) -> None:
        super().__init__(pin, feedback_pin, True, feedback_active_high, pin_factory)

    def set_locked(self, locked: bool) -> None:
        if locked:
            self._coil.on()
        else:
            self._coil.off()

    def feedback_locked(self) -> bool | None:
        return None if self._fb is None else bool(self._fb.value)


class GpioPhaseRelay(_CoilWithContact):
    """A 1/3-phase switch relay: its coil on `pin`, its auxiliary (feedback) contact on `feedback_pin`
    (`feedback_active_high`: the input level that means "coil pulled in"). The de-energised relay connects
    `rest_phases` (the board's wiring, 3 or 1); the energised one the other count. Safe state: coil off; starts
    off. `settle_s` is the control loop's (see board.schema.PHASE_RELAY_PARAMS); the driver only keeps it."""

    def __init__(
        self,
        pin: int,
        feedback_pin: int | None = None,
        active_high: bool = True,
        feedback_active_high: bool = True,
        rest_phases: int = 3,
        settle_s: float = 2.0,
        pin_factory: Any = None,
    ) -> None:
        if rest_phases not in (1, 3):
            raise ValueError(f"rest_phases must be 1 or 3, not {rest_phases!r}")
        super().__init__(pin, feedback_pin, active_high, feedback_active_high, pin_factory)
        self.rest_phases = rest_phases
        self.settle_s = settle_s

    def _phases(self, energised: bool) -> int:
        return (1 if self.rest_phases == 3 else 3) if energised else self.rest_phases

    def set_phases(self, phases: int) -> None:
        if isinstance(phases, bool) or phases not in (1, 3):
            raise ValueError(f"a phase relay switches between 1 and 3 phases, not {phases!r}")
        if phases == self.rest_phases:
            self._coil.off()
        else:
            self._coil.on()

    @property
    def commanded(self) -> int:
        return self._phases(bool(self._coil.value))

    def feedback_phases(self) -> int | None:
        return None if self._fb is None else self._phases(bool(self._fb.value))


class GpioSuspendInput:
    """The RJ11 external suspend contact, a dry contact to GND (active_high = false, internal pull-up) or to
    3.3 V (active_high = true, internal pull-down)."""

    def __init__(self, pin: int, active_high: bool = True, pin_factory: Any = None) -> None:
        self._in = DigitalInputDevice(pin, pull_up=not active_high, pin_factory=pin_factory)

    def active(self) -> bool:
        return bool(self._in.value)

    def close(self) -> None:
        self._in.close()


class GpioRcd:
    """6 mA DC residual current module (RDC-DD, e.g. a Western Automation RCM14-03 style module): fault output
    on `fault_pin` (latched by the module until reset), test input on `test_pin` (injects a test current),
    optional reset input on `reset_pin` (a pulse of `reset_pulse_s` clears the latch).

    The self-test: test line on until the fault line trips (at most `test_timeout_s`), test line off, reset,
    then the fault line must have cleared. `start_self_test()` / `poll_self_test()` do it without blocking
    (for the 10 ms control loop); `self_test()` is the blocking form of the Protocol."""

    def __init__(
        self,
        fault_pin: int,
        test_pin: int,
        reset_pin: int | None = None,
        fault_active_high: bool = True,
        test_timeout_s: float = 0.1,
        reset_pulse_s: float = 0.005,
        pin_factory: Any = None,
        now: Any = time.monotonic,
    ) -> None:
        self._fault = _input(fault_pin, fault_active_high, pin_factory)
        self._test = DigitalOutputDevice(test_pin, initial_value=False, pin_factory=pin_factory)
        self._reset = (
            DigitalOutputDevice(reset_pin, initial_value=False, pin_factory=pin_factory)
            if reset_pin is not None
            else None
        )
        self.test_timeout_s = test_timeout_s
        self.reset_pulse_s = reset_pulse_s
        self._now = now
        self._test_started: float | None = None
        self.self_tests = 0
        self.self_test_failures = 0

    def tripped(self) -> bool:
        return bool(self._fault.value)

    def reset(self) -> None:
        if self._reset is not None:
            self._reset.on()
            time.sleep(self.reset_pulse_s)
            self._reset.off()

    def start_self_test(self) -> None:
        """Switch the test current on; `poll_self_test()` tells the outcome."""
        self._test.on()
        self._test_started = self._now()

    def poll_self_test(self) -> bool | None:
        """None while the test runs; then True if the module tripped on the test current and cleared after
        the reset, False otherwise. The test line is off again once this returns a result."""
        if self._test_started is None:
            raise RuntimeError("no self-test running")
        tripped = bool(self._fault.value)
        if not tripped and self._now() - self._test_started < self.test_timeout_s:
            return None
        self._test.off()
        self._test_started = None
        self.reset()
        ok = tripped and not self._fault.value
        self.self_tests += 1
        if not ok:
            self.self_test_failures += 1
        return ok

    def self_test(self) -> bool:
        """Blocking self-test: at most `test_timeout_s` plus the reset pulse."""
        self.start_self_test()
        while (result := self.poll_self_test()) is None:
            time.sleep(0.001)
        return result

    def close(self) -> None:
        self._test.off()
        for dev in (self._fault, self._test, self._reset):
            if dev is not None:
                dev.close()


COLORS: dict[str, tuple[float, float, float]] = {
    "off": (0.0, 0.0, 0.0),
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "orange": (1.0, 0.35, 0.0),
    "yellow": (1.0, 0.8, 0.0),
}


class GpioRgbLeds:
    """Status LED: one RGB LED (or strip through drivers) on three PWM-capable pins, optional NFC reader
    backlight LED on `nfc_pin`. Patterns: solid, blink, blinkN (N blinks, then off), pulse, off; gpiozero runs
    blink and pulse in its own background thread. Unknown colours show white. Safe state: off."""

    BLINK_S = 0.5
    PULSE_S = 1.0

    def __init__(
        self,
        red_pin: int,
        green_pin: int,
        blue_pin: int,
        nfc_pin: int | None = None,
        active_high: bool = True,
        pin_factory: Any = None,
    ) -> None:
        self._rgb = RGBLED(red_pin, green_pin, blue_pin, active_high=active_high, pwm=True, pin_factory=pin_factory)
        self._nfc = PWMLED(nfc_pin, active_high=active_high, pin_factory=pin_factory) if nfc_pin is not None else None
        self.state: tuple[str, str, int] = ("off", "off", 0)
        self.unknown_colors = 0

    def show(self, color: str, pattern: str, intensity: int) -> None:
        self.state = (color, pattern, intensity)
        if color not in COLORS:
            self.unknown_colors += 1
        level = max(0, min(100, intensity)) / 100.0
        r, g, b = COLORS.get(color, COLORS["white"])
        on = (r * level, g * level, b * level)
        if pattern == "off" or color == "off" or level == 0.0:
            self._rgb.off()
        elif pattern == "pulse":
            self._rgb.pulse(fade_in_time=self.PULSE_S, fade_out_time=self.PULSE_S, on_color=on)
        elif pattern.startswith("blink"):
            count = pattern[len("blink") :]
            n = int(count) if count.isdigit() else None
            self._rgb.blink(on_time=self.BLINK_S, off_time=self.BLINK_S, on_color=on, n=n)
        else:  # solid (and anything unknown: better visible than dark)
            self._rgb.color = on

    def show_nfc(self, intensity: int) -> None:
        if self._nfc is not None:
            self._nfc.value = max(0, min(100, intensity)) / 100.0

    @property
    def color(self) -> tuple[float, float, float]:
        """The RGB duty cycles (0..1) right now."""
        return tuple(self._rgb.color)  # type: ignore[return-value]

    def to_safe_state(self) -> None:
        self._rgb.off()
        if self._nfc is not None:
            self._nfc.off()

    def close(self) -> None:
        self.to_safe_state()
        self._rgb.close()
        if self._nfc is not None:
            self._nfc.close()


# --- board-file declarations --------------------------------------------------------------------------------

NUMBER = (int, float)
# the RCD self-test blocks one control tick under the dead-man lock (controller/evse/devio.py): it must stay
# well below the control process's dead-man bound (0.25 s), or a self-test would trip the dead man
RCD_TEST_TIMEOUT_MAX_S = 0.1
_STRICT_GPIOD = (
    (
        r"dtparam=strict_gpiod\b",
        "Raspberry Pi kernels keep a released output driven without it: a dead process would leave the coil on",
    ),
)


def _park(build: Any, what: str) -> Any:
    """A park function for a gpiozero driver: build it (every output starts off) and close it (off again, pins
    released; with strict_gpiod the lines become inputs and the hardware pull-downs hold them off)."""

    def park(p: dict[str, Any], ctx: BuildContext) -> str:
        build(p, ctx, "").close()
        pins = ", ".join(f"GPIO{p[k]}" for k in sorted(p) if k.endswith("pin") and not k.startswith(("feedback", "fault")))
        return f"{what} off ({pins})"

    return park


def _contactor(p: dict[str, Any], ctx: BuildContext, name: str) -> GpioContactor:
    return GpioContactor(pin_factory=ctx.pin_factory, **p)


def _lock(p: dict[str, Any], ctx: BuildContext, name: str) -> GpioLock:
    return GpioLock(pin_factory=ctx.pin_factory, **p)


def _rcd(p: dict[str, Any], ctx: BuildContext, name: str) -> GpioRcd:
    return GpioRcd(pin_factory=ctx.pin_factory, now=ctx.now, **p)


def _phase_relay(p: dict[str, Any], ctx: BuildContext, name: str) -> GpioPhaseRelay:
    return GpioPhaseRelay(pin_factory=ctx.pin_factory, **p)


def _suspend(p: dict[str, Any], ctx: BuildContext, name: str) -> GpioSuspendInput:
    return GpioSuspendInput(pin_factory=ctx.pin_factory, **p)


def _leds(p: dict[str, Any], ctx: BuildContext, name: str) -> GpioRgbLeds:
    return GpioRgbLeds(pin_factory=ctx.pin_factory, **p)


def _power_output(kind: str, params: dict[str, Param], what: str, build: Any, output: str) -> RealDriver:
    """A GPIO power-path output: claimed first, driven off by safe-outputs, needs strict_gpiod."""
    return RealDriver(
        kind, "gpiozero", params, what=what, power_output=True, config_txt=_STRICT_GPIOD, build=build,
        park=_park(build, output),
    )  # fmt: skip


def _coil_params(coil: str, contact: str, pulled_in: str) -> dict[str, Param]:
    """The parameters of a `_CoilWithContact`: its coil output and its optional contact input."""
    return {
        "pin": Param(int, True, why=f"{coil} output"),
        "feedback_pin": Param(int, why=f"{contact} input"),
        "active_high": Param(bool, default=True, why="the level that switches the coil on"),
        "feedback_active_high": Param(bool, default=True, why=f"the input level that means {pulled_in}"),
    }


CONTACTOR = _power_output(
    "contactor",
    _coil_params("coil", "mirror contact", "main contacts closed"),
    "contactor coil on a GPIO, optional mirror contact",
    _contactor,
    "contactor coil",
)
LOCK = _power_output(
    "lock",
    {
        "pin": Param(int, True, why="lock actuator output"),
        "feedback_pin": Param(int, why="lock end switch input"),
        "feedback_active_high": Param(bool, default=True, why="the input level that means locked"),
    },
    "connector lock actuator on a GPIO, optional end switch",
    _lock,
    "lock actuator",
)
PHASE_RELAY = _power_output(
    "phase_relay",
    {**_coil_params("relay coil", "auxiliary contact", "the coil pulled in"), **PHASE_RELAY_PARAMS},
    "1/3-phase switch relay on a GPIO, optional auxiliary contact",
    _phase_relay,
    "phase relay coil",
)
RCD = RealDriver(
    "rcd",
    "gpiozero",
    {
        "fault_pin": Param(int, True, why="fault output of the module"),
        "test_pin": Param(int, True, why="test current input of the module"),
        "reset_pin": Param(int, why="latch reset input of the module"),
        "fault_active_high": Param(bool, default=True),
        "test_timeout_s": Param(
            NUMBER,
            default=0.1,
            min=0.005,
            max=RCD_TEST_TIMEOUT_MAX_S,
            why="the self-test blocks a control tick under the dead-man lock: well below the 0.25 s dead-man bound",
        ),
    },
    what="6 mA DC residual current module (RDC-DD) with test and reset lines",
    build=_rcd,
    park=_park(_rcd, "RCD test and reset lines"),
)
SUSPEND_INPUT = RealDriver(
    "suspend_input",
    "gpiozero",
    {"pin": Param(int, True), "active_high": Param(bool, default=True)},
    what="external suspend contact (RJ11) on a GPIO input",
    build=_suspend,
)
LEDS = RealDriver(
    "leds",
    "gpiozero",
    {
        "red_pin": Param(int, True),
        "green_pin": Param(int, True),
        "blue_pin": Param(int, True),
        "nfc_pin": Param(int),
        "active_high": Param(bool, default=True),
    },
    what="RGB status LED (PWM) and NFC backlight",
    build=_leds,
)
