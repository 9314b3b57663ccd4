"""Each defect of issue 8 ("the safety core fails safe on every path") as a test that failed before the fix:
the simulated world and the control loop stepped together on the fake clock (see `harness.py`), and for the
pure pieces the connector fed with readings directly."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from controller.evse.connector import ConnectorCommand, ConnectorController, ConnectorInputs, EvseSettings
from controller.evse.faults import Fault
from controller.evse.limits import overcurrent
from controller.evse.protocol import ClearFaults
from controller.ocpp.status import StatusInputs, derive_status
from hal.interfaces import MeterReading, PilotMode, PilotReading
from tests.evse.harness import TICK, Harness, board_file

C_V, B_V = 6.0, 9.0


def closes(h: Harness, cid: int = 1) -> list[float]:
    """When the contactor was commanded closed (the device's record)."""
    return [t for t, v in h.sock(cid).contactor.recorder.history if v is True]


# -- 1. latched faults outlive a control-process restart; restarts re-check everything -------------------------
@pytest.mark.parametrize(
    ("inject", "fault"),
    [
        (lambda h: h.sim("rcd", connector=1, trip=True), Fault.RESIDUAL_CURRENT),
        (lambda h: h.sim("ev_draw", connector=1, factor=1.2), Fault.OVERCURRENT),
        (lambda h: h.sim("ev_misbehave", connector=1, diode_missing=True), Fault.DIODE),
    ],
    ids=["residual_current", "overcurrent", "diode"],
)
def test_a_latched_fault_outlives_a_restart(inject, fault: Fault) -> None:  # type: ignore[no-untyped-def]
    h = Harness()
    h.charge(1, 16)
    h.run(1)
    inject(h)
    h.run_until(lambda: fault.value in h.faults(), 3, f"{fault} latched")
    h.run_until(lambda: not h.closed(), 1, "open")
    h.sim("rcd", connector=1, trip=False)
    h.sim("ev_draw", connector=1, factor=1.0)
    h.sim("ev_misbehave", connector=1, diode_missing=False)  # the condition is gone; the latch is not
    assert fault.value in h.latched[1]  # the main process keeps it from the State message
    h.restart()  # the supervisor restarts the loop and replays the limits (authorized)
    h.run(10)
    assert fault.value in h.faults()
    assert not h.closed()
    h.unplug()  # a latch that clears on unplug clears on a real unplug
    assert h.faults() == [] and h.latched[1] == ()
    h.charge(1, 16)


def test_a_manual_latch_outlives_a_restart_until_cleared() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, welded=True)
    h.limits(1, 16, authorized=False)
    h.run_until(lambda: Fault.WELDED_CONTACT.value in h.faults(), 2, "weld seen")
    h.restart()
    h.limits(1, 16)
    h.run(5)
    assert Fault.WELDED_CONTACT.value in h.faults() and h.state() == "F"
    h.sim("ev_misbehave", connector=1, welded=False)
    h.send(ClearFaults(1))
    h.run_until(lambda: h.closed(), 8, "charging after repair and clear")


def test_a_restarted_loop_rechecks_everything_before_it_energises() -> None:
    h = Harness()
    h.charge(1, 16)
    assert h.sock().rcd.self_tests == 1
    h.restart()
    assert not h.sock().contactor.commanded  # the coil fell to its pull-down; the car is still plugged
    assert h.sock().ev.plugged
    t0 = h.now
    h.run_until(lambda: h.closed(), 5, "charging again")
    assert h.now - t0 >= 0.25  # the pilot seen for the whole debounce time, not taken over
    assert h.sock().rcd.self_tests == 2  # a new self-test
    pre = h.ctl().last_preconditions
    assert pre is not None and pre.all()


