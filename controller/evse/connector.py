"""Supervision of one socket, tick by tick (pure: time comes in as `now`, devices as readings).

Owns: the debounced IEC 61851 state, the PWM duty (paced by `PwmGovernor`), contactor sequencing with its
feedback contact, the lock, and the per-socket safety limits (residual current, overcurrent, ContactorProtect,
Chameleon minimum). The only way out is the returned `ConnectorOutputs`, which the runner writes to the
actuators; the faults it found are in `faults` (and so in the `state` message) in the same tick.

Contactor rules, in order: never closed outside C/D, without PWM, without a passed (or just requested)
residual current self-test, or with a latched contactor fault. When it must open:
- at once for a STOP fault (see `faults.POLICY`) or when the car left C/D;
- 6 mA residual current in Smart mode: when the car stopped or 5 s after the trip;
- otherwise (stop, pause, PAUSE fault: the PWM went off) when the car goes to B, and at the latest 6 s after
  PWM off; then EV_IGNORES_PWM_OFF is reported until the car leaves C/D.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.evse.contactor import ContactorSupervisor
from controller.evse.debounce import CHARGING_STATES, PilotDebouncer
from controller.evse.faults import PILOT_F, POLICY, REPORT_ONLY, STOPPING, Clears, Fault
from controller.evse.limits import (
    ChameleonDetector,
    OfferHistory,
    SwitchCounter,
    chameleon_floor,
    overcurrent,
)
from controller.evse.pilot import CpLevel, classify
from controller.evse.pwm import MIN_CURRENT_A, PwmGovernor, current_for_duty, duty_for_current
from controller.evse.rcd import ResidualCurrentSupervisor
from controller.evse.settings import EvseConfig, RcdMode
from controller.evse.statemachine import EvseState, PilotDrive, decide, iec_name
from hal.interfaces import MeterReading, PilotMode, PilotOutput, PilotReading

CONNECTED = frozenset({EvseState.B, EvseState.C, EvseState.D})


@dataclass
class EvseSettings:
    """Per-socket settings from the board file (timings are IEC 61851-1 values)."""

    bands: dict[str, tuple[float, float]]
    diode_max_low_v: float = -10.5
    max_current: float = 32.0  # the board's rating of the socket; ConnectorN-MaxCurrent can only lower it
    debounce_s: float = 0.25
    debounce_stop_s: float = 0.05
    force_open_after_pwm_off_s: float = 6.0
    feedback_timeout_s: float = 0.5
    pwm_raise_interval_s: float = 5.0
    ev_reaction_s: float = 5.0
    overcurrent_ratio: float = 1.05
    rcd_smart_s: float = 5.0
    chameleon_detect_s: float = 10.0
    lock_timeout_s: float = 1.0  # the lock's feedback must follow its command within this time


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
    rcd_self_test: bool | None = None  # the result of a self-test the loop asked for in the previous tick
    lock_feedback: bool | None = None  # the lock's own switch: True locked, None when the lock has none


@dataclass
class ConnectorOutputs:
    pilot: PilotOutput
    contactor: bool
    locked: bool
    rcd_self_test: bool = False  # run the monitor's self-test now (before closing, if closing)


@dataclass
class ConnectorStatus:
    state: EvseState
    pwm_duty: float | None
    offered_a: float
    contactor: bool
    faults: list[str] = field(default_factory=list)
    iec_state: str = "A1"
    pilot: str = "high"
    locked: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "cp_state": self.state.value,
            "iec_state": self.iec_state,
            "pilot": self.pilot,
            "pwm_duty": self.pwm_duty,
            "offered_a": self.offered_a,
            "contactor": "closed" if self.contactor else "open",
            "faults": list(self.faults),
            "locked": self.locked,
        }


class ConnectorController:
    def __init__(
        self, connector_id: int, settings: EvseSettings, start: float, config: EvseConfig | None = None
    ) -> None:
        s = settings
        self.id = connector_id
        self.settings = settings
        self.config = config or EvseConfig()
        self.state = EvseState.A
        self._debounce = PilotDebouncer(start, s.debounce_s, s.debounce_stop_s)
        self._pwm = PwmGovernor(s.pwm_raise_interval_s)
        self._offers = OfferHistory(s.ev_reaction_s)
        self._switches = SwitchCounter()
        self._chameleon = ChameleonDetector(s.chameleon_detect_s)
        self._rcd = ResidualCurrentSupervisor(s.rcd_smart_s)
        self._contactor_sup = ContactorSupervisor(start, s.feedback_timeout_s)
        self._pilot = PilotOutput.high()
        self._pwm_off_since: float | None = None
        self._ignores_pwm_off = False
        self._connected = False
        self.faults: set[Fault] = set()
        self._latched: set[Fault] = set()
        self._lock_cmd = False
        self._lock_cmd_since = start
        self._locked = False

    # -- read-only views -------------------------------------------------------------------------------------
    @property
    def max_current(self) -> float:
        """The socket's own cap: the board rating, lowered by ConnectorN-MaxCurrent."""
        return min(self.settings.max_current, self.config.connector_max_a.get(self.id, self.settings.max_current))

    @property
    def contactor_closed(self) -> bool:
        return self._contactor_sup.closed

    def may_draw(self, now: float) -> float:
        """The most the car may draw now: the highest offer of the last 5 s."""
        return self._offers.reference(now)

    def set_debounce(self, debounce_s: float) -> None:
        """Change the B->C (and other non-immediate) debounce; the benchmark shortens its cycles with it."""
        self.settings.debounce_s = debounce_s
        self._debounce.debounce_s = debounce_s

    # -- latches ---------------------------------------------------------------------------------------------
    def latch(self, fault: Fault) -> None:
        self._latched.add(fault)

    def clear_latched(self) -> None:
        """`clear_faults`: drop every latch; conditions still present latch again in the next tick."""
        self._latched.clear()
        self._rcd.clear()

    def forced_safe(self, now: float) -> None:
        """The watchdog forced every output to its safe state: know it, so nothing re-closes by surprise."""
        self._contactor_sup.command(now, False)
        self._pwm.force_off(now)
        if self._pilot.mode is PilotMode.PWM:
            self._pwm_off_since = now
        self._pilot = PilotOutput.high()

    def _on_unplug(self) -> None:
        self._latched = {f for f in self._latched if POLICY[f].clears is not Clears.UNPLUG}
        self._rcd.on_unplug()
        self._switches.reset()
        self._chameleon.reset()
        self._pwm.reset()
        self._ignores_pwm_off = False
        self._connected = False

    # -- the tick --------------------------------------------------------------------------------------------
    def step(
        self,
        now: float,
        inp: ConnectorInputs,
        cmd: ConnectorCommand,
        station_faults: set[Fault],
        offer_cap: float | None = None,
    ) -> ConnectorOutputs:
        s, cfg = self.settings, self.config
        prev = self.state
        pwm_was_on = self._pilot.mode is PilotMode.PWM

        # 1. the pilot: level, debounce, state
        if self._pilot.mode is PilotMode.STEADY_NEGATIVE:
            self._debounce.hold(now, EvseState.F)  # we hold -12 V and cannot see the car until we release it
        else:
            level = classify(inp.pilot, s.bands, s.diode_max_low_v, pwm_was_on)
            if level is CpLevel.DIODE_FAULT:
                self._latched.add(Fault.DIODE)
            self._debounce.step(now, level)
        state = self._debounce.state
        if state is EvseState.A and prev is not EvseState.A:
            self._on_unplug()
        if Fault.DIODE in self._latched and state not in (EvseState.A, EvseState.F):
            state = EvseState.E
        if state in CONNECTED and not self._connected:
            self._connected = True
            self._rcd.on_connect()
        if (prev is EvseState.B and state in CHARGING_STATES) or (prev in CHARGING_STATES and state is EvseState.B):
            self._switches.record(now)  # a start or stop request of the EV (ContactorProtect)
        self.state = state

        # 2. faults
        faults: set[Fault] = set(station_faults)
        if state is EvseState.E and Fault.DIODE not in self._latched:
            faults.add(Fault.PILOT_ERROR)
        faults |= self._rcd.step(now, inp.rcd_tripped, inp.rcd_self_test, state is EvseState.A)
        currents = inp.meter.currents_a if inp.meter is not None else None
        if currents is None:
            faults.add(Fault.METER)
        fb_fault = self._contactor_sup.check(now, inp.contactor_feedback)
        if fb_fault is not None:
            self._latched.add(fb_fault)
        if self._switches.exceeded(now, cfg.contactor_protect_s):
            self._latched.add(Fault.CONTACTOR_PROTECT)
        if (
            not cfg.disable_105_percent
            and currents is not None
            and overcurrent(currents, self._offers.reference(now), s.overcurrent_ratio)
        ):
            self._latched.add(Fault.OVERCURRENT)
        if self._ignores_pwm_off and state not in CHARGING_STATES:
            self._ignores_pwm_off = False
        if self._ignores_pwm_off:
            faults.add(Fault.EV_IGNORES_PWM_OFF)
        self._locked = self._lock_cmd if inp.lock_feedback is None else inp.lock_feedback
        if inp.lock_feedback is not None and inp.lock_feedback != self._lock_cmd:
            if now - self._lock_cmd_since >= s.lock_timeout_s:
                faults.add(Fault.LOCK)  # the lock did not follow its command (jammed, or the plug not home)
        faults |= self._latched
        blocking = faults - REPORT_ONLY

        # 3. the offer: min(command, socket max, station share), the Chameleon minimum
        cap = self.max_current if offer_cap is None else min(offer_cap, self.max_current)
        offer = min(cmd.max_current, cap) if cmd.authorized and not cmd.suspended else 0.0
        chameleon = cfg.ze_ready or self._chameleon.step(
            now,
            state in CHARGING_STATES,
            self.contactor_closed,
            self._offers.offer,
            cfg.chameleon_min_a,
            currents,
        )
        offer = chameleon_floor(offer, cfg.chameleon_min_a, chameleon)
        allow = offer >= MIN_CURRENT_A and not blocking
        decision = decide(state, allow)
        drive = PilotDrive.NEGATIVE if faults & PILOT_F else decision.pilot

        # 4. the pilot output
        duty = self._pwm.step(now, duty_for_current(offer) if drive is PilotDrive.PWM else None)
        if duty is not None:
            pilot = PilotOutput.pwm(duty)
        elif drive is PilotDrive.NEGATIVE:
            pilot = PilotOutput.negative()
        else:
            pilot = PilotOutput.high()
        pwm_on = duty is not None
        if state is EvseState.A:
            self._pwm.reset()  # no car: the next one gets its PWM at once
        if pwm_was_on and not pwm_on:
            self._pwm_off_since = now
        elif pwm_on:
            self._pwm_off_since = None
        self._pilot = pilot
        if pilot.mode is PilotMode.STEADY_NEGATIVE:
            state = self.state = EvseState.F  # from now on we cannot see the car
            self._debounce.hold(now, EvseState.F)
        self._offers.update(now, current_for_duty(duty) if duty is not None else 0.0)

        # 5. the contactor
        want_closed = decision.contactor and pwm_on and self._rcd.close_allowed and not blocking
        closed = self.contactor_closed
        if closed and not want_closed:
            stopping = faults & STOPPING
            if cfg.rcd_mode is RcdMode.SMART:
                stopping = stopping - {Fault.RESIDUAL_CURRENT}
            in_c = state in CHARGING_STATES
            if stopping or not in_c:
                closed = False
            elif Fault.RESIDUAL_CURRENT in faults:
                closed = not self._rcd.must_open(now, cfg.rcd_mode, in_c, currents)
            elif self._pwm_off_since is None:
                closed = False
            elif now - self._pwm_off_since >= s.force_open_after_pwm_off_s:
                closed = False  # the car ignored PWM off for 6 s: open under load and report it
                self._ignores_pwm_off = True
                faults.add(Fault.EV_IGNORES_PWM_OFF)
        elif want_closed:
            closed = True
        self._contactor_sup.command(now, closed)

        self.faults = faults
        locked = state in CONNECTED and (cmd.authorized or closed)
        if locked != self._lock_cmd:
            self._lock_cmd = locked
            self._lock_cmd_since = now
        return ConnectorOutputs(
            pilot=pilot,
            contactor=closed,
            locked=locked,
            rcd_self_test=self._rcd.request_test and state in CONNECTED,
        )

    def status(self) -> ConnectorStatus:
        duty = self._pwm.duty
        return ConnectorStatus(
            state=self.state,
            pwm_duty=duty,
            offered_a=current_for_duty(duty) if duty is not None else 0.0,
            contactor=self.contactor_closed,
            faults=sorted(f.value for f in self.faults),
            iec_state=iec_name(self.state, duty is not None),
            pilot=self._pilot.mode.value,
            locked=self._locked,
        )
