"""Configuration values as OCPP holds them (strings), parsed robustly, with the key table's ranges (the
registry refuses exactly what the loop refuses); and the station-wide limits with the clock and the readings
at each edge: temperature both ways (and the fixed hard limit), sensor lost, tilt by the gravity vector and
its calibration, protective earth, the main process heartbeat, the loop stall hold."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.evse.faults import Fault
from controller.evse.settings import KEY_SPECS, SIMPLE_KEYS, EvseConfig, RcdMode, connector_max_parser
from controller.evse.station import HARD_TEMPERATURE_MAX_C, StationInputs, StationLimits, StationLimitSettings


@pytest.mark.parametrize(
    ("key", "value", "attr", "expect"),
    [
        ("TemperatureHigh", "65.5", "temperature_high_c", 65.5),
        ("TemperatureHigh", " 60 ", "temperature_high_c", 60.0),
        ("TemperatureHigh", "hot", "temperature_high_c", 70.0),
        ("TemperatureHigh", "nan", "temperature_high_c", 70.0),
        ("TemperatureHigh", "inf", "temperature_high_c", 70.0),
        ("TemperatureHigh", "500", "temperature_high_c", 70.0),  # the key table's range: 0..85
        ("TemperatureHigh", "85", "temperature_high_c", 85.0),
        ("TemperatureLow", "-30", "temperature_low_c", -30.0),
        ("TemperatureLow", "", "temperature_low_c", -25.0),
        ("TemperatureLow", "-41", "temperature_low_c", -25.0),
        ("ContactorProtect", "0", "contactor_protect_s", 0),
        ("ContactorProtect", "32767", "contactor_protect_s", 32767),
        ("ContactorProtect", "32768", "contactor_protect_s", 60),
        ("ContactorProtect", "-1", "contactor_protect_s", 60),
        ("ContactorProtect", "12.5", "contactor_protect_s", 60),
        ("ContactorProtect", "30.0", "contactor_protect_s", 60),  # an integer is written as one (as the registry)
        ("ContactorProtect", " 30 ", "contactor_protect_s", 30),
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
        ("Chameleon-MinCurrent", "90", "chameleon_min_a", 14.0),
        ("ZE-ready", "false", "ze_ready", False),
        ("ZE-ready", "True", "ze_ready", True),
        ("Station-MaxCurrent", "25.0", "station_max_a", 25.0),
        ("Station-MaxCurrent", "lots", "station_max_a", 32.0),
        ("Station-MaxCurrent", "5000", "station_max_a", 32.0),
        ("_TiltVector", "0,0.342,0.94", "tilt_vector", (0.0, 0.342, 0.94)),
        ("_TiltVector", "", "tilt_vector", None),
        ("_TiltVector", "0,0,0", "tilt_vector", None),
        ("_TiltVector", "1,2", "tilt_vector", None),
        ("_TiltVector", "nan,0,1", "tilt_vector", None),
    ],
)
def test_config_values(key: str, value: Any, attr: str, expect: Any) -> None:
    c = EvseConfig()
    rejected = c.apply({key: value})
    assert getattr(c, attr) == expect
    if expect == getattr(EvseConfig(), attr) and (key, value) not in {("ZE-ready", "false"), ("_TiltVector", "")}:
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
    assert c.apply({"Connector1-MaxCurrent": "5000"}) == ["Connector1-MaxCurrent='5000'"]
    assert c.connector_max_a == {2: 13.0}


def test_calibrate_tilt_is_ignored_when_replayed_with_the_calibration() -> None:
    c = EvseConfig()
    c.apply({"CalibrateTilt": "1"})
    assert c.calibrate_tilt
    c = EvseConfig()
    c.apply({"CalibrateTilt": "1", "_TiltVector": "0,0,1"})
    assert not c.calibrate_tilt and c.tilt_vector == (0.0, 0.0, 1.0)


def test_defaults_come_from_the_key_table() -> None:
    c = EvseConfig()
    for key, attr in SIMPLE_KEYS.items():
        assert c.apply({key: KEY_SPECS[key].default}) == [], key
        assert getattr(c, attr) == getattr(EvseConfig(), attr), key


PROBES = ("-1000", "-41", "-40", "-2", "-1", "0", "1", "5.5", "6", "13", "14", "32", "32.5", "60", "80", "80.1", "85",
          "85.5", "90", "160", "161", "500", "5000", "32767", "32768", "nan", "inf", "x", "", "true", "TRUE", "false",
          "1.0", "Smart", "immediate", "Delayed")


@pytest.mark.parametrize("key", [*SIMPLE_KEYS, "Connector1-MaxCurrent", "Connector2-MaxCurrent"])
def test_the_registry_refuses_what_the_loop_refuses(tmp_path: Path, key: str) -> None:
    """One truth: a value the loop would refuse is Rejected where it comes in, and the other way round."""
    registry = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    for value in PROBES:
        if key.startswith("Connector"):
            loop_takes = connector_max_parser(int(key[9]))(value) is not None
        else:
            loop_takes = EvseConfig().apply({key: value}) == []
        registry_takes = registry.validate(key, value) is None
        if key in ("Disable105Percent", "StrictPEMeasurementEnabled", "ZE-ready") and value in ("1", "0", "1.0"):
            continue  # the loop also reads 1/0 (it never gets them: the registry stores true/false)
        if key == "6mADetectResponse" and value == "immediate":
            continue  # enum case: the registry normalises the case before the loop sees it
        assert loop_takes == registry_takes, (key, value, registry.validate(key, value))


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


def tilted_by(degrees: float) -> tuple[float, float, float]:
    """The gravity vector of a station tilted by `degrees` about X (negative: the other way)."""
    r = math.radians(degrees)
    return (0.0, math.sin(r), math.cos(r))


def test_hard_temperature_limit_stays_behind_the_key() -> None:
    s = station(temperature_high_c=200.0)  # a value no key can set (0..85), e.g. from a hand-edited file
    assert Fault.HIGH_TEMPERATURE not in step(s, temperature_c=HARD_TEMPERATURE_MAX_C - 0.1)
    assert Fault.HIGH_TEMPERATURE in step(s, temperature_c=HARD_TEMPERATURE_MAX_C)


@pytest.mark.parametrize(
    ("calibrated", "readings", "tilted"),
    [
        (None, [15.0], False),  # uncalibrated: against the sensor's own vertical
        (None, [15.01], True),
        (None, [-15.01], True),
        (20.0, [20.0], False),  # relative to the calibration
        (20.0, [35.0], False),
        (20.0, [35.01], True),
        (20.0, [5.0], False),
        (20.0, [4.99], True),
        (20.0, [0.0], True),  # upright again after calibrating tilted: 20° from the calibration
        (20.0, [-20.0], True),  # 20° the other way is 40° from the calibration, not 0° (defect 7)
        (20.0, [35.01, 34.0], True),  # not upright yet: 14° > 15 - 2
        (20.0, [35.01, 33.0], False),  # 13° = threshold - margin: upright again
        (20.0, [math.nan], True),  # a failed reading counts as tilted
    ],
)
def test_tilt(calibrated: float | None, readings: list[float], tilted: bool) -> None:
    s = station(tilt_vector=None if calibrated is None else tilted_by(calibrated))
    faults: set[Fault] = set()
    for r in readings:
        vec = tilted_by(r) if not math.isnan(r) else (math.nan, math.nan, math.nan)
        faults = step(s, tilt_deg=abs(r) if not math.isnan(r) else math.nan, tilt_vector=vec)
    assert (Fault.TILT in faults) is tilted


def test_no_tilt_sensor() -> None:
    assert Fault.TILT not in step(station(tilt_vector=(0.0, 0.0, 1.0)), tilt_deg=None, tilt_vector=None)


def test_calibration_takes_the_next_vector() -> None:
    s = station()
    s.config.apply({"CalibrateTilt": "x"})
    step(s, tilt_deg=7.5, tilt_vector=tilted_by(7.5))
    assert s.calibration is not None and s.calibration.tilt_deg == 7.5
    assert s.config.tilt_vector == s.calibration.tilt_vector
    assert s.calibration.tilt_vector == pytest.approx(tilted_by(7.5), abs=1e-4)
    assert Fault.TILT not in step(s, tilt_deg=22.4, tilt_vector=tilted_by(22.4))
    assert Fault.TILT in step(s, tilt_deg=22.6, tilt_vector=tilted_by(22.6))
    assert Fault.TILT in step(s, tilt_deg=7.6, tilt_vector=tilted_by(-7.6))  # the other way: 15.1°
    s.calibration = None
    s.config.apply({"CalibrateTilt": "x"})
    step(s, tilt_deg=None, tilt_vector=None)
    assert s.calibration is not None and s.calibration.tilt_vector is None and s.calibration.error
    assert s.config.tilt_vector == pytest.approx(tilted_by(7.5), abs=1e-4)  # a failed one keeps the old one


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