# -- 2. a welded contactor keeps the cable locked -----------------------------------------------------------------
def test_a_welded_contactor_keeps_the_lock_and_reports_f() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, welded=True)
    h.limits(1, 16, authorized=False)  # the session ends: the lock would be released
    h.run(10)
    assert not h.closed() and h.sock().contactor.contacts_closed  # commanded open, contacts still closed
    assert Fault.WELDED_CONTACT.value in h.faults() and h.state() == "F"
    assert h.sock().lock.locked and h.outputs[1].locked  # the cable stays locked
    h.sim("ev_misbehave", connector=1, welded=False)
    h.run(0.1)
    h.run_until(lambda: not h.sock().lock.locked, 1, "released once the contacts read open")


def test_the_lock_opens_only_when_the_contacts_read_open() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sock().contactor.feedback_delay_s = 0.3  # the mirror contact follows slowly
    h.limits(1, 16, authorized=False)
    h.run_until(lambda: not h.closed(), 1, "open")
    t_open = h.now
    h.run_until(lambda: not h.outputs[1].locked, 1, "unlock")
    assert h.now - t_open >= 0.3 - TICK  # not before the mirror contact said open


def test_without_a_mirror_contact_the_meter_decides_the_lock(tmp_path: Path) -> None:
    h = Harness(board_file(tmp_path, lambda t: t.replace("feedback = true", "feedback = false")))
    h.charge(1, 16)
    h.sim("meter_offline", connector=1, offline=True)
    h.limits(1, 16, authorized=False)
    h.run(10)
    assert not h.closed() and h.outputs[1].locked  # no mirror, no meter: the contacts are not known open
    h.sim("meter_offline", connector=1, offline=False)
    h.run(0.1)
    assert not h.outputs[1].locked  # the meter says no current


# -- 3. the contactor closes only after the lock confirmed locked -------------------------------------------------
def test_no_close_before_the_lock_confirmed() -> None:
    h = Harness()
    h.sim("lock", connector=1, jammed=True)  # jammed open
    h.limits(1, 16)
    h.plug(1)
    h.run(5)
    assert closes(h) == []  # never closed, not even for a moment
    assert Fault.LOCK.value in h.faults()
    h.sim("lock", connector=1, jammed=False)
    h.run_until(lambda: h.closed(), 8, "charging once locked")
    locked_at = next(t for t, v in h.sock().lock.recorder.history if v is True)
    assert h.sock().lock.locked and closes(h)[0] > locked_at


# -- 4. the diode is checked with the PWM on before the contactor closes ----------------------------------------
SETTINGS = EvseSettings(bands={"A": (10.5, 13.5), "B": (7.5, 10.5), "C": (4.5, 7.5), "D": (1.5, 4.5),
                               "E": (-1.5, 1.5), "F": (-13.5, -10.5)}, debounce_s=0.0)
METER = MeterReading((0.0, 0.0, 0.0))


def feed(ctl: ConnectorController, now: float, high: float, low: float | None, cmd: ConnectorCommand,
         lock: bool = True, test: bool | None = None) -> bool:
    out = ctl.step(now, ConnectorInputs(PilotReading(high, low), False, METER, rcd_self_test=test,
                                        lock_feedback=lock), cmd, set())
    return out.contactor


def test_no_close_in_the_tick_the_pwm_first_comes_on() -> None:
    ctl = ConnectorController(1, SETTINGS, 0.0)
    paused = ConnectorCommand(16.0, True, True)
    t = 0.0
    for _ in range(3):  # a car in C with the PWM off (paused), self-test passed, lock confirmed
        t += TICK
        feed(ctl, t, C_V, None, paused, test=True)
    assert ctl.status().pwm_duty is None
    t += TICK
    assert feed(ctl, t, C_V, None, ConnectorCommand(16.0, True, False)) is False  # PWM comes on now
    assert ctl.status().pilot == PilotMode.PWM.value
    t += TICK
    assert feed(ctl, t, C_V, None, ConnectorCommand(16.0, True, False)) is False  # no low phase read yet
    t += TICK
    assert feed(ctl, t, C_V, -12.0, ConnectorCommand(16.0, True, False)) is True  # a good low phase: close


