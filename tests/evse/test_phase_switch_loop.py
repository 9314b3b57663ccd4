"""The phase switch in the control loop, with the simulated relay, contactor and car on the fake clock: the
procedure's steps seen on the devices, and its edges (feedback mismatch, a car that never stops drawing,
unplug, a fault and changing limits mid-switch, a relay whose contacts do not follow). Each tick is checked:
the relay never moves while current flows or the contacts are closed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from controller.evse.faults import Fault
from controller.evse.protocol import ClearFaults
from hal.sim.devices import SimPhaseRelay
from hal.sim.world import SimCommandError
from tests.evse.harness import Harness, board_file

PP = 'pp = { driver = "sim" }'


def relay_board(tmp_path: Path, settle_s: float | None = None, feedback: bool = True) -> Path:
    """The simulated board with a phase relay on its socket."""
    params = ['driver = "sim"'] + ([] if settle_s is None else [f"settle_s = {settle_s}"])
    params += [] if feedback else ["feedback = false"]
    relay = "phase_relay = { " + ", ".join(params) + " }"
    return board_file(tmp_path, lambda t: t.replace(PP, PP + "\n" + relay))


class PhaseRig:
    """The harness plus the checks every tick: the relay moves only with open contacts and no current."""

    def __init__(self, tmp_path: Path, **board: object) -> None:
        self.h = Harness(relay_board(tmp_path, **board))  # type: ignore[arg-type]
        relay = self.h.sock().phase_relay
        assert relay is not None
        self.relay: SimPhaseRelay = relay
        self.moves: list[float] = []
        self.checks: list[Callable[[], None]] = []

    def limits(self, max_current: float, phases: int, authorized: bool = True) -> None:
        self.h.limits(1, max_current, authorized, phases=phases)

    def tick(self) -> None:
        before = self.relay.commanded
        self.h.tick()
        if not self.h.loop.switches[1].settled:
            assert self.h.sock().pilot.output.mode.value != "pwm", "no offer during a switch"
        if self.relay.commanded != before:  # it was written in this tick, at `now`
            self.moves.append(self.h.now)
            assert not self.h.sock().contactor.contacts_closed, "the relay moved with the contacts closed"
            drawn = self.h.sock().meter.currents
            assert max(drawn) < 0.5, f"the relay moved under load {drawn}"
        for check in self.checks:
            check()

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / self.h.tick_s)):
            self.tick()

    def until(self, pred: Callable[[], bool], timeout: float, what: str) -> float:
        t0 = self.h.now
        while not pred():
            assert self.h.now - t0 <= timeout, f"not within {timeout} s: {what}; {self.h.status()}"
            self.tick()
        return self.h.now - t0

    def charging_on_three(self) -> None:
        self.limits(16.0, 3)
        self.h.plug()
        self.until(lambda: self.h.sock().meter.currents[2] > 15.0, 10, "the car draws 16 A on three phases")

    def step(self) -> str:
        return str(self.h.sent("state")[-1]["phase_switch"])


def test_three_to_one_and_back_every_step_on_the_devices(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.limits(16.0, 1)
    r.tick()
    assert r.h.sock().pilot.output.mode.value == "high", "the PWM stops in the tick the switch starts (x1)"
    r.until(lambda: r.relay.commanded == 1, 8, "the relay moves")
    t_moved = r.h.now
    assert not r.h.closed()
    r.until(lambda: r.h.closed(), 10, "the contactor closes again")
    assert r.h.now - t_moved >= 2.0, "the settle time (2 s) passed before the offer came back"
    r.until(lambda: r.h.sock().meter.currents[0] > 15.0, 10, "the car draws on L1")
    r.run(2.0)
    assert r.h.sock().meter.currents[1:] == (0.0, 0.0), "a three-phase car on one phase draws on L1 only"
    assert r.h.sent("state")[-1]["phases"] == 1
    r.limits(10.0, 3)
    r.until(lambda: r.relay.commanded == 3, 8, "back to three phases")
    r.until(lambda: min(r.h.sock().meter.currents) > 9.0, 15, "the car draws on three phases again")
    assert r.h.faults() == []
    assert r.h.loop.switches[1].switches == 2


def test_limits_for_other_phases_are_never_offered_on_these(tmp_path: Path) -> None:
    """16 A meant for one phase is never offered while the relay still gives three (and vice versa)."""
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.limits(8.0, 3)
    r.run(7.0)  # the car follows 8 A
    r.checks.append(lambda: _at_most(r, l1=16.0, others=8.0))
    r.limits(16.0, 1)  # 16 A on L1 only: L2/L3 may carry no more than the 8 A they had
    r.until(lambda: r.relay.commanded == 1, 8, "the relay moves")
    r.run(8.0)
    assert r.h.sock().meter.currents[0] > 15.0


def _at_most(r: PhaseRig, l1: float, others: float) -> None:
    c = r.h.sock().meter.currents
    assert c[0] <= l1 + 1e-9 and max(c[1:]) <= others + 1e-9, c


def test_feedback_mismatch_is_a_named_fault_and_the_socket_stays_off(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.h.sim("phase_relay", stuck=True)
    r.limits(16.0, 1)
    r.until(lambda: Fault.PHASE_RELAY.value in r.h.faults(), 10, "PHASE_RELAY")
    assert r.step() == "failed"
    r.run(10.0)
    assert not r.h.closed() and r.h.sock().pilot.output.mode.value == "negative", "stopped, state F"
    assert Fault.PHASE_RELAY.value in r.h.sent("state")[-1]["latched"], "it outlives a restart"
    r.relay.stuck = False
    r.h.send(ClearFaults(1))
    r.until(lambda: r.h.closed(), 15, "charging again after the clear")
    assert r.relay.phases == 1


def test_a_relay_that_cannot_be_read_is_phase_relay(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()

    def broken() -> int | None:
        raise OSError("aux contact line unreadable")

    r.relay.feedback_phases = broken  # type: ignore[method-assign]
    r.run(0.05)
    assert not r.h.closed()
    assert Fault.PHASE_RELAY.value in r.h.faults()


def test_a_car_that_never_stops_drawing_is_cut_by_the_6_s_rule_and_the_relay_then_moves(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.h.sim("ev_misbehave", refuse_to_stop=True)
    r.limits(16.0, 1)
    t0 = r.h.now
    r.until(lambda: not r.h.closed(), 8, "the contactor opens")
    assert r.h.now - t0 >= 6.0
    assert Fault.EV_IGNORES_PWM_OFF.value in r.h.faults()
    r.until(lambda: r.relay.commanded == 1, 3, "the relay moves once no current flows")
    r.run(10.0)
    assert not r.h.closed(), "no offer while the car keeps asking in C"


def test_unplug_mid_switch_and_the_next_car_charges_on_the_new_phases(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.limits(16.0, 1)
    r.tick()
    assert r.step() == "stopping"
    r.h.sock().ev.unplug()
    r.until(lambda: r.step() == "idle" and r.relay.phases == 1, 6, "the switch completes without the car")
    r.h.plug()
    r.until(lambda: r.h.sock().meter.currents[0] > 15.0, 10, "the next car draws")
    assert r.h.sock().meter.currents[1:] == (0.0, 0.0)


def test_a_fault_mid_switch_opens_at_once_and_the_offer_waits_for_it_to_clear(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.limits(16.0, 1)
    r.run(0.2)
    r.h.sim("tilt", degrees=30.0)
    r.tick()
    assert not r.h.closed(), "TILT opens within the tick"
    r.until(lambda: r.relay.phases == 1 and r.step() == "idle", 6, "the switch completes")
    r.run(3.0)
    assert not r.h.closed()
    r.h.sim("tilt", degrees=0.0)
    r.until(lambda: r.h.closed(), 10, "charging again upright")


def test_limits_changing_mid_switch(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.limits(16.0, 1)
    r.until(lambda: r.step() == "settling", 8, "settling")
    r.limits(5.0, 1)  # below 6 A: no offer after the switch
    r.until(lambda: r.step() == "idle", 3, "settled")
    r.run(3.0)
    assert not r.h.closed()
    r.limits(16.0, 3)  # back up, on three phases: the relay moves back before any offer
    r.until(lambda: r.relay.commanded == 3, 3, "the relay back to three")
    r.until(lambda: r.h.closed(), 10, "charging")
    assert r.h.loop.switches[1].switches == 2


def test_contacts_that_do_not_follow_are_seen_from_the_meter(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.h.sim("phase_relay", contacts_stuck=True)  # the aux contact says one phase; the power contacts stay on three
    r.limits(16.0, 1)
    r.until(lambda: Fault.PHASE_COUNT_MISMATCH.value in r.h.faults(), 20, "PHASE_COUNT_MISMATCH")
    r.tick()
    assert not r.h.closed()


def test_switches_are_not_counted_by_contactor_protect(tmp_path: Path) -> None:
    """12 switches within ContactorProtect's window: the car followed our PWM each time."""
    r = PhaseRig(tmp_path, settle_s=0.5)
    r.h.config({"ContactorProtect": "600"})
    r.charging_on_three()
    t0 = r.h.now
    for i in range(12):
        phases = 1 if i % 2 == 0 else 3
        r.limits(16.0, phases)
        r.until(lambda p=phases: r.relay.phases == p and r.h.closed(), 10, f"switch {i}")  # type: ignore[misc]
        r.until(lambda: r.h.sock().meter.currents[0] > 15.0, 5, "drawing")
    assert r.h.now - t0 < 600.0
    assert Fault.CONTACTOR_PROTECT.value not in r.h.faults()
    assert r.h.closed()


