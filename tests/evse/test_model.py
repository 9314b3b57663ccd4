"""Model-based test of the control loop (hypothesis): random sequences of plug/unplug, car misbehaviour,
sensor failures, NaN readings, lock jams, welds, control-process restarts, configuration changes and stalls,
driven through the steppable `ControlLoop` with the simulated devices on the fake clock (`harness.py`).

After every tick, and so across every simulated restart, these must hold:
- the contactor is commanded closed only in state C (or D on a board with ventilation), and never while a
  stopping fault is active (a Smart residual-current reaction may wait for the car, at most 5 s);
- a close happens only with every precondition confirmed by this loop instance: authorised and not
  suspended, the lock's feedback locked, the diode seen with the PWM on (and the car has one), the self-test
  passed in this session, a valid cable (PP), no latched and no blocking fault, the RCD not tripped;
- the lock is never released while the contacts are closed;
- the offer never exceeds min(cable rating, socket rating, ConnectorN-MaxCurrent, Station-MaxCurrent, the
  main process's command);
- a restarted loop still holds every latch it was handed back.

Profiles: the suite runs `FUZZ_EXAMPLES` x `FUZZ_STEPS` (default 200 x 200, derandomised so CI is
reproducible); `make fuzz-loop` runs a bigger, random one.
"""

from __future__ import annotations

import os

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from controller.evse.debounce import CHARGING_STATES
from controller.evse.faults import REPORT_ONLY, STOPPING, Fault
from controller.evse.protocol import ClearFaults
from controller.evse.pwm import current_for_duty
from controller.evse.rcd import SelfTest
from controller.evse.settings import RcdMode
from controller.evse.statemachine import EvseState
from hal.interfaces import PilotMode
from tests.evse.harness import Harness

TICK = 0.05  # coarser than the runner's 10 ms: the debounces and timeouts still span several ticks
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
STEPS = int(os.environ.get("FUZZ_STEPS", "200"))
RANDOM = os.environ.get("FUZZ_RANDOM", "") == "1"

CONFIG_VALUES: dict[str, list[str]] = {
    "Connector1-MaxCurrent": ["6", "10", "16", "32", "5000", "-1", "x"],
    "Station-MaxCurrent": ["0", "8", "16", "32", "160", "5000"],
    "TemperatureHigh": ["40", "70", "500"],
    "ContactorProtect": ["0", "5", "60"],
    "Disable105Percent": ["true", "false"],
    "6mADetectResponse": ["Smart", "Immediate"],
    "StrictPEMeasurementEnabled": ["true", "false"],
    "Chameleon-MinCurrent": ["6", "14", "90"],
    "ZE-ready": ["true", "false"],
}
METER_VALUES = ["nan", "inf", -1.0, 1e5, 0.0, 10.0, 40.0]
MOSTLY_FALSE = st.sampled_from([False, False, False, True])  # a fault now and then, charging in between


class ControlLoopMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(tick=TICK)
        self.was_closed = False
        self.tests_at_start = 0  # self-tests run before the present loop instance started
        self.config: dict[str, float] = {}

    @initialize(plugged=st.sampled_from([True, True, True, False]), cable=st.sampled_from([13, 20, 32, 63]))
    def start(self, plugged: bool, cable: int) -> None:
        self.h.limits(1, 16)
        if plugged:
            self.h.sim("plug", connector=1, cable_a=cable, ev={"response_delay_s": 0.5})

    # -- the car and the world ----------------------------------------------------------------------------
    @rule(cable=st.sampled_from([13, 20, 32, 63]), ventilation=st.booleans(), phases=st.sampled_from([1, 3]),
          max_current=st.sampled_from([10, 16, 32]), never_request=st.booleans())
    def plug(self, cable: int, ventilation: bool, phases: int, max_current: int, never_request: bool) -> None:
        if not self.h.sock().ev.plugged:
            ev = {"ventilation": ventilation, "phases": phases, "max_current": max_current,
                  "never_request": never_request, "response_delay_s": 0.5}
            self.h.sim("plug", connector=1, cable_a=cable, ev=ev)
        self.ticks(1)

    @rule()
    def heal(self) -> None:
        """Everything back to normal (the car stays as it is): lets a sequence charge again."""
        h = self.h
        h.sim("ev_misbehave", connector=1, refuse_to_stop=False, diode_missing=False, shorted=False,
              never_request=False, pp_broken=False, welded=False)
        h.sim("ev_draw", connector=1, factor=1.0)
        h.sim("ev_resume", connector=1)
        h.sim("lock", connector=1, jammed=False)
        h.sim("rcd", connector=1, trip=False, self_test_fails=False)
        h.sim("meter_offline", connector=1, offline=False)
        h.sim("meter_override", connector=1, currents=None)
        h.sim("temperature", celsius=25, lost=False)
        h.sim("tilt", degrees=0, lost=False)
        h.sim("pe", present=True)
        h.heartbeat = True
        h.limits(1, 16)
        self.ticks(1)

    @rule()
    def unplug(self) -> None:
        self.h.sim("unplug", connector=1)
        self.ticks(1)

    @rule(pause=st.booleans())
    def car_pauses(self, pause: bool) -> None:
        self.h.sim("ev_pause" if pause else "ev_resume", connector=1)
        self.ticks(1)

    @rule(factor=st.sampled_from([0.0, 0.5, 1.0, 1.04, 1.06, 1.3]))
    def car_draws(self, factor: float) -> None:
        self.h.sim("ev_draw", connector=1, factor=factor)
        self.ticks(1)

    @rule(name=st.sampled_from(["refuse_to_stop", "diode_missing", "shorted", "never_request", "pp_broken",
                                "welded"]), value=st.booleans())
    def misbehave(self, name: str, value: bool) -> None:
        self.h.sim("ev_misbehave", connector=1, **{name: value})
        self.ticks(1)

    @rule(jammed=st.booleans())
    def lock_jams(self, jammed: bool) -> None:
        self.h.sim("lock", connector=1, jammed=jammed)
        self.ticks(1)

    @rule(trip=MOSTLY_FALSE, fails=MOSTLY_FALSE)
    def rcd(self, trip: bool, fails: bool) -> None:
        self.h.sim("rcd", connector=1, trip=trip, self_test_fails=fails)
        self.ticks(1)

    @rule(offline=st.booleans())
    def meter_offline(self, offline: bool) -> None:
        self.h.sim("meter_offline", connector=1, offline=offline)
        self.ticks(1)

    @rule(currents=st.one_of(st.none(), st.lists(st.sampled_from(METER_VALUES), min_size=3, max_size=3)))
    def meter_override(self, currents: list[object] | None) -> None:
        self.h.sim("meter_override", connector=1, currents=currents)
        self.ticks(1)

    @rule(celsius=st.sampled_from([25, 25, 25, -30, 69, 70, 90]), lost=MOSTLY_FALSE)
    def temperature(self, celsius: int, lost: bool) -> None:
        self.h.sim("temperature", celsius=celsius, lost=lost)
        self.ticks(1)

    @rule(degrees=st.sampled_from([0, 0, 3, -3, 14, -16, 20, -20]), lost=MOSTLY_FALSE)
    def tilt(self, degrees: int, lost: bool) -> None:
        self.h.sim("tilt", degrees=degrees, lost=lost)
        self.ticks(1)

    @rule(present=st.booleans())
    def pe(self, present: bool) -> None:
        self.h.sim("pe", present=present)
        self.ticks(1)

    # -- the main process ------------------------------------------------------------------------------------
    @rule(max_current=st.sampled_from([0, 5, 6, 10, 16, 16, 32, 80]), authorized=st.sampled_from([True, True, False]),
          suspended=MOSTLY_FALSE)
    def limits(self, max_current: int, authorized: bool, suspended: bool) -> None:
        self.h.limits(1, max_current, authorized, suspended)
        self.ticks(1)

    @rule(key=st.sampled_from(sorted(CONFIG_VALUES)), data=st.data())
    def config(self, key: str, data: st.DataObject) -> None:
        self.h.config({key: data.draw(st.sampled_from(CONFIG_VALUES[key]))})
        self.ticks(1)

    @rule()
    def calibrate_tilt(self) -> None:
        self.h.config({"CalibrateTilt": "1"})
        self.ticks(1)

    @rule()
    def clear_faults(self) -> None:
        self.h.send(ClearFaults())
        self.ticks(1)

    @rule(on=st.booleans())
    def heartbeat(self, on: bool) -> None:
        self.h.heartbeat = on
        self.ticks(1)

    # -- the control process ---------------------------------------------------------------------------------
    @rule()
    def watchdog_trips(self) -> None:
        """What the dead-man thread does when the loop stalls, then the loop learns of it."""
        for dev in (self.h.sock().contactor, self.h.sock().pilot):
            dev.to_safe_state()
        self.h.loop.note_stall(self.h.now)
        self.h.last_pilot.clear()  # as the runner does
        self.was_closed = False
        self.ticks(1)

    @rule()
    def restart(self) -> None:
        handed = set(self.h.latched.get(1, ()))
        self.tests_at_start = self.h.sock().rcd.self_tests
        self.h.restart()
        self.was_closed = False
        assert handed <= set(self.h.ctl().latched_faults()), "a latch was lost across the restart"
        self.ticks(1)

    @rule(ticks=st.integers(1, 20))
    def run(self, ticks: int) -> None:
        self.ticks(ticks)

    @rule(ticks=st.integers(20, 120))
    def run_long(self, ticks: int) -> None:
        self.ticks(ticks)

    def ticks(self, n: int) -> None:
        for _ in range(n):
            self.h.tick()
            self.check_tick()
        if self.h.sock().contactor.commanded:
            event("charging")
        for f in self.h.ctl().faults:
            event(f"fault {f.value}")

    # -- the invariants ------------------------------------------------------------------------------------
    def check_tick(self) -> None:
        h = self.h
        ctl, sock, cmd = h.ctl(), h.sock(), h.loop.commands[1]
        closed = sock.contactor.commanded
        ventilation = h.board.connectors[0].ventilation
        if closed:
            assert ctl.state is EvseState.C or (ctl.state is EvseState.D and ventilation), ctl.state
            stopping = ctl.faults & STOPPING
            if h.loop.config.rcd_mode is RcdMode.SMART:
                stopping -= {Fault.RESIDUAL_CURRENT}
            assert not stopping, stopping
        if closed and not self.was_closed:
            assert cmd.authorized and not cmd.suspended
            assert sock.lock.locked, "closed before the lock confirmed"
            assert ctl.diode_seen and not sock.ev.diode_missing and sock.pilot.output.mode is PilotMode.PWM
            assert ctl.rcd_self_test is SelfTest.PASSED
            assert sock.rcd.self_tests > self.tests_at_start, "no self-test in this loop instance"
            assert not sock.rcd.trip
            assert sock.ev.plugged and not sock.ev.pp_broken
            assert ctl.latched_faults() == [] and not (ctl.faults - REPORT_ONLY), ctl.faults
        if sock.contactor.contacts_closed:
            assert sock.lock.locked, "the lock released while the contacts are closed"
        self.check_offer()
        self.was_closed = closed

    def check_offer(self) -> None:
        h = self.h
        out = h.sock().pilot.output
        if out.mode is not PilotMode.PWM:
            return
        cmd, cfg, ctl = h.loop.commands[1], h.loop.config, h.ctl()
        limit = min(
            cmd.max_current if cmd.authorized and not cmd.suspended else 0.0,
            h.board.connectors[0].max_current,
            cfg.connector_max_a.get(1, 80.0),
            cfg.station_max_a if cfg.station_max_a is not None else 80.0,
        )
        ev = h.sock().ev
        if ev.plugged and ctl.state in (EvseState.B, *CHARGING_STATES):
            limit = min(limit, ev.cable_a)
        assert current_for_duty(out.duty) <= limit + 0.01, (out.duty, limit)

    def teardown(self) -> None:
        event(f"restarts: {min(self.h.restarts, 3)}")

    @invariant()
    def the_lock_holds_between_rules(self) -> None:
        """(The offer follows a new command at the next tick; between rules only the lock is checked.)"""
        if self.h.sock().contactor.contacts_closed:
            assert self.h.sock().lock.locked


ControlLoopMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestControlLoopModel = ControlLoopMachine.TestCase
