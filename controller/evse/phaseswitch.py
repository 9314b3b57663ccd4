"""The 1<->3 phase switch procedure of one socket (pure: time comes in as `now`, devices as readings).

The control loop owns the phase-switch relay like the contactor; this table says, tick by tick, what the
socket must do while the relay changes position. `PhaseSwitch.step()` returns `SwitchOutputs`: whether the
offer is held at 0 (`pause`: the PWM stops, state x1), whether the contactor is held open (`hold_open`), the
relay position to command, and a fault. The loop applies them through the connector, which keeps every other
rule (the 6 s rule, the lock, the faults); the relay is written after the contactors open (devio).

The procedure (`Step`), from a wanted phase count that differs from the relay's position:

| step      | offer | contactor  | relay      | leaves when                                                         |
|-----------|-------|------------|------------|---------------------------------------------------------------------|
| IDLE      | yes   | connector  | as is      | the target differs -> STOPPING (-> SWITCHING at once if nothing     |
|           |       |            |            | flows and the contactor is open)                                    |
| STOPPING  | 0     | connector  | as is      | the car stopped drawing -> OPENING; the target is back -> IDLE. A   |
|           |       |            |            | car that keeps drawing is cut by the connector's 6 s rule           |
|           |       |            |            | (EV_IGNORES_PWM_OFF), then the switch goes on with no current       |
| OPENING   | 0     | held open  | as is      | the contacts read open and nothing flows -> SWITCHING               |
| SWITCHING | 0     | held open  | the target | its feedback shows the target -> SETTLING; not within               |
|           |       |            |            | `feedback_timeout_s` -> FAILED (PHASE_RELAY); no feedback contact:  |
|           |       |            |            | after `feedback_timeout_s` -> SETTLING (the meter checks it later)  |
| SETTLING  | 0     | held open  | the target | `settle_s` passed (some cars need longer) -> IDLE: offer again      |
| FAILED    | 0     | held open  | as is      | `clear()` (a clear_faults message) -> IDLE                          |

The relay moves only while the contacts read open (mirror contact, or no contact and the meter reads no
current) and nothing flows: the station is never switched under load, and never draws more than a limit
allows because the offer is 0 from the first step to the last. A limit that changes mid-switch only changes
what is offered after the settle time.

Supervision in every step: a relay whose feedback disagrees with its command for `feedback_timeout_s` is
PHASE_RELAY (stop, latched until cleared); on one phase, current on L2 or L3 of the socket meter for more than
`mismatch_detect_s` is PHASE_COUNT_MISMATCH (the car resumed on three phases: the relay's contacts did not
follow; stop, latched until cleared). These switches are the station's own pauses: the connector does not
count them for ContactorProtect (a car that follows our PWM off is not an EV start/stop request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.evse.faults import Fault

PHASE_COUNTS = (1, 3)


class Step(StrEnum):
    IDLE = "idle"
    STOPPING = "stopping"
    OPENING = "opening"
    SWITCHING = "switching"
    SETTLING = "settling"
    FAILED = "failed"


@dataclass(frozen=True)
class RelaySettings:
    """A socket's phase-switch relay, from the board file (`phase_relay` device)."""

    rest_phases: int = 3  # the position of the de-energised relay (its safe state)
    settle_s: float = 2.0  # after the relay moved, before the offer comes back
    feedback_timeout_s: float = 0.5  # the feedback contact must follow a command within this
    idle_a: float = 0.5  # no current: every phase below this
    mismatch_a: float = 1.0  # on one phase, current above this on L2/L3 ...
    mismatch_detect_s: float = 1.0  # ... for longer than this is PHASE_COUNT_MISMATCH


@dataclass(frozen=True)
class SwitchInputs:
    """One tick's view of the socket, as the loop has it."""

    target: int  # the phases wanted (1 or 3); anything else keeps the relay where it is
    currents: Sequence[float] | None  # the socket meter (station phases L1..L3); None: no valid reading
    contactor_closed: bool  # as commanded
    contacts_open: bool  # the contacts read open (mirror contact, else the meter)
    feedback: int | None  # the relay's feedback contact; None: it has none (or it cannot be read)


