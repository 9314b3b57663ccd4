"""Every transition and limit with a realistic car: the simulated world and the control loop stepped together
in-process on a fake clock (10 ms ticks), each timer checked just before and just after its edge."""

from __future__ import annotations

import pytest

from controller.evse.faults import Fault
from controller.evse.protocol import ClearFaults
from tests.evse.harness import Harness

TICK = 0.01


def opened_within(h: Harness, seconds: float, cid: int = 1) -> float:
    return h.run_until(lambda: not h.closed(cid), seconds, "contactor open")


def fault_reported(h: Harness, fault: Fault, cid: int = 1) -> bool:
    """The fault went out through the one path: a `state` message of the connector."""
    return any(m["connector"] == cid and fault.value in m["faults"] for m in h.sent("state"))


# -- the normal session ---------------------------------------------------------------------------------------
def test_session_states_and_energise_within_3_s_of_b_to_c() -> None:
    h = Harness()
    h.limits(1, 16)
    h.plug(1)
    h.run_until(lambda: h.status()["iec_state"] == "B2", 1, "B2")
    assert h.sock().rcd.self_tests == 1  # at plug-in, before any close
    h.run_until(lambda: h.sock().ev.state == "C", 1, "the car asks for C")
    t_c = h.now
    h.run_until(lambda: h.closed(), 3, "energised")
    assert h.now - t_c <= 0.25 + 2 * TICK  # the 250 ms debounce, then at once; well within 3 s
    assert h.status()["iec_state"] == "C2" and h.duty() == 26.66
    h.run_until(lambda: h.sock().meter.currents[0] > 15.9, 2, "drawing")
    h.limits(1, 16, authorized=False)  # stop
    h.tick()
    assert h.status()["iec_state"] == "C1" and h.closed()  # PWM off at once; the car gets time to stop
    assert opened_within(h, 0.1) <= 0.05 + 2 * TICK  # the car went to B: open within 100 ms
    h.unplug()
    assert h.state() == "A" and not h.closed()
    assert h.sock().rcd.self_tests == 1


def test_b_to_c_debounce_edge() -> None:
    h = Harness()
    h.limits(1, 16)
    h.plug(1)
    h.run_until(lambda: h.sock().ev.state == "C", 1)
    t_c = h.now
    h.run_until(lambda: h.state() == "C", 1)
    assert h.now - t_c == pytest.approx(0.25, abs=TICK + 1e-6)
    assert h.now - t_c >= 0.25 - 1e-6  # not before the edge


def test_debounce_c_to_b_edge() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_pause", connector=1)
    h.run_until(lambda: h.sock().ev.state == "B", 1)
    t_b = h.now
    h.run(0.05 - TICK)
    assert h.state() == "C" and h.closed()  # just before 50 ms
    h.run_until(lambda: h.state() == "B", 2 * TICK)
    assert not h.closed()  # the contactor opens in the tick B is accepted
    assert h.now - t_b <= 0.05 + TICK + 1e-6


def test_unplug_opens_within_one_tick_and_is_an_unplug_after_the_debounce() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sock().ev.unplug()
    h.tick()
    assert not h.closed()  # the first +12 V sample opens the contactor
    assert h.state() == "C"  # but one sample is not an unplug yet
    h.run(0.25 - 2 * TICK)
    assert h.state() == "C"
    h.run_until(lambda: h.state() == "A", 2 * TICK)


def test_a_single_12v_sample_clears_no_latch() -> None:
    """Defect 10: one +12 V sample counted as an unplug and cleared UNPLUG latches."""
    h = Harness()
    h.charge(1, 16)
    h.sim("rcd", connector=1, trip=True)
    h.tick()
    h.sim("rcd", connector=1, trip=False)
    assert Fault.RESIDUAL_CURRENT.value in h.faults()
    for _ in range(3):  # a glitch: the pilot reads +12 V for one sample, then the car again
        h.sock().ev.plugged = False
        h.tick()
        h.sock().ev.plugged = True
        h.run(0.1)
    assert Fault.RESIDUAL_CURRENT.value in h.faults() and h.state() != "A"
    h.run(5)
    assert not h.closed()
    h.unplug()
    assert h.faults() == []


# -- PWM pacing -----------------------------------------------------------------------------------------------
def test_pwm_raise_waits_5_s_lowering_is_immediate() -> None:
    h = Harness()
    h.charge(1, 16)
    h.limits(1, 10)
    h.tick()
    assert h.duty() == 16.66  # lowered at once
    t_low = h.now
    h.limits(1, 32)
    h.run(5.0 - 2 * TICK)
    assert h.duty() == 16.66  # just before 5 s
    h.run_until(lambda: h.duty() == 53.33, 3 * TICK)
    assert h.now - t_low == pytest.approx(5.0, abs=TICK + 1e-6)