def test_a_reading_without_pwm_does_not_count_as_the_diode() -> None:
    ctl = ConnectorController(1, SETTINGS, 0.0)
    t = 0.0
    for _ in range(3):
        t += TICK
        feed(ctl, t, C_V, -12.0, ConnectorCommand(16.0, True, True), test=True)  # -12 V read, but no PWM
    t += TICK
    assert feed(ctl, t, C_V, -12.0, ConnectorCommand(16.0, True, False)) is False
    assert not ctl.diode_seen


# -- 5. a NaN (inf, negative, absurd) meter reading is a meter fault --------------------------------------------
@pytest.mark.parametrize(
    "currents",
    [["nan", 0, 0], [0, "nan", 40], ["inf", 0, 0], [-5, 0, 0], [1e5, 0, 0], [0, 0, "-inf"]],
)
def test_an_invalid_meter_reading_is_a_meter_fault(currents: list[object]) -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("meter_override", connector=1, currents=currents)
    h.tick()
    assert Fault.METER.value in h.faults()
    h.run(6)
    assert Fault.METER_LOST.value in h.faults() and h.duty() is None


def test_nan_never_hides_an_overcurrent() -> None:
    assert overcurrent((math.nan, 40.0, 0.0), 16.0)
    assert overcurrent((0.0, 0.0, math.nan), 16.0)
    assert not overcurrent((16.8, 16.8, 16.8), 16.0)


# -- 6. a lost socket meter suspends the socket after a bound ---------------------------------------------------
def test_a_lost_meter_suspends_and_resumes() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("meter_offline", connector=1, offline=True)
    h.run(5.0 - 2 * TICK)
    assert h.closed() and Fault.METER.value in h.faults()  # reported, the bound not reached
    h.run_until(lambda: Fault.METER_LOST.value in h.faults(), 3 * TICK, "meter lost")
    assert h.duty() is None  # paused: the car is asked to stop
    h.run_until(lambda: not h.closed(), 1, "the car stopped")
    status = derive_status(StatusInputs("B", False, 16.0, 0.0, tuple(h.faults()), True, False, False))
    assert (status.status, status.error_code) == ("SuspendedEVSE", "PowerMeterFailure")
    h.sim("meter_offline", connector=1, offline=False)
    h.tick()
    assert Fault.METER_LOST.value not in h.faults() and Fault.METER.value not in h.faults()
    h.run_until(lambda: h.closed(), 8, "charging again")


# -- 8. state D needs ventilation ------------------------------------------------------------------------------
def test_state_d_without_ventilation_is_an_error() -> None:
    h = Harness()
    h.limits(1, 16)
    h.plug(1, ventilation=True)
    h.run(5)
    assert closes(h) == []
    assert Fault.VENTILATION.value in h.faults()
    h.unplug()
    assert h.faults() == []


def test_state_d_with_ventilation_is_energised(tmp_path: Path) -> None:
    h = Harness(board_file(tmp_path, lambda t: t.replace("phases = 3\n", "phases = 3\nventilation = true\n")))
    h.limits(1, 16)
    h.plug(1, ventilation=True)
    h.run_until(lambda: h.closed(), 5, "energised in D")
    assert h.state() == "D" and h.faults() == []


# -- 9. ContactorProtect counts the EV's own requests only -----------------------------------------------------
def test_pauses_the_station_causes_are_not_counted() -> None:
    h = Harness(config={"ContactorProtect": "600"})
    h.charge(1, 16)
    for _ in range(12):  # the station pauses and resumes: the car follows each time
        h.limits(1, 16, suspended=True)
        h.run_until(lambda: h.state() == "B", 3, "the car follows the pause")
        h.limits(1, 16)
        h.run_until(lambda: h.closed(), 8, "resumed")
    assert Fault.CONTACTOR_PROTECT.value not in h.faults()
    assert h.ctl().ev_switches(h.now, 600) == 1  # only the car's first start


