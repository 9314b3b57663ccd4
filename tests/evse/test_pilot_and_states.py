"""The IEC 61851 pieces as tables: voltage classification (bands from the board file, the diode check), the
state table (state x allowed -> pilot drive + contactor), state names, and the debounce at its edges."""

from __future__ import annotations

import pytest

from board.loader import builtin_board, load_board
from controller.evse.debounce import PilotDebouncer
from controller.evse.pilot import CpLevel, classify
from controller.evse.statemachine import TABLE, Decision, EvseState, PilotDrive, decide, iec_name, next_state
from hal.interfaces import PilotReading

BANDS = load_board(builtin_board("sim")).pilot_bands
DIODE = -10.5

S = EvseState
L = CpLevel


@pytest.mark.parametrize(
    ("high", "low", "pwm", "level"),
    [
        (12.0, None, False, L.A),
        (10.5, None, False, L.A),  # band edges belong to the first band listed (A before B)
        (10.49, None, False, L.B),
        (9.0, None, False, L.B),
        (9.0, -12.0, True, L.B),
        (6.0, -12.0, True, L.C),
        (4.5, -12.0, True, L.C),
        (3.0, -12.0, True, L.D),
        (0.0, None, False, L.E),
        (-12.0, -12.0, False, L.F),
        (14.0, None, False, L.INVALID),
        (-5.0, None, False, L.INVALID),
        # the diode check: with PWM on, the low phase must reach about -12 V
        (9.0, -9.0, True, L.DIODE_FAULT),
        (6.0, -6.0, True, L.DIODE_FAULT),
        (6.0, -10.4, True, L.DIODE_FAULT),
        (6.0, -10.5, True, L.C),
        (9.0, -9.0, False, L.B),  # no PWM: no low phase to judge
        (12.0, -12.0, True, L.A),  # no car: nothing to check
    ],
)
def test_classify(high: float, low: float | None, pwm: bool, level: CpLevel) -> None:
    assert classify(PilotReading(high, low), BANDS, DIODE, pwm) is level


def test_board_bands_are_used() -> None:
    bands = dict(BANDS)
    bands["C"] = (5.0, 7.5)
    bands["D"] = (1.5, 5.0)
    assert classify(PilotReading(4.8, -12.0), bands, DIODE, True) is L.D
    assert classify(PilotReading(4.8, -12.0), BANDS, DIODE, True) is L.C


H, P = PilotDrive.HIGH, PilotDrive.PWM


@pytest.mark.parametrize(
    ("state", "allow", "decision"),
    [
        (S.A, False, Decision(H, False)),
        (S.A, True, Decision(H, False)),
        (S.B, False, Decision(H, False)),  # B1
        (S.B, True, Decision(P, False)),  # B2
        (S.C, False, Decision(H, False)),  # C1
        (S.C, True, Decision(P, True)),  # C2
        (S.D, False, Decision(H, False)),  # D1
        (S.D, True, Decision(P, True)),  # D2
        (S.E, False, Decision(H, False)),
        (S.E, True, Decision(H, False)),
        # F is driven by the fault that causes it (faults.POLICY pilot_f); the table releases it to +12 V
        (S.F, False, Decision(H, False)),
        (S.F, True, Decision(H, False)),
    ],
)
def test_state_table(state: EvseState, allow: bool, decision: Decision) -> None:
    assert decide(state, allow) == decision


def test_state_table_is_complete_and_never_closes_outside_c_d() -> None:
    assert len(TABLE) == 2 * len(EvseState)
    for (state, _), d in TABLE.items():
        if d.contactor:
            assert state in (S.C, S.D) and d.pilot is P


@pytest.mark.parametrize(
    ("level", "state"),
    [(L.A, S.A), (L.B, S.B), (L.C, S.C), (L.D, S.D), (L.E, S.E), (L.F, S.E), (L.DIODE_FAULT, S.E), (L.INVALID, S.E)],
)
def test_level_to_state(level: CpLevel, state: EvseState) -> None:
    assert next_state(level) is state


@pytest.mark.parametrize(
    ("state", "pwm", "name"),
    [(S.A, False, "A1"), (S.B, False, "B1"), (S.B, True, "B2"), (S.C, False, "C1"), (S.C, True, "C2"),
     (S.D, True, "D2"), (S.E, False, "E"), (S.F, False, "F")],
)
def test_iec_names(state: EvseState, pwm: bool, name: str) -> None:
    assert iec_name(state, pwm) == name