def test_a_new_car_gets_its_pwm_at_once() -> None:
    h = Harness()
    h.charge(1, 16)
    h.unplug()
    h.plug(1)
    h.run_until(lambda: h.state() == "B", 1)
    h.tick()
    assert h.duty() == 26.66  # not held back by the PWM switching off at the unplug


def test_pause_and_resume_paces_the_pwm() -> None:
    h = Harness()
    h.charge(1, 16)
    h.limits(1, 16, suspended=True)
    h.tick()
    assert h.duty() is None
    t_off = h.now
    h.limits(1, 16)
    h.run(4.9)
    assert h.duty() is None
    h.run_until(lambda: h.duty() == 26.66, 0.2)
    assert h.now - t_off == pytest.approx(5.0, abs=TICK + 1e-6)


# -- a car that keeps drawing after PWM off --------------------------------------------------------------------
def test_car_ignoring_pwm_off_is_cut_after_6_s() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, refuse_to_stop=True)
    h.limits(1, 16, authorized=False)
    h.tick()
    t_off = h.now
    assert h.duty() is None
    h.run(6.0 - 2 * TICK)
    assert h.closed() and h.sock().meter.currents[0] > 15  # still drawing, just before 6 s
    assert Fault.OVERCURRENT.value not in h.faults()  # after 5 s there is no offer to compare with
    h.run_until(lambda: not h.closed(), 3 * TICK)
    assert h.now - t_off == pytest.approx(6.0, abs=TICK + 1e-6)
    assert fault_reported(h, Fault.EV_IGNORES_PWM_OFF)


def test_ev_ignores_pwm_off_reported_while_the_car_stays_in_c() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, refuse_to_stop=True)
    h.limits(1, 16, suspended=True)
    h.run(6.1)
    assert not h.closed() and h.state() == "C"
    h.limits(1, 16)
    h.run(10)
    assert Fault.EV_IGNORES_PWM_OFF.value in h.faults() and h.duty() is None  # no new offer while it lasts
    h.sim("ev_misbehave", connector=1, refuse_to_stop=False)
    h.run(0.5)
    assert Fault.EV_IGNORES_PWM_OFF.value not in h.faults()
    h.run_until(lambda: h.closed(), 8, "charging again")


# -- contactor feedback ---------------------------------------------------------------------------------------
def test_welded_contactor_latches_f_and_never_closes_until_cleared() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, welded=True)
    h.limits(1, 16, authorized=False)
    h.run_until(lambda: not h.closed(), 0.2)
    t_open = h.now
    h.run(0.5 - 2 * TICK)
    assert Fault.WELDED_CONTACT.value not in h.faults()  # just before the feedback timeout
    h.run(2 * TICK)
    assert Fault.WELDED_CONTACT.value in h.faults()
    assert h.now - t_open <= 0.5 + TICK + 1e-6
    h.tick()
    st = h.status()
    assert st["pilot"] == "negative" and st["cp_state"] == "F"  # state F: EVSE unavailable
    h.limits(1, 16)  # asked to charge again: never closes
    h.run(10)
    assert not any(v for _, v in h.sock().contactor.recorder.history if _ > t_open)
    h.send(ClearFaults())  # cleared while still welded: latches again at once
    h.tick()
    h.tick()
    assert Fault.WELDED_CONTACT.value in h.faults()
    h.sim("ev_misbehave", connector=1, welded=False)
    h.run(0.1)
    h.send(ClearFaults(1))
    h.run_until(lambda: h.closed(), 8, "charging again after repair and clear")
    assert fault_reported(h, Fault.WELDED_CONTACT)


def test_contactor_not_closing() -> None:
    h = Harness()
    h.limits(1, 16)
    h.plug(1)
    h.sock().contactor.feedback_delay_s = 99.0  # the mirror contact never follows
    h.run_until(lambda: h.closed(), 3)
    t_close = h.now
    h.run(0.5 - 2 * TICK)
    assert h.closed()
    h.run_until(lambda: not h.closed(), 3 * TICK)
    assert h.now - t_close == pytest.approx(0.5, abs=TICK + 1e-6)
    assert Fault.CONTACTOR_NOT_CLOSING.value in h.faults()


