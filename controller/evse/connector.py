"""Supervision of one socket, tick by tick (pure: time comes in as `now`, devices as readings).

Owns: the debounced IEC 61851 state, the PWM duty (paced by `PwmGovernor`), contactor sequencing with its
feedback contact, the lock, the cable's rating (proximity pilot) and the per-socket safety limits (residual
current, overcurrent, ContactorProtect, Chameleon minimum, the socket meter). The only way out is the returned
`ConnectorOutputs`, which the runner writes to the actuators; the faults it found are in `faults` (and so in
the `State` message) in the same tick.

The contactor closes only with every precondition confirmed in this session (`close_preconditions`): state C
(or D where the board declares ventilation), an authorised offer of at least 6 A, the PWM on and at least one
good low phase read with it (the diode), the lock's feedback locked (where it has one), the residual current
monitor's self-test passed, a valid PP (sockets), no blocking or latched fault, the pilot not reading +12 V,
and not in the tick the watchdog forced the outputs. When it must open:
- at once for a STOP fault (see `faults.POLICY`), when the car left C/D, or when the pilot reads +12 V;
- 6 mA residual current in Smart mode: when the car stopped or 5 s after the trip;
- otherwise (stop, pause, PAUSE fault: the PWM went off) when the car goes to B, and at the latest 6 s after
  PWM off; then EV_IGNORES_PWM_OFF is reported until the car leaves C/D.
The lock opens only when the contacts read open: the mirror contact where the board has one, else the meter
(no current); a welded contactor keeps the cable locked. A freshly started loop holds the lock where it is
until it has seen the pilot.

ContactorProtect counts the EV's own start/stop requests only: a C -> B while the PWM offered current, and a
B -> C that is not the car following our own resume.
"""

from __future__ import annotations

import math
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
from controller.evse.pilot import CpLevel, cable_rating, classify
from controller.evse.protocol import State
from controller.evse.pwm import MIN_CURRENT_A, PwmGovernor, current_for_duty, duty_for_current
from controller.evse.rcd import ResidualCurrentSupervisor, SelfTest
from controller.evse.settings import EvseConfig, RcdMode
from controller.evse.statemachine import EvseState, PilotDrive, decide, iec_name
from hal.interfaces import MeterReading, PilotMode, PilotOutput, PilotReading

CONNECTED = frozenset({EvseState.B, EvseState.C, EvseState.D})
# the latches the main process keeps across a control-process restart (see `latched_faults`)
RESTORABLE = frozenset(f for f, p in POLICY.items() if p.clears is not Clears.CONDITION) | {
    Fault.EV_IGNORES_PWM_OFF
}


@dataclass
class EvseSettings:
    """Per-socket settings from the board file (timings are IEC 61851-1 values)."""

    bands: dict[str, tuple[float, float]]
    diode_max_low_v: float = -10.5
    max_current: float = 32.0  # the board's rating of the socket; ConnectorN-MaxCurrent can only lower it
    ventilation: bool = False  # the board declares ventilation: state D may be energised
    phases: int = 3  # the phases the socket is wired for (a phase relay can hold it to one)
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
    meter_lost_s: float = 5.0  # no valid meter reading for this long: suspend (the 105 % rule cannot hold)
    weld_current_a: float = 1.0  # current on a socket commanded open above this ...
    weld_detect_s: float = 1.0  # ... for longer than this is a weld
    idle_a: float = 0.5  # no current: every phase below this (the lock may open on it without a mirror)


@dataclass
class ConnectorCommand:
    """What the main process asks of a socket (it only ever asks; the loop decides)."""

    max_current: float = 0.0
    authorized: bool = False
    suspended: bool = False
    hold_open: bool = False  # the phase switch holds the contactor open (phaseswitch.py); never set under load


@dataclass
class ConnectorInputs:
    """One tick's readings, validated at the HAL boundary (`devio`): a reading that failed is the value that
    stops charging, and the device's fault is in `device_faults`."""

    pilot: PilotReading
    contactor_feedback: bool | None  # the mirror contact; None: none on this board (or unreadable, see faults)
    meter: MeterReading | None  # None: no valid reading
    rcd_tripped: bool = False
    rcd_self_test: bool | None = None  # the result of a self-test the loop asked for in the previous tick
    lock_feedback: bool | None = None  # the lock's own switch: True locked, None when the lock has none
    pp_ohms: float | None = None  # the cable's coding resistor; None: no PP (fixed cable); NaN: unreadable
    phase_feedback: int | None = None  # the phase relay's feedback (1 or 3); None: no relay or no feedback
    device_faults: frozenset[Fault] = frozenset()