@dataclass(frozen=True)
class SwitchOutputs:
    pause: bool  # hold the offer at 0 (PWM off)
    hold_open: bool  # keep the contactor open
    relay: int  # the position to command
    fault: Fault | None = None


class PhaseSwitch:
    """One socket's relay and the switch procedure (see the module docstring)."""

    def __init__(self, settings: RelaySettings, start: float) -> None:
        self.settings = settings
        self.relay = settings.rest_phases  # what the coil is told; it starts at rest (its safe state)
        self.step_name = Step.IDLE
        self.since = start  # when the present step began
        self.commanded_at = start  # when the relay was last commanded
        self.latched: Fault | None = None
        self.switches = 0  # completed switches (never counted by ContactorProtect)
        self._mismatch_since: float | None = None

    @property
    def settled(self) -> bool:
        """The socket draws on `relay` phases and may be offered current."""
        return self.step_name is Step.IDLE

    def clear(self, now: float) -> None:
        """A clear_faults message: forget the latch; a condition still there latches again."""
        self.latched = None
        self._mismatch_since = None
        if self.step_name is Step.FAILED:
            self._go(Step.IDLE, now)

    def latch(self, fault: Fault, now: float) -> None:
        """A latch handed back after a control-process restart."""
        self.latched = fault
        self._go(Step.FAILED, now)

    def _go(self, step: Step, now: float) -> None:
        self.step_name = step
        self.since = now

    def _drawing(self, currents: Sequence[float] | None) -> bool:
        """Current flows (or the meter cannot say it does not)."""
        return currents is None or any(not abs(c) < self.settings.idle_a for c in currents)

    def _supervise(self, now: float, inp: SwitchInputs) -> Fault | None:
        s = self.settings
        if inp.feedback is not None and inp.feedback != self.relay and now - self.commanded_at >= s.feedback_timeout_s:
            return Fault.PHASE_RELAY
        wrong = (
            self.relay == 1
            and inp.contactor_closed
            and inp.currents is not None
            and any(not abs(c) <= s.mismatch_a for c in inp.currents[1:])
        )
        if not wrong:
            self._mismatch_since = None
            return None
        if self._mismatch_since is None:
            self._mismatch_since = now
        return Fault.PHASE_COUNT_MISMATCH if now - self._mismatch_since > s.mismatch_detect_s else None

    def step(self, now: float, inp: SwitchInputs) -> SwitchOutputs:
        s = self.settings
        fault = self._supervise(now, inp)
        if fault is not None and self.latched is None:
            self.latched = fault
            self._go(Step.FAILED, now)
        wanted = inp.target if inp.target in PHASE_COUNTS else self.relay
        quiet = inp.contacts_open and not inp.contactor_closed and not self._drawing(inp.currents)
        st = self.step_name
        if st is Step.IDLE and wanted != self.relay:
            st = Step.SWITCHING if quiet else Step.STOPPING
            self._go(st, now)
            if st is Step.SWITCHING:
                self._command(wanted, now)
        elif st is Step.STOPPING:
            if wanted == self.relay:
                self._go(Step.IDLE, now)
            elif not self._drawing(inp.currents) or not inp.contactor_closed:
                self._go(Step.OPENING, now)
        elif st is Step.OPENING:
            if wanted == self.relay:
                self._go(Step.IDLE, now)
            elif quiet:
                self._go(Step.SWITCHING, now)
                self._command(wanted, now)
        elif st is Step.SWITCHING:
            if inp.feedback == self.relay or (inp.feedback is None and now - self.commanded_at >= s.feedback_timeout_s):
                self._go(Step.SETTLING, now)
        elif st is Step.SETTLING and now - self.since >= s.settle_s:
            self.switches += 1
            self._go(Step.IDLE, now)
        st = self.step_name
        return SwitchOutputs(
            pause=st is not Step.IDLE,
            hold_open=st in (Step.OPENING, Step.SWITCHING, Step.SETTLING, Step.FAILED),
            relay=self.relay,
            fault=self.latched,
        )

    def _command(self, phases: int, now: float) -> None:
        self.relay = phases
        self.commanded_at = now