# -- ContactorProtect -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("requests", "error"), [(10, False), (11, True)])
def test_contactor_protect_11_vs_10(requests: int, error: bool) -> None:
    h = Harness()
    h.charge(1, 16)  # request 1: B -> C
    for i in range(requests - 1):  # requests 2..: stop, start, stop, ...
        h.sim("ev_pause" if i % 2 == 0 else "ev_resume", connector=1)
        h.run(1.0)
    assert (Fault.CONTACTOR_PROTECT.value in h.faults()) is error
    if error:
        assert not h.closed() and h.status()["pilot"] == "high"
        h.sim("ev_resume", connector=1)
        h.run(10)
        assert not h.closed()  # error state until unplugged
        h.unplug()
        assert h.faults() == []
        h.charge(1, 16)
    else:
        h.run(60)  # the window has passed: the next request is fine
        h.sim("ev_resume", connector=1)
        h.run_until(lambda: h.closed(), 6)
        assert h.faults() == []


def test_contactor_protect_window_and_zero() -> None:
    h = Harness(config={"ContactorProtect": "5"})
    h.charge(1, 16)
    for i in range(12):  # 13 requests, 1 s apart: never more than 10 within 5 s
        h.sim("ev_pause" if i % 2 == 0 else "ev_resume", connector=1)
        h.run(1.0)
    assert Fault.CONTACTOR_PROTECT.value not in h.faults()
    h = Harness(config={"ContactorProtect": "0"})  # 0: the check is off
    h.charge(1, 16)
    for i in range(14):
        h.sim("ev_pause" if i % 2 == 0 else "ev_resume", connector=1)
        h.run(0.4)
    assert Fault.CONTACTOR_PROTECT.value not in h.faults()


# -- 105 % -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("factor", "config", "trips"),
    [(1.06, {}, True), (1.04, {}, False), (1.06, {"Disable105Percent": "true"}, False)],
)
def test_overcurrent_106_vs_104(factor: float, config: dict[str, str], trips: bool) -> None:
    h = Harness(config=config)
    h.charge(1, 16)
    h.run(1.0)
    h.sim("ev_draw", connector=1, factor=factor)
    h.run_until(lambda: h.sock().meter.currents[0] > 16.2, 3, "the car overdraws")
    h.tick()
    assert (not h.closed()) is trips
    if trips:
        assert Fault.OVERCURRENT.value in h.faults() and h.duty() is None
        h.sim("ev_draw", connector=1, factor=1.0)
        h.run(10)
        assert not h.closed()  # recovery: only after the car is unplugged (or clear_faults)
        h.unplug()
        assert Fault.OVERCURRENT.value not in h.faults()
        h.charge(1, 16)
    else:
        h.run(30)
        assert h.closed() and h.faults() == []


@pytest.mark.parametrize(("reaction", "trips"), [(4.8, False), (5.3, True)])
def test_overcurrent_allows_the_cars_5_s_reaction(reaction: float, trips: bool) -> None:
    h = Harness()
    h.limits(1, 32)
    h.plug(1, response_delay_s=reaction)
    h.run_until(lambda: h.sock().meter.currents[0] > 31, 10, "drawing 32 A")
    h.limits(1, 16)
    h.tick()
    t_low = h.now
    h.run(5.0 - 2 * TICK)
    assert h.closed()  # the car still draws 32 A within its 5 s
    h.run(1.0)
    assert (not h.closed()) is trips
    if trips:
        opened = next(t for t, v in reversed(h.sock().contactor.recorder.history) if v is False)
        assert opened - t_low == pytest.approx(5.0, abs=TICK + 1e-6)


# -- temperature -------------------------------------------------------------------------------------------------
def test_temperature_high_pauses_and_resumes_with_hysteresis() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("temperature", celsius=69.9)
    h.run(1)
    assert h.closed()
    h.sim("temperature", celsius=70.0)
    h.tick()
    assert h.duty() is None and Fault.HIGH_TEMPERATURE.value in h.faults()
    assert opened_within(h, 0.2) < 0.1  # paused: the car stops, then the contactor opens
    assert any("high_temperature" in m["faults"] for m in h.sent("station_state"))
    h.sim("temperature", celsius=65.0)
    h.run(10)
    assert h.duty() is None
    h.sim("temperature", celsius=64.9)
    h.tick()
    assert Fault.HIGH_TEMPERATURE.value not in h.faults()
    h.run_until(lambda: h.closed(), 2, "resumed")


