"""Configuration values as OCPP holds them (strings), parsed robustly; and the station-wide limits with the
clock and the readings at each edge: temperature both ways, sensor lost, tilt and its calibration, protective
earth, the main process heartbeat, the loop stall hold."""

from __future__ import annotations

import math
from typing import Any

import pytest

from controller.evse.faults import Fault
from controller.evse.settings import EvseConfig, RcdMode
from controller.evse.station import StationInputs, StationLimits, StationLimitSettings


@pytest.mark.parametrize(
    ("key", "value", "attr", "expect"),
    [
        ("TemperatureHigh", "65.5", "temperature_high_c", 65.5),
        ("TemperatureHigh", " 60 ", "temperature_high_c", 60.0),
        ("TemperatureHigh", "hot", "temperature_high_c", 70.0),
        ("TemperatureHigh", "nan", "temperature_high_c", 70.0),
        ("TemperatureHigh", "inf", "temperature_high_c", 70.0),
        ("TemperatureLow", "-30", "temperature_low_c", -30.0),
        ("TemperatureLow", "", "temperature_low_c", -25.0),
        ("ContactorProtect", "0", "contactor_protect_s", 0),
        ("ContactorProtect", "32767", "contactor_protect_s", 32767),
        ("ContactorProtect", "32768", "contactor_protect_s", 60),
        ("ContactorProtect", "-1", "contactor_protect_s", 60),
        ("ContactorProtect", "12.5", "contactor_protect_s", 60),
        ("ContactorProtect", "30.0", "contactor_protect_s", 30),
        ("Disable105Percent", "true", "disable_105_percent", True),
        ("Disable105Percent", "TRUE", "disable_105_percent", True),
        ("Disable105Percent", "yes", "disable_105_percent", False),
        ("6mADetectResponse", "Smart", "rcd_mode", RcdMode.SMART),
        ("6mADetectResponse", "smart", "rcd_mode", RcdMode.SMART),
        ("6mADetectResponse", "Delayed", "rcd_mode", RcdMode.IMMEDIATE),
        ("StrictPEMeasurementEnabled", "true", "strict_pe", True),
        ("StrictPEMeasurementEnabled", "1", "strict_pe", True),
        ("Chameleon-MinCurrent", "10", "chameleon_min_a", 10.0),
        ("Chameleon-MinCurrent", "-2", "chameleon_min_a", 14.0),
        ("ZE-ready", "false", "ze_ready", False),
        ("ZE-ready", "True", "ze_ready", True),
        ("Station-MaxCurrent", "25.0", "station_max_a", 25.0),
        ("Station-MaxCurrent", "lots", "station_max_a", None),
        ("_TiltOffset", "3.25", "tilt_offset_deg", 3.25),
        ("_TiltOffset", "", "tilt_offset_deg", None),
        ("_TiltOffset", "400", "tilt_offset_deg", None),
    ],
)
def test_config_values(key: str, value: Any, attr: str, expect: Any) -> None:
    c = EvseConfig()
    rejected = c.apply({key: value})
    assert getattr(c, attr) == expect
    if expect == getattr(EvseConfig(), attr) and (key, value) not in {("ZE-ready", "false"), ("_TiltOffset", "")}:
        assert rejected == [f"{key}={value!r}"]  # bad value: old one kept, reported
    else:
        assert rejected == []


def test_config_odd_types_never_raise() -> None:
    c = EvseConfig()
    rejected = c.apply({"TemperatureHigh": None, "ContactorProtect": [1], "ZE-ready": 3, "Connector1-MaxCurrent": {}})
    assert len(rejected) == 4
    assert c == EvseConfig()
    assert c.apply({"Connector2-MaxCurrent": "13", "Unknown": "x", "Connector1-Type": "Type 2 socket"}) == []
    assert c.connector_max_a == {2: 13.0}


def test_calibrate_tilt_is_ignored_when_replayed_with_the_offset() -> None:
    c = EvseConfig()
    c.apply({"CalibrateTilt": "1"})
    assert c.calibrate_tilt
    c = EvseConfig()
    c.apply({"CalibrateTilt": "1", "_TiltOffset": "2.0"})
    assert not c.calibrate_tilt and c.tilt_offset_deg == 2.0


# -- station limits -------------------------------------------------------------------------------------------
def station(**cfg: Any) -> StationLimits:
    return StationLimits(StationLimitSettings(tilt_threshold_deg=15.0), EvseConfig(**cfg))


