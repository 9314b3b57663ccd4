"""The residual current and contactor supervisors as tables (pure, clock at each edge)."""

from __future__ import annotations

import pytest

from controller.evse.contactor import ContactorSupervisor
from controller.evse.faults import PAUSING, POLICY, REPORT_ONLY, Action, Clears, Fault, ocpp_error
from controller.evse.rcd import ResidualCurrentSupervisor, SelfTest
from controller.evse.settings import RcdMode

T0 = 0.0
DRAWING = (16.0, 16.0, 16.0)
IDLE = (0.2, 0.0, 0.0)


@pytest.mark.parametrize(
    ("mode", "in_c", "currents", "after", "must_open"),
    [
        (RcdMode.IMMEDIATE, True, DRAWING, 0.0, True),
        (RcdMode.SMART, True, DRAWING, 0.0, False),  # the car is asked to stop first
        (RcdMode.SMART, True, DRAWING, 4.99, False),
        (RcdMode.SMART, True, DRAWING, 5.0, True),  # still drawing after 5 s: cut
        (RcdMode.SMART, False, DRAWING, 0.1, True),  # the car went to B: open
        (RcdMode.SMART, True, IDLE, 0.1, True),  # the car stopped drawing: open
        (RcdMode.SMART, True, None, 4.99, False),  # no meter: wait for B or 5 s
        (RcdMode.SMART, True, None, 5.0, True),
    ],
)
def test_rcd_reaction(
    mode: RcdMode, in_c: bool, currents: tuple[float, float, float] | None, after: float, must_open: bool
) -> None:
    r = ResidualCurrentSupervisor(smart_s=5.0)
    assert r.step(T0, True, None) == {Fault.RESIDUAL_CURRENT}
    assert r.must_open(T0 + after, mode, in_c, currents) is must_open


def test_rcd_latch_until_unplugged_and_signal_gone() -> None:
    r = ResidualCurrentSupervisor()
    r.on_connect()
    r.step(T0, True, True)
    assert r.step(T0 + 1, False, None) == {Fault.RESIDUAL_CURRENT}  # the signal went, the car is plugged
    r.on_unplug()
    assert r.step(T0 + 2, False, None) == set()
    r.step(T0 + 3, True, None, unplugged=True)
    assert r.step(T0 + 4, True, None, unplugged=True) == {Fault.RESIDUAL_CURRENT}  # still signalling
    assert r.step(T0 + 5, False, None, unplugged=True) == set()


@pytest.mark.parametrize(
    ("result", "state", "faults", "close_allowed"),
    [
        (None, SelfTest.NEEDED, set(), False),  # outstanding: no close before it passed
        (True, SelfTest.PASSED, set(), True),
        (False, SelfTest.FAILED, {Fault.RCD_SELF_TEST}, False),
    ],
)
def test_rcd_self_test(result: bool | None, state: SelfTest, faults: set[Fault], close_allowed: bool) -> None:
    r = ResidualCurrentSupervisor()
    assert not r.request_test
    r.on_connect()
    assert r.request_test
    assert r.step(T0, False, result) == faults
    assert r.self_test is state and r.close_allowed is close_allowed
    r.on_unplug()
    assert r.self_test is SelfTest.IDLE and r.step(T0 + 1, False, None) == set()


@pytest.mark.parametrize(
    ("commanded", "feedback", "after", "fault"),
    [
        (True, True, 1.0, None),
        (True, False, 0.49, None),  # the mirror contact has 0.5 s to follow
        (True, False, 0.5, Fault.CONTACTOR_NOT_CLOSING),
        (False, True, 0.49, None),
        (False, True, 0.5, Fault.WELDED_CONTACT),
        (False, False, 1.0, None),
        (False, None, 9.0, None),  # no feedback contact on this board: not supervised
    ],
)
def test_contactor_feedback(commanded: bool, feedback: bool | None, after: float, fault: Fault | None) -> None:
    c = ContactorSupervisor(T0 - 10, timeout_s=0.5)
    if not commanded:
        c.command(T0 - 5, True)  # it was closed; opened at T0
    c.command(T0, commanded)
    c.command(T0 + 0.2, commanded)  # a re-command of the same value does not restart the clock
    assert c.check(T0 + after, feedback) is fault


def test_fault_policy_table() -> None:
    assert set(POLICY) == set(Fault)
    assert PAUSING == {Fault.HIGH_TEMPERATURE, Fault.LOW_TEMPERATURE, Fault.MAIN_SILENT, Fault.METER_LOST}
    assert REPORT_ONLY == {Fault.METER}
    for f, p in POLICY.items():
        if p.pilot_f:  # while we drive -12 V we cannot see an unplug: such faults must not wait for one
            assert p.clears is not Clears.UNPLUG, f
        if p.action is Action.PAUSE:
            assert p.clears is Clears.CONDITION
    assert POLICY[Fault.WELDED_CONTACT].clears is Clears.MANUAL
    assert ocpp_error({"high_temperature"}) == ("HighTemperature", "high_temperature")
    assert ocpp_error({"tilt", "welded_contact"}) == ("PowerSwitchFailure", "welded_contact")
    assert ocpp_error(set()) == ("NoError", None)
    assert ocpp_error({"meter", "meter_lost"}) == ("PowerMeterFailure", "meter_lost")


@pytest.mark.parametrize(
    ("commanded_closed", "currents", "after", "fault"),
    [
        (False, (10.0, 0.0, 0.0), 1.0, None),  # current on an open socket: not yet after 1 s
        (False, (10.0, 0.0, 0.0), 1.01, Fault.WELDED_CONTACT),  # more than 1 s: a weld (defect 14)
        (False, (0.0, 0.0, 1.01), 1.01, Fault.WELDED_CONTACT),  # any phase
        (False, (1.0, 1.0, 1.0), 5.0, None),  # at the threshold: not current
        (False, (float("nan"), 0.0, 0.0), 1.01, Fault.WELDED_CONTACT),  # not a number: counts as current
        (False, None, 5.0, None),  # no meter: nothing to see
        (True, (10.0, 0.0, 0.0), 5.0, None),  # closed: current is expected
    ],
)
def test_weld_seen_by_the_meter(
    commanded_closed: bool, currents: tuple[float, float, float] | None, after: float, fault: Fault | None
) -> None:
    c = ContactorSupervisor(T0 - 10, timeout_s=0.5)
    c.command(T0 - 5, commanded_closed)
    assert c.check_current(T0, currents) is None
    assert c.check_current(T0 + after, currents) is fault


def test_weld_by_meter_needs_current_without_a_break() -> None:
    c = ContactorSupervisor(T0)
    c.check_current(T0, (5.0, 0, 0))
    c.check_current(T0 + 0.9, (0.0, 0, 0))  # a break: counts anew
    c.check_current(T0 + 1.0, (5.0, 0, 0))
    assert c.check_current(T0 + 1.9, (5.0, 0, 0)) is None
    assert c.check_current(T0 + 2.01, (5.0, 0, 0)) is Fault.WELDED_CONTACT