def test_temperature_low_pauses_and_resumes() -> None:
    h = Harness(config={"TemperatureLow": "-10"})
    h.charge(1, 16)
    h.sim("temperature", celsius=-10.0)
    h.tick()
    assert Fault.LOW_TEMPERATURE.value in h.faults() and h.duty() is None
    h.sim("temperature", celsius=-5.0)
    h.run(6)
    assert not h.closed()
    h.sim("temperature", celsius=-4.9)
    h.run_until(lambda: h.closed(), 2, "resumed")


def test_temperature_sensor_lost_stops_at_once() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("temperature", lost=True)
    h.tick()
    assert not h.closed() and Fault.TEMPERATURE_SENSOR.value in h.faults()
    assert h.status()["pilot"] == "negative"
    h.sim("temperature", lost=False)
    h.run_until(lambda: h.closed(), 8, "charging again")


# -- tilt -----------------------------------------------------------------------------------------------------
def test_tilt_during_charging_locks_out_until_upright() -> None:
    h = Harness()
    h.config({"CalibrateTilt": "1"})
    h.sim("tilt", degrees=3.0)
    h.tick()
    [cal] = h.sent("calibration")
    assert cal["tilt_deg"] == 3.0 and cal["error"] is None
    assert cal["tilt_vector"] == pytest.approx((0.0, 0.0523, 0.9986), abs=1e-4)
    h.charge(1, 16)
    h.sim("tilt", degrees=18.0)  # 15° relative: not beyond
    h.run(1)
    assert h.closed()
    h.sim("tilt", degrees=18.1)
    h.tick()
    assert not h.closed() and Fault.TILT.value in h.faults() and h.state() == "F"
    assert h.status()["pilot"] == "negative"
    h.sim("tilt", degrees=16.5)  # 13.5°: inside the threshold but not upright yet
    h.run(10)
    assert not h.closed() and Fault.TILT.value in h.faults()
    h.sim("tilt", degrees=16.0)  # 13°: upright again
    h.tick()
    assert Fault.TILT.value not in h.faults()
    h.run_until(lambda: h.closed(), 8, "charging again")


def test_tilt_calibration_handed_back_in_config() -> None:
    h = Harness(config={"_TiltVector": "0,0.173648,0.984808"})  # calibrated at 10° about X
    h.sim("tilt", degrees=10.0)
    h.charge(1, 16)
    h.sim("tilt", degrees=-5.5)  # 15.5° from the calibration, the other way
    h.tick()
    assert Fault.TILT.value in h.faults()


def test_calibrate_tilt_sees_a_tilt_to_the_other_side() -> None:
    """Defect 7: calibrated at 20°, a station tilted 20° the other way read 0° (a scalar offset)."""
    h = Harness()
    h.sim("tilt", degrees=20.0)
    h.config({"CalibrateTilt": "1"})
    h.charge(1, 16)
    h.sim("tilt", degrees=-20.0)
    h.tick()
    assert Fault.TILT.value in h.faults() and not h.closed()
    assert h.loop.station.relative_tilt_deg == pytest.approx(40.0, abs=0.01)


# -- residual current ------------------------------------------------------------------------------------------
def test_rcd_immediate_cuts_in_the_same_tick() -> None:
    h = Harness(config={"6mADetectResponse": "Immediate"})
    h.charge(1, 16)
    h.sim("rcd", connector=1, trip=True)
    h.tick()
    assert not h.closed() and h.duty() is None and Fault.RESIDUAL_CURRENT.value in h.faults()
    h.sim("rcd", connector=1, trip=False)
    h.run(5)
    assert not h.closed()  # latched until unplug
    h.unplug()
    assert h.faults() == []
    h.charge(1, 16)
    assert h.sock().rcd.self_tests == 2


def test_rcd_smart_lets_the_car_stop_first() -> None:
    h = Harness(config={"6mADetectResponse": "Smart"})
    h.charge(1, 16)
    h.sim("rcd", connector=1, trip=True)
    h.tick()
    assert h.closed() and h.duty() is None  # paused through the PWM, still closed
    assert opened_within(h, 0.2) <= 0.05 + 2 * TICK  # the car went to B
    assert Fault.RESIDUAL_CURRENT.value in h.faults()


def test_rcd_smart_cuts_after_5_s_if_the_car_keeps_drawing() -> None:
    h = Harness(config={"6mADetectResponse": "Smart"})
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, refuse_to_stop=True)
    h.sim("rcd", connector=1, trip=True)
    h.tick()
    t_trip = h.now
    h.run(5.0 - 2 * TICK)
    assert h.closed()  # just before 5 s
    h.run_until(lambda: not h.closed(), 3 * TICK)
    assert h.now - t_trip == pytest.approx(5.0, abs=TICK + 1e-6)


