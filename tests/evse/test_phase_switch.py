"""The phase switch procedure (controller/evse/phaseswitch.py) as tables: every step and its edges, on the
fake time the tests give it (no clock, no devices)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from controller.evse.faults import Fault
from controller.evse.phaseswitch import PhaseSwitch, RelaySettings, Step, SwitchInputs

T0 = 100.0
DRAW3 = (10.0, 10.0, 10.0)
DRAW1 = (10.0, 0.0, 0.0)
NONE = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Tick:
    """One tick: `t` seconds after T0, the socket's view, and what must come out."""

    t: float
    target: int
    currents: tuple[float, float, float] | None
    closed: bool  # the contactor as commanded
    contacts_open: bool
    feedback: int | None
    step: Step
    pause: bool
    hold_open: bool
    relay: int
    fault: Fault | None = None


def run(ticks: list[Tick], settings: RelaySettings | None = None) -> PhaseSwitch:
    sw = PhaseSwitch(settings or RelaySettings(), T0)
    for i, k in enumerate(ticks):
        out = sw.step(T0 + k.t, SwitchInputs(k.target, k.currents, k.closed, k.contacts_open, k.feedback))
        got = (sw.step_name, out.pause, out.hold_open, out.relay, out.fault)
        assert got == (k.step, k.pause, k.hold_open, k.relay, k.fault), f"tick {i} at +{k.t} s: {got}"
    return sw