# -- 12. the proximity pilot: the cable's rating caps the offer; no valid PP, no charge -----------------------------
@pytest.mark.parametrize(("cable_a", "duty"), [(13, 21.66), (20, 33.33), (32, 53.33), (63, 53.33)])
def test_the_cable_rating_caps_the_offer(cable_a: float, duty: float) -> None:
    h = Harness()
    h.limits(1, 32)
    h.plug(1, cable_a=cable_a)
    h.run_until(lambda: h.closed(), 5)
    assert h.duty() == duty  # never more than the cable (63 A: the socket's 32 A)
    assert h.status()["cable_a"] == cable_a


def test_an_invalid_pp_means_no_charge() -> None:
    h = Harness()
    h.limits(1, 16)
    h.plug(1)
    h.sim("ev_misbehave", connector=1, pp_broken=True)
    h.run(5)
    assert closes(h) == [] and Fault.CABLE.value in h.faults()


def test_a_pp_that_stays_open_with_a_car_is_a_cable_fault() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sock().pp.read_ohms = lambda: math.inf  # type: ignore[method-assign]  # the PP line broke
    h.tick()
    assert not h.closed() and Fault.CABLE.value not in h.faults()  # at once: open, as a plug coming out
    h.run(0.3)
    assert Fault.CABLE.value in h.faults()


def test_a_fixed_cable_has_no_pp(tmp_path: Path) -> None:
    def edit(text: str) -> str:
        return text.replace('pp = { driver = "sim" }\n', "").replace("connectors = 1\n", "connectors = 1\nfixed_cable = true\n")

    h = Harness(board_file(tmp_path, edit))
    assert h.pp.sockets[1].pp is None
    h.charge(1, 32)
    assert h.duty() == 53.33 and h.status()["cable_a"] is None


# -- 14. welded contacts without a mirror contact: the meter sees current on an open socket ---------------------
def test_weld_without_a_mirror_is_seen_by_the_meter(tmp_path: Path) -> None:
    h = Harness(board_file(tmp_path, lambda t: t.replace("feedback = true", "feedback = false")))
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, welded=True, refuse_to_stop=True)
    h.limits(1, 16, authorized=False)
    h.run_until(lambda: not h.closed(), 7, "commanded open (6 s after PWM off)")
    t_open = h.now
    h.run(1.0 - TICK)
    assert Fault.WELDED_CONTACT.value not in h.faults()
    h.run_until(lambda: Fault.WELDED_CONTACT.value in h.faults(), 3 * TICK, "weld")
    assert h.now - t_open > 1.0
    h.tick()
    assert h.state() == "F" and h.outputs[1].locked


# -- 15. the registry refuses what the loop refuses -----------------------------------------------------------
@pytest.mark.parametrize(("key", "value"), [("TemperatureHigh", "500"), ("Connector1-MaxCurrent", "5000"),
                                            ("Chameleon-MinCurrent", "90"), ("Station-MaxCurrent", "5000")])
def test_values_the_loop_refuses_are_rejected(tmp_path: Path, key: str, value: str) -> None:
    from controller.config.registry import ConfigRegistry
    from controller.config.store import ConfigStore

    assert ConfigRegistry(ConfigStore(tmp_path / "c.json")).set(key, value) == "Rejected"


def test_a_restarted_loop_never_reports_a_guessed_unplug() -> None:
    """A fresh loop starts knowing nothing: it must not report state A (an unplug to the session manager)
    before the pilot said so."""
    h = Harness()
    h.charge(1, 16)
    before = len(h.messages)
    h.restart()
    h.run(1)
    states = [m["cp_state"] for m in h.sent("state")[sum(1 for m in h.messages[:before] if type(m).TAG == "state"):]]
    assert states and "A" not in states