def test_rcd_self_test_failure_blocks_charging() -> None:
    h = Harness()
    h.sim("rcd", connector=1, self_test_fails=True)
    h.limits(1, 16)
    h.plug(1)
    h.run(5)
    assert not h.closed() and Fault.RCD_SELF_TEST.value in h.faults()
    assert not any(v for _, v in h.sock().contactor.recorder.history)
    h.sim("rcd", connector=1, self_test_fails=False)
    h.unplug()
    h.charge(1, 16)  # the next session tests again and passes


def test_self_test_runs_before_a_close_that_comes_at_once() -> None:
    from controller.evse.connector import ConnectorOutputs
    from controller.evse.devio import write_outputs
    from hal.interfaces import PilotOutput

    h = Harness()
    h.sim("rcd", connector=1, self_test_fails=True)
    # a close with the test request outstanding (a car plugged straight into C): the runner tests first
    res = write_outputs(h.pp, {1: ConnectorOutputs(PilotOutput.pwm(26.66), True, True, True)}, {})
    assert res == {1: False} and not h.sock().contactor.commanded
    h.sim("rcd", connector=1, self_test_fails=False)
    res = write_outputs(h.pp, {1: ConnectorOutputs(PilotOutput.pwm(26.66), True, True, True)}, {})
    assert res == {1: True} and h.sock().contactor.commanded


# -- pilot errors -----------------------------------------------------------------------------------------------
def test_diode_missing() -> None:
    h = Harness()
    h.sim("plug", connector=1)
    h.sim("ev_misbehave", connector=1, diode_missing=True)
    h.limits(1, 16)
    h.run(3)
    assert not any(v for _, v in h.sock().contactor.recorder.history)
    assert Fault.DIODE.value in h.faults() and h.state() == "E" and h.duty() is None
    h.unplug()
    assert h.faults() == []


def test_diode_lost_while_charging_cuts_in_one_tick() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, diode_missing=True)
    h.tick()
    assert not h.closed() and h.state() == "E"


def test_pilot_short_is_state_e() -> None:
    h = Harness()
    h.charge(1, 16)
    h.sim("ev_misbehave", connector=1, shorted=True)
    h.tick()
    assert h.state() == "E" and not h.closed() and Fault.PILOT_ERROR.value in h.faults()
    h.sim("ev_misbehave", connector=1, shorted=False)
    h.run_until(lambda: h.closed(), 8, "recovered")
    assert fault_reported(h, Fault.PILOT_ERROR)


# -- protective earth -------------------------------------------------------------------------------------------
def test_strict_pe() -> None:
    h = Harness()
    h.sim("pe", present=False)
    h.charge(1, 16)  # not strict: charges
    h.config({"StrictPEMeasurementEnabled": "true"})
    h.tick()
    assert not h.closed() and Fault.PE_MISSING.value in h.faults()
    h.run(3)
    assert not h.closed()
    h.sim("pe", present=True)
    h.run_until(lambda: h.closed(), 8, "charging with PE")


# -- Chameleon / ZE-ready ---------------------------------------------------------------------------------------
def test_ze_ready_never_offers_less_than_the_chameleon_minimum() -> None:
    h = Harness(config={"ZE-ready": "true", "Chameleon-MinCurrent": "14"})
    h.limits(1, 10)
    h.plug(1)
    h.run(3)
    assert h.duty() is None and h.state() == "B"  # below the minimum: pause instead
    h.limits(1, 14)
    h.run_until(lambda: h.closed(), 8)
    assert h.status()["offered_a"] == pytest.approx(14.0, abs=0.01)
    h.limits(1, 13)
    h.tick()
    assert h.duty() is None


def test_chameleon_detected_then_minimum_applied() -> None:
    h = Harness(config={"Chameleon-MinCurrent": "14"})
    h.limits(1, 10)
    h.plug(1, chameleon_min_a=12.0)
    h.run_until(lambda: h.closed(), 3)
    t0 = h.now
    h.run_until(lambda: h.duty() is None, 12, "detected")
    assert h.now - t0 == pytest.approx(10.0, abs=0.1)
    h.run(1)
    assert not h.closed()  # paused: the car went to B
    h.limits(1, 16)
    h.run_until(lambda: h.sock().meter.currents[0] > 15, 8, "charges at 16 A")
    h.limits(1, 10)
    h.tick()
    assert h.duty() is None  # stays applied for the session
    h.unplug()
    h.plug(1)
    h.run_until(lambda: h.closed(), 3)
    assert h.duty() == 16.66  # a new car is not assumed to be a Chameleon