T0 = 0.0  # binary-exact edges


def _deb(start_state: EvseState) -> PilotDebouncer:
    d = PilotDebouncer(T0 - 10)
    level = {S.A: L.A, S.B: L.B, S.C: L.C, S.D: L.D, S.E: L.E}[start_state]
    d.step(T0 - 10, level)
    d.step(T0 - 1, level)
    assert d.state is start_state
    return d


@pytest.mark.parametrize(
    ("start", "level", "wait", "end"),
    [
        (S.B, L.C, 0.25, S.C),  # B -> C: 250 ms
        (S.B, L.D, 0.25, S.D),
        (S.C, L.D, 0.25, S.D),
        (S.A, L.B, 0.25, S.B),  # plug-in
        (S.E, L.B, 0.25, S.B),  # recovery from an error
        (S.C, L.B, 0.05, S.B),  # the car stops: 50 ms, so the contactor opens well within 100 ms
        (S.D, L.B, 0.05, S.B),
        (S.C, L.A, 0.25, S.A),  # unplug: debounced like the others (the contactor opens on `pilot_lost`)
        (S.B, L.A, 0.25, S.A),
        (S.C, L.E, 0.0, S.E),  # short: within the tick
        (S.C, L.DIODE_FAULT, 0.0, S.E),
        (S.C, L.INVALID, 0.0, S.E),
        (S.C, L.F, 0.0, S.E),
    ],
)
def test_debounce_edges(start: EvseState, level: CpLevel, wait: float, end: EvseState) -> None:
    d = _deb(start)
    assert d.step(T0, level) is (end if wait == 0 else start)
    if wait:
        assert d.step(T0 + wait - 0.001, level) is start  # just before
        assert d.step(T0 + wait, level) is end  # at the edge
    assert d.step(T0 + wait + 0.001, level) is end  # just after


def test_debounce_restarts_on_a_bounce() -> None:
    d = _deb(S.B)
    d.step(T0, L.C)
    d.step(T0 + 0.2, L.B)  # bounce back
    d.step(T0 + 0.21, L.C)
    assert d.step(T0 + 0.3, L.C) is S.B  # counted from 0.21
    assert d.step(T0 + 0.46, L.C) is S.C


def test_hold_f_then_count_anew() -> None:
    d = _deb(S.C)
    d.hold(T0, S.F)
    assert d.state is S.F
    assert d.step(T0 + 0.01, L.B) is S.F
    assert d.step(T0 + 0.01 + 0.25, L.B) is S.B
    d.hold(T0 + 1, S.F)
    assert d.step(T0 + 1.01, L.A) is S.F and d.pilot_lost  # +12 V: the contactor must open, not yet an unplug
    assert d.step(T0 + 1.01 + 0.25, L.A) is S.A


def test_pilot_lost_until_a_is_confirmed() -> None:
    d = _deb(S.C)
    assert not d.pilot_lost
    d.step(T0, L.A)
    assert d.pilot_lost and d.state is S.C
    d.step(T0 + 0.01, L.C)  # a glitch of one sample
    assert not d.pilot_lost and d.state is S.C
    d.step(T0 + 0.02, L.A)
    assert d.step(T0 + 0.27, L.A) is S.A and not d.pilot_lost


def test_a_fresh_debouncer_sees_even_a_for_the_debounce_time() -> None:
    d = PilotDebouncer(T0)
    assert d.state is S.A and not d.steady(T0)
    d.step(T0, L.A)
    assert not d.steady(T0 + 0.249)
    assert d.steady(T0 + 0.25)


def test_cable_rating_windows() -> None:
    from controller.evse.pilot import cable_rating

    for ohms, amps in [(1500, 13), (1100, 13), (2460, 13), (680, 20), (220, 32), (100, 63), (75, 63), (140, 63)]:
        assert cable_rating(ohms) == amps, ohms
    for ohms in [0.0, 50.0, 74.9, 140.1, 163.9, 309.0, 399.0, 937.0, 1099.0, 2461.0, 1e9, float("inf"), float("nan")]:
        assert cable_rating(ohms) is None, ohms
