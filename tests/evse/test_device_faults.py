"""Every device read that fails fails safe (defect 13), as a table: while charging, one device starts to fail
in one way (it raises DeviceError, raises something else, or answers with something that is not a reading);
within the tick the loop must report the device's fault and the contactor must be open (or, for the meter,
charging stops after its bound). Each row breaks if that failure mode reads as healthy."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from controller.evse.faults import Fault
from controller.evse.protocol import StationSample
from hal.errors import DeviceError, DeviceOffline
from hal.interfaces import MeterReading, PilotReading
from tests.evse.harness import Harness


def raises(exc: Exception) -> Callable[..., Any]:
    def fail(*_: Any) -> Any:
        raise exc

    return fail


def returns(value: Any) -> Callable[..., Any]:
    return lambda *_: value


OFFLINE = raises(DeviceOffline("does not answer"))
BUS = raises(OSError(121, "Remote I/O error"))  # not a DeviceError: a driver that lets a bus error through
BUG = raises(ZeroDivisionError("driver bug"))

# (where: socket device or station device, the attribute, its method, the failure, the fault it must raise)
ROWS: list[tuple[str, str, str, Callable[..., Any], Fault]] = [
    ("socket", "pilot", "read", OFFLINE, Fault.PILOT_ERROR),
    ("socket", "pilot", "read", BUS, Fault.PILOT_ERROR),
    ("socket", "pilot", "read", returns(None), Fault.PILOT_ERROR),
    ("socket", "pilot", "read", returns(PilotReading(math.nan, -12.0)), Fault.PILOT_ERROR),
    ("socket", "pilot", "read", returns(PilotReading(6.0, math.inf)), Fault.PILOT_ERROR),
    ("socket", "pilot", "read", returns(PilotReading(40.0, None)), Fault.PILOT_ERROR),
    ("socket", "rcd", "tripped", OFFLINE, Fault.RCD_MONITOR),
    ("socket", "rcd", "tripped", BUG, Fault.RCD_MONITOR),
    ("socket", "rcd", "tripped", returns(None), Fault.RCD_MONITOR),  # None is not "not tripped"
    ("socket", "rcd", "tripped", returns("no"), Fault.RCD_MONITOR),
    ("socket", "contactor", "feedback_closed", OFFLINE, Fault.CONTACTOR_FEEDBACK),
    ("socket", "contactor", "feedback_closed", returns(1), Fault.CONTACTOR_FEEDBACK),
    ("socket", "lock", "feedback_locked", OFFLINE, Fault.LOCK),
    ("socket", "lock", "feedback_locked", returns("locked"), Fault.LOCK),
    ("socket", "pp", "read_ohms", OFFLINE, Fault.CABLE),
    ("socket", "pp", "read_ohms", returns(math.nan), Fault.CABLE),
    ("socket", "pp", "read_ohms", returns(-5.0), Fault.CABLE),
    ("station", "temperature", "read_celsius", OFFLINE, Fault.TEMPERATURE_SENSOR),
    ("station", "temperature", "read_celsius", BUS, Fault.TEMPERATURE_SENSOR),
    ("station", "temperature", "read_celsius", returns(math.nan), Fault.TEMPERATURE_SENSOR),
    ("station", "temperature", "read_celsius", returns(1000.0), Fault.TEMPERATURE_SENSOR),
    ("station", "temperature", "read_celsius", returns(None), Fault.TEMPERATURE_SENSOR),
    ("station", "tilt", "read_tilt_deg", OFFLINE, Fault.TILT),  # the uncalibrated check reads the angle
    ("station", "tilt", "read_tilt_deg", returns(math.nan), Fault.TILT),
    ("station", "tilt", "read_tilt_deg", returns(-3.0), Fault.TILT),
]


def break_device(h: Harness, where: str, attr: str, method: str, failure: Callable[..., Any]) -> None:
    owner = getattr(h.pp.sockets[1], attr) if where == "socket" else getattr(h.pp, attr)
    setattr(owner, method, failure)


@pytest.mark.parametrize(("where", "attr", "method", "failure", "fault"), ROWS,
                         ids=[f"{r[1]}.{r[2]}-{i}" for i, r in enumerate(ROWS)])
def test_a_failing_read_stops_charging_within_the_tick(
    where: str, attr: str, method: str, failure: Callable[..., Any], fault: Fault
) -> None:
    h = Harness()
    h.charge(1, 16)
    break_device(h, where, attr, method, failure)
    h.tick()
    assert fault.value in h.faults()
    assert not h.closed()


@pytest.mark.parametrize(("where", "attr", "method", "failure", "fault"), ROWS,
                         ids=[f"{r[1]}.{r[2]}-{i}" for i, r in enumerate(ROWS)])
def test_a_failing_read_never_lets_a_session_start(
    where: str, attr: str, method: str, failure: Callable[..., Any], fault: Fault
) -> None:
    h = Harness()
    break_device(h, where, attr, method, failure)
    h.limits(1, 16)
    h.plug(1)
    h.run(3)
    assert not any(v for _, v in h.sock().contactor.recorder.history)


@pytest.mark.parametrize(
    "failure",
    [OFFLINE, BUG, returns((math.nan, 0.0, 1.0)), returns((0.0, 0.0, 0.0)), returns((0.0, 0.0, 9.0)), returns(None)],
    ids=["offline", "bug", "nan", "zero", "not-gravity", "none"],
)
def test_a_calibrated_tilt_sensor_that_fails_counts_as_tilted(failure: Callable[..., Any]) -> None:
    h = Harness(config={"_TiltVector": "0,0,1"})
    h.charge(1, 16)
    h.pp.tilt.read_vector = failure  # type: ignore[union-attr]
    h.tick()
    assert Fault.TILT.value in h.faults() and not h.closed()


@pytest.mark.parametrize("failure", [OFFLINE, BUG, returns(None), returns(1)], ids=["offline", "bug", "none", "int"])
def test_an_unreadable_pe_is_missing(failure: Callable[..., Any]) -> None:
    h = Harness(config={"StrictPEMeasurementEnabled": "true"})
    h.charge(1, 16)
    h.pp.pe.pe_present = failure  # type: ignore[union-attr]
    h.tick()
    assert Fault.PE_MISSING.value in h.faults() and not h.closed()


@pytest.mark.parametrize(
    "failure",
    [OFFLINE, BUG, returns(None), returns(MeterReading((math.nan, 0.0, 0.0))),
     returns(MeterReading((5.0, 5.0, 5.0), voltages_v=(math.inf, 230.0, 230.0))),
     returns(MeterReading((5.0, 5.0, 5.0), energy_wh=-1.0))],
    ids=["offline", "bug", "none", "nan", "inf-voltage", "negative-energy"],
)
def test_an_unreadable_meter_is_reported_at_once_and_suspends_after_its_bound(failure: Callable[..., Any]) -> None:
    h = Harness()
    h.charge(1, 16)
    h.pp.sockets[1].meter.read = failure  # type: ignore[method-assign]
    h.tick()
    assert Fault.METER.value in h.faults()
    h.run(5.0)
    assert Fault.METER_LOST.value in h.faults() and h.duty() is None


@pytest.mark.parametrize("failure", [OFFLINE, BUG, returns(None)], ids=["offline", "bug", "none"])
def test_a_self_test_that_cannot_run_has_not_passed(failure: Callable[..., Any]) -> None:
    h = Harness()
    h.pp.sockets[1].rcd.self_test = failure  # type: ignore[method-assign]
    h.limits(1, 16)
    h.plug(1)
    h.run(3)
    assert Fault.RCD_SELF_TEST.value in h.faults()
    assert not any(v for _, v in h.sock().contactor.recorder.history)


def test_an_unreadable_suspend_input_suspends() -> None:
    h = Harness()
    h.pp.suspend.active = OFFLINE  # type: ignore[union-attr]
    h.tick()
    station = h.loop.samples()[0]
    assert isinstance(station, StationSample) and station.suspend_input is True  # reported to the energy manager


def test_a_monitor_that_was_unreadable_is_tested_again_before_a_close() -> None:
    h = Harness()
    h.charge(1, 16)
    real = h.pp.sockets[1].rcd.tripped
    h.pp.sockets[1].rcd.tripped = OFFLINE  # type: ignore[method-assign]
    h.tick()
    assert not h.closed()
    h.pp.sockets[1].rcd.tripped = real  # type: ignore[method-assign]
    h.run_until(lambda: h.closed(), 8, "charging again")
    assert h.sock().rcd.self_tests == 2


def test_device_error_is_raised_by_the_sim_devices_when_lost() -> None:
    """The simulated devices fail like the real ones: with DeviceError (what the rows above inject)."""
    h = Harness()
    h.sim("temperature", lost=True)
    with pytest.raises(DeviceError):
        h.pp.temperature.read_celsius()