@dataclass
class ConnectorOutputs:
    pilot: PilotOutput
    contactor: bool
    locked: bool
    rcd_self_test: bool = False  # run the monitor's self-test now (before closing, if closing)
    phases: int | None = None  # the phase relay's position (1 or 3); None: the socket has no relay


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
    latched: list[str] = field(default_factory=list)
    cable_a: float | None = None

    def message(self, cid: int) -> State:
        return State(
            connector=cid,
            cp_state=self.state.value,
            iec_state=self.iec_state,
            pilot=self.pilot,
            pwm_duty=self.pwm_duty,
            offered_a=self.offered_a,
            contactor="closed" if self.contactor else "open",
            faults=tuple(self.faults),
            locked=self.locked,
            latched=tuple(self.latched),
            cable_a=self.cable_a,
        )

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
            "latched": list(self.latched),
            "cable_a": self.cable_a,
        }


@dataclass(frozen=True)
class Preconditions:
    """Why the contactor may (or may not) close in this tick: every field must be True."""

    charging_state: bool  # C, or D where the board declares ventilation
    offer: bool  # authorised, not suspended, at least 6 A, no blocking fault
    pwm_on: bool
    diode_seen: bool  # a good low phase read with the PWM on
    lock_confirmed: bool  # the lock's feedback says locked (or the lock has no feedback and is commanded)
    self_test_passed: bool
    cable_valid: bool  # a valid PP reading (sockets) or a fixed cable
    no_fault: bool  # no blocking and no latched fault
    pilot_present: bool  # the pilot does not read +12 V
    healthy_tick: bool  # not the tick the watchdog forced the outputs safe

    def all(self) -> bool:
        return all(getattr(self, f) for f in self.__dataclass_fields__)


