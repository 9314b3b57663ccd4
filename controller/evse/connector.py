"""Supervision of one socket, tick by tick (pure: time comes in as `now`, devices as readings).

Owns: debouncing the pilot level, the IEC 61851 state, the PWM duty from the allowed current, contactor
sequencing with its feedback contact, the lock, and the per-socket safety limits. The only way out is the
returned `ConnectorOutputs`, which the loop writes to the actuators.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.evse.faults import PAUSING, REPORT_ONLY, Fault
from controller.evse.pilot import CpLevel, classify
from controller.evse.pwm import MIN_CURRENT_A, current_for_duty, duty_for_current
from controller.evse.statemachine import EvseState, PilotDrive, decide, next_state
from hal.interfaces import MeterReading, PilotMode, PilotOutput, PilotReading

IMMEDIATE_LEVELS = frozenset({CpLevel.A, CpLevel.E, CpLevel.F, CpLevel.DIODE_FAULT})


@dataclass
class EvseSettings:
    """Per-socket settings from the board file and the configuration keys the loop owns."""

    bands: dict[str, tuple[float, float]]
    diode_max_low_v: float = -10.5
    max_current: float = 32.0
    debounce_s: float = 0.25
    force_open_after_pwm_off_s: float = 6.0
    feedback_timeout_s: float = 0.5
    pwm_raise_interval_s: float = 5.0


@dataclass
class ConnectorCommand:
    """What the main process asks of a socket (it only ever asks; the loop decides)."""

    max_current: float = 0.0
    authorized: bool = False
    suspended: bool = False


@dataclass
class ConnectorInputs:
    pilot: PilotReading
    contactor_feedback: bool | None
    meter: MeterReading | None
    rcd_tripped: bool = False


@dataclass
class ConnectorOutputs:
    pilot: PilotOutput
    contactor: bool
    locked: bool


@dataclass
class ConnectorStatus:
    state: EvseState
    pwm_duty: float | None
    offered_a: float
    contactor: bool
    faults: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "cp_state": self.state.value,
            "pwm_duty": self.pwm_duty,
            "offered_a": self.offered_a,
            "contactor": "closed" if self.contactor else "open",
            "faults": list(self.faults),
        }


class ConnectorController:
    def __init__(self, connector_id: int, settings: EvseSettings, start: float) -> None:
        self.id = connector_id
        self.settings = settings
        self.state = EvseState.A
        self._candidate: CpLevel = CpLevel.A
        self._candidate_since = start
        self._pwm_on = False
        self._duty: float | None = None
        self._duty_raised_at = start - 1e9
        self._contactor = False
        self._contactor_changed_at = start
        self._pwm_off_since: float | None = None
        self.faults: set[Fault] = set()
        self._latched: set[Fault] = set()
        self._diode_latched = False
        self._driving_negative = False

    # -- helpers ---------------------------------------------------------------------------------------------
    def _debounce(self, now: float, level: CpLevel) -> EvseState:
        if level != self._candidate:
            self._candidate = level
            self._candidate_since = now
        if level in IMMEDIATE_LEVELS or now - self._candidate_since >= self.settings.debounce_s:
            return next_state(level)
        return self.state

    def _target_duty(self, now: float, current: float) -> float | None:
        duty = duty_for_current(min(current, self.settings.max_current))
        if duty is None or self._duty is None:
            if duty is not None:
                self._duty_raised_at = now
            return duty
        if duty > self._duty and now - self._duty_raised_at < self.settings.pwm_raise_interval_s:
            return self._duty  # raise at most every 5 s; lowering is immediate
        if duty > self._duty:
            self._duty_raised_at = now
        return duty

    def latch(self, fault: Fault) -> None:
        self._latched.add(fault)

    def clear_latched(self) -> None:
        self._latched.clear()

    # -- the tick --------------------------------------------------------------------------------------------
    def step(
        self, now: float, inp: ConnectorInputs, cmd: ConnectorCommand, station_faults: set[Fault]
    ) -> ConnectorOutputs:
        s = self.settings
        if self._driving_negative:
            self.state = EvseState.F  # we hold the pilot at -12 V and cannot see the car until we release it
        else:
            level = classify(inp.pilot, s.bands, s.diode_max_low_v, self._pwm_on)
            if level is CpLevel.A:
                self._diode_latched = False
            elif level is CpLevel.DIODE_FAULT:
                self._diode_latched = True
            self.state = self._debounce(now, level)
            if self._diode_latched and self.state is not EvseState.A:
                self.state = EvseState.E

        faults: set[Fault] = set(station_faults) | self._latched
        if self._diode_latched:
            faults.add(Fault.DIODE)
        elif self.state is EvseState.E:
            faults.add(Fault.PILOT_ERROR)
        if inp.rcd_tripped:
            faults.add(Fault.RESIDUAL_CURRENT)
        if inp.meter is None:
            faults.add(Fault.METER)

        # contactor feedback supervision
        fb = inp.contactor_feedback
        if fb is not None and now - self._contactor_changed_at >= s.feedback_timeout_s:
            if self._contactor and not fb:
                self._latched.add(Fault.CONTACTOR_NOT_CLOSING)
                faults.add(Fault.CONTACTOR_NOT_CLOSING)
            elif not self._contactor and fb:
                self._latched.add(Fault.WELDED_CONTACT)
                faults.add(Fault.WELDED_CONTACT)

        blocking = {f for f in faults if f not in REPORT_ONLY}
        hard = {f for f in blocking if f not in PAUSING}
        allow = (
            cmd.authorized
            and not cmd.suspended
            and not blocking
            and min(cmd.max_current, s.max_current) >= MIN_CURRENT_A
        )
        decision = decide(self.state, allow)
        pilot_drive = decision.pilot
        if hard & self._latched or Fault.RESIDUAL_CURRENT in hard:
            pilot_drive = PilotDrive.NEGATIVE  # state F: EVSE unavailable

        # PWM
        if pilot_drive is PilotDrive.PWM:
            duty = self._target_duty(now, cmd.max_current)
            pilot = PilotOutput.pwm(duty) if duty is not None else PilotOutput.high()
            self._duty = duty
        else:
            self._duty = None
            pilot = PilotOutput.negative() if pilot_drive is PilotDrive.NEGATIVE else PilotOutput.high()
        self._driving_negative = pilot.mode is PilotMode.STEADY_NEGATIVE
        pwm_on = pilot.mode is PilotMode.PWM
        if self._pwm_on and not pwm_on:
            self._pwm_off_since = now
        elif pwm_on:
            self._pwm_off_since = None
        self._pwm_on = pwm_on

        # contactor
        want_closed = decision.contactor and pwm_on
        if not want_closed and self._contactor:
            immediate = hard or self.state not in (EvseState.C, EvseState.D)
            grace_over = self._pwm_off_since is None or now - self._pwm_off_since >= s.force_open_after_pwm_off_s
            if not immediate and not grace_over:
                want_closed = True  # PWM is off; the car must drop to B, we give it 6 s
            elif not immediate and grace_over and self._pwm_off_since is not None:
                faults.add(Fault.EV_IGNORES_PWM_OFF)
        if Fault.WELDED_CONTACT in self._latched or Fault.CONTACTOR_NOT_CLOSING in self._latched:
            want_closed = False
        if want_closed != self._contactor:
            self._contactor = want_closed
            self._contactor_changed_at = now

        self.faults = faults
        locked = self.state in (EvseState.B, EvseState.C, EvseState.D) and (cmd.authorized or self._contactor)
        return ConnectorOutputs(pilot=pilot, contactor=self._contactor, locked=locked)

    def status(self) -> ConnectorStatus:
        offered = current_for_duty(self._duty) if self._duty is not None else 0.0
        return ConnectorStatus(
            state=self.state,
            pwm_duty=self._duty,
            offered_a=offered,
            contactor=self._contactor,
            faults=sorted(f.value for f in self.faults),
        )
