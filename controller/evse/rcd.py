"""Residual current (6 mA DC) supervision of one socket (pure): the trip latch, the Smart/Immediate reaction
(`6mADetectResponse`) and the monitor's self-test before each session.

- A trip latches RESIDUAL_CURRENT until no car is plugged in and the monitor no longer signals (or a
  `clear_faults` message while it no longer signals). The PWM stops at once in both modes.
- Immediate: the contactor opens in the tick the signal is seen.
- Smart: the car is asked to stop through the PWM; the contactor opens as soon as it has (it left C/D, or it
  draws less than `idle_a` on every phase), and at the latest `smart_s` (5 s) after the trip.
- Self-test: when a vehicle connects the loop asks for a test of the monitor (output `rcd_self_test`); the
  runner performs it and hands the result back in the next tick's inputs. The contactor may close only after a
  passed test in this session (the runner also tests before any close that comes with a request). A failed
  test latches RCD_SELF_TEST until unplug. A monitor that could not be read (`monitor_lost`) is tested again
  before the next close.
"""

from __future__ import annotations

from enum import StrEnum

from controller.evse.faults import Fault
from controller.evse.settings import RcdMode


class SelfTest(StrEnum):
    IDLE = "idle"  # no vehicle
    NEEDED = "needed"
    PASSED = "passed"
    FAILED = "failed"


class ResidualCurrentSupervisor:
    def __init__(self, smart_s: float = 5.0, idle_a: float = 1.0) -> None:
        self.smart_s = smart_s
        self.idle_a = idle_a
        self.tripped_at: float | None = None
        self.signal = False
        self.self_test = SelfTest.IDLE

    def on_connect(self) -> None:
        self.self_test = SelfTest.NEEDED

    def on_unplug(self) -> None:
        self.self_test = SelfTest.IDLE
        if not self.signal:
            self.tripped_at = None

    def monitor_lost(self) -> None:
        """The monitor could not be read: whatever it passed before, it is tested again before any close."""
        if self.self_test is SelfTest.PASSED:
            self.self_test = SelfTest.NEEDED

    def restore_trip(self, now: float) -> None:
        """A trip latched by a previous control process (handed back after a restart)."""
        if self.tripped_at is None:
            self.tripped_at = now

    def restore_failed_test(self) -> None:
        self.self_test = SelfTest.FAILED

    def clear(self) -> None:
        """`clear_faults`: drop the latches whose condition is gone (a failed self-test is retried)."""
        if not self.signal:
            self.tripped_at = None
        if self.self_test is SelfTest.FAILED:
            self.self_test = SelfTest.NEEDED

    def step(self, now: float, signal: bool, self_test_result: bool | None, unplugged: bool = False) -> set[Fault]:
        self.signal = signal
        if signal and self.tripped_at is None:
            self.tripped_at = now
        elif not signal and unplugged:
            self.tripped_at = None
        if self_test_result is not None and self.self_test is SelfTest.NEEDED:
            self.self_test = SelfTest.PASSED if self_test_result else SelfTest.FAILED
        faults: set[Fault] = set()
        if self.tripped_at is not None:
            faults.add(Fault.RESIDUAL_CURRENT)
        if self.self_test is SelfTest.FAILED:
            faults.add(Fault.RCD_SELF_TEST)
        return faults

    @property
    def request_test(self) -> bool:
        return self.self_test is SelfTest.NEEDED

    @property
    def close_allowed(self) -> bool:
        return self.self_test is SelfTest.PASSED

    def must_open(
        self, now: float, mode: RcdMode, charging_state: bool, currents: tuple[float, float, float] | None
    ) -> bool:
        """With a latched trip: must the contactor open in this tick?"""
        if self.tripped_at is None:
            return False
        if mode is RcdMode.IMMEDIATE or not charging_state:
            return True
        if currents is not None and max(currents) < self.idle_a:
            return True
        return now - self.tripped_at >= self.smart_s