S = Step
# fmt: off
TABLES: dict[str, list[Tick]] = {
    "nothing to do: the relay already there": [
        Tick(0.0, 3, DRAW3, True, False, 3, S.IDLE, False, False, 3),
        Tick(1.0, 0, DRAW3, True, False, 3, S.IDLE, False, False, 3),  # 0: no wish, stays
    ],
    "3 -> 1 while charging: every step in order": [
        Tick(0.0, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),  # PWM off (x1), contactor stays
        Tick(0.5, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),  # the car still draws
        Tick(1.0, 1, NONE, True, False, 3, S.OPENING, True, True, 3),  # stopped drawing: open
        Tick(1.01, 1, NONE, False, False, 3, S.OPENING, True, True, 3),  # commanded open, contacts not yet
        Tick(1.05, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),  # contacts open: the relay moves
        Tick(1.06, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),  # its feedback not yet there
        Tick(1.1, 1, NONE, False, True, 1, S.SETTLING, True, True, 1),  # feedback follows: settle
        Tick(3.0, 1, NONE, False, True, 1, S.SETTLING, True, True, 1),  # 1.9 s: still settling
        Tick(3.1, 1, NONE, False, True, 1, S.IDLE, False, False, 1),  # 2 s: offer again
    ],
    "no car: the relay moves at once, then settles": [
        Tick(0.0, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
        Tick(0.1, 1, NONE, False, True, 1, S.SETTLING, True, True, 1),
        Tick(2.1, 1, NONE, False, True, 1, S.IDLE, False, False, 1),
    ],
    "the wish withdrawn while stopping: offer again, the relay never moved": [
        Tick(0.0, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),
        Tick(0.5, 3, DRAW3, True, False, 3, S.IDLE, False, False, 3),
    ],
    "the wish withdrawn while opening": [
        Tick(0.0, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),
        Tick(1.0, 1, NONE, True, False, 3, S.OPENING, True, True, 3),
        Tick(1.1, 3, NONE, False, True, 3, S.IDLE, False, False, 3),
    ],
    "the car never stops drawing: the connector's 6 s rule opens, then the relay moves without current": [
        Tick(0.0, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),
        Tick(5.9, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),  # never held open under load
        Tick(6.0, 1, DRAW3, False, False, 3, S.OPENING, True, True, 3),  # the connector opened (6 s rule)
        Tick(6.02, 1, DRAW3, False, True, 3, S.OPENING, True, True, 3),  # the meter still lags: no switch
        Tick(6.5, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
    ],
    "unplugged mid-switch: the switch goes on without the car": [
        Tick(0.0, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),
        Tick(0.3, 1, NONE, False, True, 3, S.OPENING, True, True, 3),  # unplug: the connector opened
        Tick(0.31, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
        Tick(0.4, 1, NONE, False, True, 1, S.SETTLING, True, True, 1),
        Tick(2.4, 1, NONE, False, True, 1, S.IDLE, False, False, 1),
    ],
    "the meter lost mid-switch: no switch until nothing is seen flowing": [
        Tick(0.0, 1, DRAW3, True, False, 3, S.STOPPING, True, False, 3),
        Tick(1.0, 1, None, True, False, 3, S.STOPPING, True, False, 3),  # cannot tell: keep waiting
        Tick(6.0, 1, None, False, True, 3, S.OPENING, True, True, 3),  # opened by the 6 s rule
        Tick(7.0, 1, None, False, True, 3, S.OPENING, True, True, 3),  # still no reading: relay stays
        Tick(8.0, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
    ],
    "feedback mismatch: PHASE_RELAY after the timeout, held open": [
        Tick(0.0, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
        Tick(0.49, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
        Tick(0.5, 1, NONE, False, True, 3, S.FAILED, True, True, 1, Fault.PHASE_RELAY),
        Tick(5.0, 3, NONE, False, True, 3, S.FAILED, True, True, 1, Fault.PHASE_RELAY),  # latched
    ],
    "a relay that moves by itself while idle is PHASE_RELAY too": [
        Tick(0.0, 3, DRAW3, True, False, 3, S.IDLE, False, False, 3),
        Tick(1.0, 3, DRAW3, True, False, 1, S.FAILED, True, True, 3, Fault.PHASE_RELAY),
    ],
    "no feedback contact: settles after the feedback timeout": [
        Tick(0.0, 1, NONE, False, True, None, S.SWITCHING, True, True, 1),
        Tick(0.4, 1, NONE, False, True, None, S.SWITCHING, True, True, 1),
        Tick(0.5, 1, NONE, False, True, None, S.SETTLING, True, True, 1),
        Tick(2.5, 1, NONE, False, True, None, S.IDLE, False, False, 1),
    ],
    "the car resumes on three phases behind a relay on one: PHASE_COUNT_MISMATCH after 1 s": [
        Tick(0.0, 1, NONE, False, True, None, S.SWITCHING, True, True, 1),
        Tick(0.5, 1, NONE, False, True, None, S.SETTLING, True, True, 1),
        Tick(2.5, 1, NONE, False, True, None, S.IDLE, False, False, 1),
        Tick(3.0, 1, DRAW3, True, False, None, S.IDLE, False, False, 1),
        Tick(4.0, 1, DRAW3, True, False, None, S.IDLE, False, False, 1),
        Tick(4.01, 1, DRAW3, True, False, None, S.FAILED, True, True, 1, Fault.PHASE_COUNT_MISMATCH),
    ],
    "one phase drawn on one phase is no mismatch; a single-phase car on three is none either": [
        Tick(0.0, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
        Tick(0.1, 1, NONE, False, True, 1, S.SETTLING, True, True, 1),
        Tick(2.1, 1, NONE, False, True, 1, S.IDLE, False, False, 1),
        Tick(3.0, 1, DRAW1, True, False, 1, S.IDLE, False, False, 1),
        Tick(9.0, 1, DRAW1, True, False, 1, S.IDLE, False, False, 1),
    ],
    "limits changing mid-switch: a new wish waits for the relay to settle, then goes on at once": [
        Tick(0.0, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
        Tick(0.1, 3, NONE, False, True, 1, S.SETTLING, True, True, 1),  # the wish is back to 3
        Tick(2.1, 3, NONE, False, True, 1, S.IDLE, False, False, 1),  # settled (offer held: loop rule)
        Tick(2.11, 3, NONE, False, True, 1, S.SWITCHING, True, True, 3),  # and back, without current
        Tick(2.2, 3, NONE, False, True, 3, S.SETTLING, True, True, 3),
        Tick(4.2, 3, NONE, False, True, 3, S.IDLE, False, False, 3),
    ],
    "an invalid wish keeps the relay": [
        Tick(0.0, 2, DRAW3, True, False, 3, S.IDLE, False, False, 3),
        Tick(0.1, -1, DRAW3, True, False, 3, S.IDLE, False, False, 3),
    ],
}
# fmt: on


@pytest.mark.parametrize("name", list(TABLES))
def test_procedure(name: str) -> None:
    run(TABLES[name])


def test_the_settle_time_is_the_boards() -> None:
    ticks = [
        Tick(0.0, 1, NONE, False, True, 3, S.SWITCHING, True, True, 1),
        Tick(0.1, 1, NONE, False, True, 1, S.SETTLING, True, True, 1),
        Tick(4.0, 1, NONE, False, True, 1, S.SETTLING, True, True, 1),  # 2 s would be over
        Tick(5.1, 1, NONE, False, True, 1, S.IDLE, False, False, 1),
    ]
    sw = run(ticks, RelaySettings(settle_s=5.0))
    assert sw.switches == 1


def test_a_relay_at_rest_on_one_phase_starts_there() -> None:
    sw = PhaseSwitch(RelaySettings(rest_phases=1), T0)
    out = sw.step(T0, SwitchInputs(0, NONE, False, True, 1))
    assert (out.relay, out.pause, out.fault) == (1, False, None)


def test_clear_after_a_fault_and_a_condition_still_there_latches_again() -> None:
    sw = run(TABLES["feedback mismatch: PHASE_RELAY after the timeout, held open"])
    sw.clear(T0 + 6.0)
    assert sw.step_name is Step.IDLE
    out = sw.step(T0 + 6.01, SwitchInputs(1, NONE, False, True, 3))  # the feedback still disagrees
    assert (sw.step_name, out.fault, out.hold_open) == (Step.FAILED, Fault.PHASE_RELAY, True)
    sw.clear(T0 + 7.0)
    out = sw.step(T0 + 7.01, SwitchInputs(1, NONE, False, True, 1))  # repaired
    assert (sw.step_name, out.fault, out.pause) == (Step.IDLE, None, False)


def test_a_latch_handed_back_after_a_restart_holds_the_socket() -> None:
    sw = PhaseSwitch(RelaySettings(), T0)
    sw.latch(Fault.PHASE_COUNT_MISMATCH, T0)
    out = sw.step(T0 + 1.0, SwitchInputs(3, NONE, False, True, 3))
    assert (out.pause, out.hold_open, out.fault) == (True, True, Fault.PHASE_COUNT_MISMATCH)


@pytest.mark.parametrize("fault", [Fault.PHASE_RELAY, Fault.PHASE_COUNT_MISMATCH])
def test_the_back_office_hears_a_power_switch_failure(fault: Fault) -> None:
    from controller.ocpp.errors import ocpp_error

    assert ocpp_error({fault.value}) == ("PowerSwitchFailure", fault.value)