@pytest.mark.parametrize("settle_s", [0.0, 5.0])
def test_settle_time_from_the_board(tmp_path: Path, settle_s: float) -> None:
    r = PhaseRig(tmp_path, settle_s=settle_s)
    r.limits(16.0, 1)
    r.tick()
    r.until(lambda: r.step() == "settling", 1, "settling")
    took = r.until(lambda: r.step() == "idle", 10, "idle")
    assert settle_s <= took <= settle_s + 0.02


def test_a_relay_without_feedback_switches_and_the_meter_watches(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path, feedback=False)
    r.charging_on_three()
    r.limits(16.0, 1)
    r.until(lambda: r.h.closed() and r.relay.phases == 1, 15, "charging on one phase")
    assert r.h.faults() == []


def test_a_socket_without_a_relay_offers_nothing_under_limits_for_one_phase() -> None:
    h = Harness()
    h.limits(1, 16.0)
    h.plug()
    h.run_until(lambda: h.closed(), 5, "charging")
    h.limits(1, 16.0, phases=1)
    h.run(8.0)
    assert not h.closed() and h.duty() is None


def test_a_control_process_restart_mid_session_drops_the_relay_to_rest_and_switches_it_back(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    r.charging_on_three()
    r.limits(16.0, 1)
    r.until(lambda: r.h.closed() and r.relay.phases == 1, 15, "charging on one phase")
    r.h.restart()  # the coils fall to their pull-downs: contactor open, relay at rest (three phases)
    assert r.relay.commanded == 3 and not r.h.closed()
    r.until(lambda: r.relay.commanded == 1, 5, "the new loop switches back before offering")
    r.until(lambda: r.h.closed(), 15, "charging again")
    r.run(3.0)
    assert r.h.sock().meter.currents[1:] == (0.0, 0.0)
    assert r.h.faults() == []


def test_the_sim_control_refuses_a_relay_that_is_not_there_and_bad_flags(tmp_path: Path) -> None:
    r = PhaseRig(tmp_path)
    with pytest.raises(SimCommandError):
        r.h.sim("phase_relay", stuck="yes")
    with pytest.raises(SimCommandError):
        Harness().sim("phase_relay", stuck=True)