def step(s: StationLimits, now: float = 10.0, main_seen: float = 10.0, **inp: Any) -> set[Fault]:
    return s.step(now, StationInputs(**inp), main_seen)


@pytest.mark.parametrize(
    ("temps", "fault", "active"),
    [
        ([69.9], Fault.HIGH_TEMPERATURE, False),
        ([70.0], Fault.HIGH_TEMPERATURE, True),  # at the limit: pause
        ([70.0, 66.0], Fault.HIGH_TEMPERATURE, True),  # inside the band but not by 5 °C yet
        ([70.0, 65.0], Fault.HIGH_TEMPERATURE, True),  # exactly 5 °C below: still paused
        ([70.0, 64.99], Fault.HIGH_TEMPERATURE, False),  # resumes below High - 5
        ([70.0, 64.0, 69.0], Fault.HIGH_TEMPERATURE, False),  # and only pauses again at High
        ([-24.9], Fault.LOW_TEMPERATURE, False),
        ([-25.0], Fault.LOW_TEMPERATURE, True),
        ([-25.0, -20.0], Fault.LOW_TEMPERATURE, True),
        ([-25.0, -19.99], Fault.LOW_TEMPERATURE, False),
    ],
)
def test_temperature_band_with_hysteresis(temps: list[float], fault: Fault, active: bool) -> None:
    s = station()
    faults: set[Fault] = set()
    for t in temps:
        faults = step(s, temperature_c=t)
    assert (fault in faults) is active


@pytest.mark.parametrize("reading", [None, math.nan])
def test_temperature_sensor_lost_stops(reading: float | None) -> None:
    s = station()
    step(s, temperature_c=75.0)
    faults = step(s, temperature_c=reading)
    assert Fault.TEMPERATURE_SENSOR in faults and Fault.HIGH_TEMPERATURE not in faults
    assert Fault.TEMPERATURE_SENSOR not in step(s, temperature_c=25.0)


@pytest.mark.parametrize(
    ("offset", "readings", "tilted"),
    [
        (None, [15.0], False),  # uncalibrated: against the sensor's vertical
        (None, [15.01], True),
        (5.0, [20.0], False),  # relative to the calibration
        (5.0, [20.01], True),
        (5.0, [20.01, 19.0], True),  # not upright yet: 14° > 15 - 2
        (5.0, [20.01, 18.0], False),  # 13° = threshold - margin: upright again
        (5.0, [math.nan], True),  # a failed reading counts as tilted
        (5.0, [None], False),  # a board without a tilt sensor
    ],
)
def test_tilt(offset: float | None, readings: list[float | None], tilted: bool) -> None:
    s = station(tilt_offset_deg=offset)
    faults: set[Fault] = set()
    for r in readings:
        faults = step(s, tilt_deg=r)
    assert (Fault.TILT in faults) is tilted


def test_calibration_takes_the_next_reading() -> None:
    s = station()
    s.config.apply({"CalibrateTilt": "x"})
    step(s, tilt_deg=7.5)
    assert s.calibration is not None and s.calibration.tilt_offset_deg == 7.5
    assert s.config.tilt_offset_deg == 7.5
    assert Fault.TILT not in step(s, tilt_deg=22.5)
    assert Fault.TILT in step(s, tilt_deg=22.6)
    s.calibration = None
    s.config.apply({"CalibrateTilt": "x"})
    step(s, tilt_deg=None)
    assert s.calibration is not None and s.calibration.tilt_offset_deg is None and s.calibration.error
    assert s.config.tilt_offset_deg == 7.5  # a failed calibration keeps the old one


@pytest.mark.parametrize(
    ("strict", "pe", "missing"),
    [(False, False, False), (False, None, False), (True, True, False), (True, False, True), (True, None, True)],
)
def test_protective_earth(strict: bool, pe: bool | None, missing: bool) -> None:
    assert (Fault.PE_MISSING in step(station(strict_pe=strict), pe_present=pe)) is missing


@pytest.mark.parametrize(("silent_for", "paused"), [(2.99, False), (3.0, False), (3.01, True)])
def test_main_process_silence(silent_for: float, paused: bool) -> None:
    assert (Fault.MAIN_SILENT in step(station(), now=10.0 + silent_for, main_seen=10.0)) is paused


def test_loop_stall_is_held() -> None:
    s = station()
    s.note_stall(10.0)
    assert Fault.LOOP_STALL in step(s, now=10.0)
    assert Fault.LOOP_STALL in step(s, now=14.99, main_seen=14.99)
    assert Fault.LOOP_STALL not in step(s, now=15.0, main_seen=15.0)
