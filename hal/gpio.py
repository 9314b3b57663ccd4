"""Real drivers on GPIO pins through gpiozero: contactor with mirror contact, connector lock, external
suspend input, residual current monitor fault/test lines. gpiozero is imported only here.

Tests run these same classes on gpiozero's MockFactory pins (`pin_factory` argument).
"""

from __future__ import annotations

import time
from typing import Any

from gpiozero import DigitalInputDevice, DigitalOutputDevice


class GpioContactor:
    """Contactor coil on `pin`, feedback (mirror) contact on `feedback_pin`. Safe state: open (coil off)."""

    def __init__(
        self, pin: int, feedback_pin: int | None = None, active_high: bool = True, pin_factory: Any = None, **_: Any
    ) -> None:
        self._coil = DigitalOutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)
        self._fb = (
            DigitalInputDevice(feedback_pin, pull_up=False, pin_factory=pin_factory)
            if feedback_pin is not None
            else None
        )

    def set_closed(self, closed: bool) -> None:
        if closed:
            self._coil.on()
        else:
            self._coil.off()

    def feedback_closed(self) -> bool | None:
        return None if self._fb is None else bool(self._fb.value)

    def to_safe_state(self) -> None:
        self._coil.off()

    def close(self) -> None:
        self._coil.close()
        if self._fb is not None:
            self._fb.close()


class GpioLock:
    """Connector lock motor/solenoid on `pin`, feedback on `feedback_pin`. Safe state: unlocked."""

    def __init__(self, pin: int, feedback_pin: int | None = None, pin_factory: Any = None, **_: Any) -> None:
        self._out = DigitalOutputDevice(pin, initial_value=False, pin_factory=pin_factory)
        self._fb = (
            DigitalInputDevice(feedback_pin, pull_up=False, pin_factory=pin_factory)
            if feedback_pin is not None
            else None
        )

    def set_locked(self, locked: bool) -> None:
        self._out.value = locked

    def feedback_locked(self) -> bool | None:
        return None if self._fb is None else bool(self._fb.value)

    def to_safe_state(self) -> None:
        self._out.off()


class GpioSuspendInput:
    """The RJ11 external suspend contact."""

    def __init__(self, pin: int, active_high: bool = True, pin_factory: Any = None, **_: Any) -> None:
        self._in = DigitalInputDevice(pin, pull_up=not active_high, pin_factory=pin_factory)

    def active(self) -> bool:
        return bool(self._in.value)


class GpioRcd:
    """6 mA DC residual current module: fault output on `fault_pin`, test input on `test_pin`."""

    def __init__(
        self, fault_pin: int, test_pin: int, reset_pin: int | None = None, pin_factory: Any = None, **_: Any
    ) -> None:
        self._fault = DigitalInputDevice(fault_pin, pull_up=False, pin_factory=pin_factory)
        self._test = DigitalOutputDevice(test_pin, initial_value=False, pin_factory=pin_factory)
        self._reset = (
            DigitalOutputDevice(reset_pin, initial_value=False, pin_factory=pin_factory)
            if reset_pin is not None
            else None
        )

    def tripped(self) -> bool:
        return bool(self._fault.value)

    def self_test(self, wait_s: float = 0.05) -> bool:
        self._test.on()
        ok = self._fault.wait_for_active(timeout=wait_s)
        self._test.off()
        time.sleep(wait_s)
        self.reset()
        return bool(ok) and not self._fault.value

    def reset(self) -> None:
        if self._reset is not None:
            self._reset.on()
            self._reset.off()