# -- caps within one tick ---------------------------------------------------------------------------------------
def test_connector_and_station_max_cap_within_one_tick() -> None:
    h = Harness()
    h.charge(1, 32)
    assert h.duty() == 53.33
    h.config({"Connector1-MaxCurrent": "16"})
    h.tick()
    assert h.duty() == 26.66
    h.config({"Station-MaxCurrent": "10"})
    h.tick()
    assert h.duty() == 16.66
    h.config({"Connector1-MaxCurrent": "40", "Station-MaxCurrent": "100"})  # never above the board's 32 A
    h.run(6)
    assert h.duty() == 53.33
    h.config({"Connector1-MaxCurrent": "5"})
    h.tick()
    assert h.duty() is None


def test_station_share_on_a_double_socket() -> None:
    h = Harness(board="sim-double", config={"Station-MaxCurrent": "32"})
    h.charge(1, 32)
    h.limits(2, 32)
    h.plug(2)
    h.run_until(lambda: h.state(2) == "B", 1)
    h.tick()
    h.tick()
    assert h.duty(1) == 26.66  # lowered at once to the fair share
    t_low = h.now
    assert h.duty(2) is None  # waits until car 1 has had its 5 s to follow
    h.run_until(lambda: h.duty(2) is not None, 6)
    assert h.now - t_low == pytest.approx(5.0, abs=0.05)
    h.run_until(lambda: h.closed(2), 2)
    h.run(3)
    total = h.sock(1).meter.currents[0] + h.sock(2).meter.currents[0]
    assert total <= 32.1


# -- the main process and the loop's own health -------------------------------------------------------------------
def test_silent_main_process_pauses_charging() -> None:
    h = Harness()
    h.charge(1, 16)
    h.heartbeat = False
    t0 = h.last_heartbeat
    h.run_until(lambda: h.duty() is None, 5)
    assert h.now - t0 == pytest.approx(3.0, abs=2 * TICK)
    assert Fault.MAIN_SILENT.value in h.faults()
    h.run_until(lambda: not h.closed(), 0.2)
    h.heartbeat = True
    h.run_until(lambda: h.closed(), 8, "charging once the main process talks again")


def test_watchdog_trip_holds_the_outputs_safe_then_restarts_cleanly() -> None:
    h = Harness()
    h.charge(1, 16)
    for dev in (h.sock().contactor, h.sock().pilot, h.sock().lock):  # what the watchdog thread does
        dev.to_safe_state()
    h.loop.note_stall(h.now)
    h.last_pilot.clear()  # as the runner does
    h.tick()
    assert not h.closed() and Fault.LOOP_STALL.value in h.faults()
    assert any("loop_stall" in m["faults"] for m in h.sent("station_state"))
    h.run(4.9)
    assert not h.closed()
    h.run_until(lambda: h.closed(), 8, "a fresh start after the hold")
    assert Fault.CONTACTOR_NOT_CLOSING.value not in h.faults()


def test_bad_config_is_reported_and_never_crashes() -> None:
    h = Harness()
    h.config({"TemperatureHigh": "warm", "ContactorProtect": "-5", "ZE-ready": "maybe"})
    logs = h.sent("log")
    assert len(logs) == 3 and all("ignored config" in m["text"] for m in logs)
    h.charge(1, 16)


def test_station_sample_carries_temperature() -> None:
    h = Harness()
    h.sim("temperature", celsius=31.5)
    h.run(1.1)
    station = h.sent("station_sample")
    assert station and station[-1]["temperature_c"] == 31.5


def test_jammed_lock_is_a_lock_fault_after_its_timeout() -> None:
    h = Harness()
    h.charge()
    assert h.status()["locked"] is True
    h.sim("lock", connector=1, jammed=True)
    h.limits(authorized=False)  # the session ends: the lock is told to release
    h.run_until(lambda: not h.closed(), 8, "contactor open")
    h.run(0.9)
    assert Fault.LOCK.value not in h.faults()
    h.run(0.2)
    assert Fault.LOCK.value in h.faults()
    assert h.status()["locked"] is True  # the feedback, not the command
    h.sim("lock", connector=1, jammed=False)
    h.run(0.05)
    assert Fault.LOCK.value not in h.faults()
    assert h.status()["locked"] is False