class ConnectorController:
    def __init__(
        self, connector_id: int, settings: EvseSettings, start: float, config: EvseConfig | None = None
    ) -> None:
        s = settings
        self.id = connector_id
        self._start = start
        self.settings = settings
        self.config = config or EvseConfig()
        self.state = EvseState.A
        self._debounce = PilotDebouncer(start, s.debounce_s, s.debounce_stop_s)
        self._pwm = PwmGovernor(s.pwm_raise_interval_s)
        self._offers = OfferHistory(s.ev_reaction_s)
        self._switches = SwitchCounter()
        self._chameleon = ChameleonDetector(s.chameleon_detect_s)
        self._rcd = ResidualCurrentSupervisor(s.rcd_smart_s)
        self._contactor_sup = ContactorSupervisor(start, s.feedback_timeout_s, s.weld_current_a, s.weld_detect_s)
        self._pilot = PilotOutput.high()
        self._pwm_off_since: float | None = None
        self._ignores_pwm_off = False
        self._connected = False
        self._unplug_pending = True  # a fresh loop knows nothing of the car until the pilot says so
        self.quiet_until_pilot = False  # set after a restart (Restore.restarted)
        self._diode_seen = False
        self._resume_by_station = False  # the car's last C -> B followed our PWM off: its B -> C is not its own
        self._meter_bad_since: float | None = None
        self._pp_open_since: float | None = None
        self._forced_safe = False
        self.faults: set[Fault] = set()
        self._latched: set[Fault] = set()
        self._lock_cmd = False
        self._lock_cmd_since = start
        self._locked = False
        self._cable_a: float | None = None
        self.last_preconditions: Preconditions | None = None

    # -- read-only views -------------------------------------------------------------------------------------
    @property
    def max_current(self) -> float:
        """The socket's own cap: the board rating, lowered by ConnectorN-MaxCurrent and the cable's rating."""
        cap = min(self.settings.max_current, self.config.connector_max_a.get(self.id, self.settings.max_current))
        return cap if self._cable_a is None else min(cap, self._cable_a)

    @property
    def contactor_closed(self) -> bool:
        return self._contactor_sup.closed

    @property
    def diode_seen(self) -> bool:
        return self._diode_seen

    @property
    def rcd_self_test(self) -> SelfTest:
        """The residual current monitor's self-test of this session."""
        return self._rcd.self_test

    def ev_switches(self, now: float, window_s: float) -> int:
        """The car's own start/stop requests within the last `window_s` (what ContactorProtect counts)."""
        return self._switches.count(now, window_s)

    @property
    def pilot_known(self) -> bool:
        """May the state be reported: after a restart only once the pilot showed it (not just assumed A)."""
        return not self.quiet_until_pilot or self._connected or not self._unplug_pending

    def may_draw(self, now: float) -> float:
        """The most the car may draw now: the highest offer of the last 5 s."""
        return self._offers.reference(now)

    def set_debounce(self, debounce_s: float) -> None:
        """Change the B->C (and other non-immediate) debounce; the benchmark shortens its cycles with it."""
        self.settings.debounce_s = debounce_s
        self._debounce.debounce_s = debounce_s

    # -- latches ---------------------------------------------------------------------------------------------
    def latch(self, fault: Fault, now: float | None = None) -> None:
        """Latch a fault (also one handed back by the main process after a control-process restart)."""
        if fault is Fault.RESIDUAL_CURRENT:
            self._rcd.restore_trip(now if now is not None else self._start)
        elif fault is Fault.RCD_SELF_TEST:
            self._rcd.restore_failed_test()
        elif fault is Fault.EV_IGNORES_PWM_OFF:
            self._ignores_pwm_off = True
        else:
            self._latched.add(fault)

    def latched_faults(self) -> list[str]:
        """Every latch that must outlive a restart of the control process."""
        out = set(self._latched)
        if self._rcd.tripped_at is not None:
            out.add(Fault.RESIDUAL_CURRENT)
        if self._rcd.self_test is SelfTest.FAILED:
            out.add(Fault.RCD_SELF_TEST)
        if self._ignores_pwm_off:
            out.add(Fault.EV_IGNORES_PWM_OFF)
        return sorted(f.value for f in out if f in RESTORABLE)

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
        self._diode_seen = False
        self._forced_safe = True

    def _on_unplug(self) -> None:
        self._latched = {f for f in self._latched if POLICY[f].clears is not Clears.UNPLUG}
        self._rcd.on_unplug()
        self._switches.reset()
        self._chameleon.reset()
        self._pwm.reset()
        self._ignores_pwm_off = False
        self._connected = False
        self._unplug_pending = False
        self._resume_by_station = False

    # -- the tick --------------------------------------------------------------------------------------------
    def _read_pilot(self, now: float, reading: PilotReading, pwm_was_on: bool) -> None:
        s = self.settings
        if self._pilot.mode is PilotMode.STEADY_NEGATIVE:
            self._debounce.hold(now, EvseState.F)  # we hold -12 V and cannot see the car until we release it
            return
        level = classify(reading, s.bands, s.diode_max_low_v, pwm_was_on)
        if level is CpLevel.DIODE_FAULT:
            self._latched.add(Fault.DIODE)
        elif pwm_was_on and level in (CpLevel.B, CpLevel.C, CpLevel.D) and reading.low_v is not None:
            self._diode_seen = True  # a good low phase, read while the PWM was on
        self._debounce.step(now, level)

    def _count_requests(self, now: float, prev: EvseState, state: EvseState, pwm_was_on: bool) -> None:
        """ContactorProtect: only the EV's own start/stop requests."""
        if prev is EvseState.B and state in CHARGING_STATES:
            if not self._resume_by_station:
                self._switches.record(now)
            self._resume_by_station = False
        elif prev in CHARGING_STATES and state is EvseState.B:
            if pwm_was_on:
                self._switches.record(now)  # the car stopped while we offered current
            else:
                self._resume_by_station = True  # it followed our PWM off

    def _meter_faults(self, now: float, meter: MeterReading | None) -> set[Fault]:
        if meter is not None:
            self._meter_bad_since = None
            return set()
        if self._meter_bad_since is None:
            self._meter_bad_since = now
        if now - self._meter_bad_since >= self.settings.meter_lost_s:
            return {Fault.METER, Fault.METER_LOST}
        return {Fault.METER}

    def _cable_faults(self, now: float, inp: ConnectorInputs, state: EvseState) -> set[Fault]:
        """The cable's rating from PP. An open PP with a car seen is the plug coming out (no close, no fault)
        unless it lasts the debounce time; a PP in no window, a short or an unreadable PP is CABLE at once."""
        ohms = inp.pp_ohms
        if ohms is None:  # a fixed cable: the board's rating
            self._cable_a = None
            return set()
        self._cable_a = cable_rating(ohms)
        if math.isinf(ohms) and ohms > 0:
            if self._pp_open_since is None:
                self._pp_open_since = now
            long_open = now - self._pp_open_since >= self.settings.debounce_s
            return {Fault.CABLE} if state in CONNECTED and long_open else set()
        self._pp_open_since = None
        if math.isnan(ohms) or (state in CONNECTED and self._cable_a is None):
            return {Fault.CABLE}
        return set()

    def contacts_open(self, inp: ConnectorInputs) -> bool:
        """The contacts read open now (the phase switch moves its relay only then)."""
        return self._contacts_open(inp, inp.meter.currents_a if inp.meter is not None else None)

    def _contacts_open(self, inp: ConnectorInputs, currents: tuple[float, float, float] | None) -> bool:
        """The contacts read open: the mirror contact where there is one, else the meter (no current)."""
        if self.contactor_closed or Fault.CONTACTOR_FEEDBACK in inp.device_faults:
            return False
        if inp.contactor_feedback is not None:
            return inp.contactor_feedback is False
        return currents is not None and all(c < self.settings.idle_a for c in currents)

    def _lock_confirmed(self, inp: ConnectorInputs) -> bool:
        if Fault.LOCK in inp.device_faults:
            return False
        if inp.lock_feedback is None:
            return self._lock_cmd  # a lock without feedback (or none at all): as commanded
        return inp.lock_feedback is True and self._lock_cmd

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
        healthy_tick = not self._forced_safe
        self._forced_safe = False

        # 1. the pilot: level, debounce, state
        self._read_pilot(now, inp.pilot, pwm_was_on)
        state = self._debounce.state
        if state is EvseState.A and (prev is not EvseState.A or (self._unplug_pending and self._debounce.steady(now))):
            self._on_unplug()  # a confirmed unplug (a fresh loop: A seen for the whole debounce time)
        if Fault.DIODE in self._latched and state not in (EvseState.A, EvseState.F):
            state = EvseState.E
        if state in CONNECTED and not self._connected:
            self._connected = True
            self._unplug_pending = False
            self._diode_seen = self._diode_seen and pwm_was_on
            self._rcd.on_connect()
        self._count_requests(now, prev, state, pwm_was_on)
        self.state = state
        pilot_lost = self._debounce.pilot_lost

        # 2. faults
        faults: set[Fault] = set(station_faults) | set(inp.device_faults)
        if state is EvseState.E and Fault.DIODE not in self._latched:
            faults.add(Fault.PILOT_ERROR)
        if state is EvseState.D and not s.ventilation:
            self._latched.add(Fault.VENTILATION)  # the car needs ventilation we do not have: error until unplug
        if Fault.RCD_MONITOR in inp.device_faults:
            self._rcd.monitor_lost()
        unplugged = state is EvseState.A and not self._unplug_pending  # a confirmed unplug, not a fresh start
        faults |= self._rcd.step(now, inp.rcd_tripped, inp.rcd_self_test, unplugged)
        meter = inp.meter
        currents = meter.currents_a if meter is not None else None
        faults |= self._meter_faults(now, meter)
        faults |= self._cable_faults(now, inp, state)
        fb_fault = self._contactor_sup.check(now, inp.contactor_feedback)
        if fb_fault is not None:
            self._latched.add(fb_fault)
        weld = self._contactor_sup.check_current(now, currents)
        if weld is not None:
            self._latched.add(weld)
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

        # 3. the offer: min(command, socket max, cable, station share), the Chameleon minimum
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
        if not pwm_on or not pwm_was_on:
            self._diode_seen = False  # the diode is checked anew each time the PWM comes on
        self._pilot = pilot
        if pilot.mode is PilotMode.STEADY_NEGATIVE:
            state = self.state = EvseState.F  # from now on we cannot see the car
            self._debounce.hold(now, EvseState.F)
        self._offers.update(now, current_for_duty(duty) if duty is not None else 0.0)

        # 5. the contactor
        pre = Preconditions(
            charging_state=state is EvseState.C or (state is EvseState.D and s.ventilation),
            offer=decision.contactor,
            pwm_on=pwm_on,
            diode_seen=self._diode_seen,
            lock_confirmed=self._lock_confirmed(inp),
            self_test_passed=self._rcd.close_allowed,
            cable_valid=inp.pp_ohms is None or self._cable_a is not None,
            no_fault=not blocking,
            pilot_present=not pilot_lost,
            healthy_tick=healthy_tick,
        )
        self.last_preconditions = pre
        want_closed = pre.all() and not cmd.hold_open
        closed = self.contactor_closed
        if closed and cmd.hold_open:
            closed = False  # the phase switch: the car has stopped drawing (or the 6 s rule opened already)
        elif closed and not want_closed:
            stopping = faults & STOPPING
            if cfg.rcd_mode is RcdMode.SMART:
                stopping = stopping - {Fault.RESIDUAL_CURRENT}
            in_c = state in CHARGING_STATES
            if stopping or not in_c or pilot_lost or not healthy_tick:
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

        # 6. the lock: locked for an authorised car; released only when the contacts read open
        self.faults = faults
        if self._unplug_pending and not self._connected:
            locked = inp.lock_feedback is True  # a fresh loop holds the lock where it is until it saw the pilot
        else:
            locked = state in CONNECTED and (cmd.authorized or closed)
        locked = locked or closed or not self._contacts_open(inp, currents)
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
            latched=self.latched_faults(),
            cable_a=self._cable_a,
        )
