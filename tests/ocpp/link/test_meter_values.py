"""Every documented measurand and phase, RegisterMeterValuesIncludePhases, and the clock alignment."""

from __future__ import annotations

import pytest

from controller.config.keys import MEASURANDS
from controller.ocpp.aligned import next_aligned
from controller.ocpp.meter_values import sampled_values, split_measurand
from controller.timefmt import format_time, parse_time_or_none

SAMPLE = {
    "currents": [16.0, 10.0, 0.0],
    "voltages": [230.0, 231.0, 229.0],
    "power_w": 5800.0,
    "energy_wh": 1234.4,
    "offered_a": 16.0,
    "temperature_c": 31.5,
    "frequency_hz": 50.02,
}


def _one(item: str, **kw: object) -> list[dict[str, str]]:
    return sampled_values(SAMPLE, [item], **kw)  # type: ignore[arg-type]


def test_every_documented_measurand_yields_a_value() -> None:
    for item in MEASURANDS:
        out = _one(item)
        assert len(out) == 1, item
        name, phase = split_measurand(item)
        assert out[0]["measurand"] == name
        assert out[0].get("phase") == phase
        float(out[0]["value"])


@pytest.mark.parametrize(
    ("item", "value", "unit", "phase"),
    [
        ("Energy.Active.Import.Register", "1234", "Wh", None),
        ("Power.Active.Import", "5800.0", "W", None),
        ("Current.Import", "16.0", "A", None),
        ("Current.Import.L2", "10.0", "A", "L2"),
        ("Voltage", "230.0", "V", None),
        ("Voltage.L3-N", "229.0", "V", "L3-N"),
        ("Voltage.L1-L2", "399.2", "V", "L1-L2"),
        ("Current.Offered", "16.0", "A", None),
        ("Temperature", "31.5", "Celsius", None),
        ("Frequency", "50.02", None, None),
    ],
)
def test_values_units_and_phases(item: str, value: str, unit: str | None, phase: str | None) -> None:
    (sv,) = _one(item)
    assert sv["value"] == value
    assert sv.get("unit") == unit
    assert sv.get("phase") == phase
    assert sv["context"] == "Sample.Periodic"


def test_power_is_split_by_apparent_power_and_power_factor_is_p_over_s() -> None:
    l1 = float(_one("Power.Active.Import.L1")[0]["value"])
    l2 = float(_one("Power.Active.Import.L2")[0]["value"])
    l3 = float(_one("Power.Active.Import.L3")[0]["value"])
    assert l3 == 0.0 and abs(l1 + l2 - 5800.0) < 0.2 and l1 > l2
    pf = float(_one("Power.Factor")[0]["value"])
    assert pf == pytest.approx(5800.0 / (230 * 16 + 231 * 10), abs=0.01)


def test_include_phases_adds_the_phases_after_the_total() -> None:
    out = sampled_values(SAMPLE, ["Current.Import", "Voltage", "Energy.Active.Import.Register"], include_phases=True)
    got = [(sv["measurand"], sv.get("phase")) for sv in out]
    assert got == [
        ("Current.Import", None), ("Current.Import", "L1"), ("Current.Import", "L2"), ("Current.Import", "L3"),
        ("Voltage", None), ("Voltage", "L1-N"), ("Voltage", "L2-N"), ("Voltage", "L3-N"),
        ("Energy.Active.Import.Register", None),
    ]
    assert [sv.get("phase") for sv in sampled_values(SAMPLE, ["Current.Import"])] == [None]


def test_unavailable_sources_are_left_out_not_invented() -> None:
    bare = {"currents": [1, 1, 1], "voltages": [230, 230, 230], "power_w": 690, "energy_wh": 5}
    assert sampled_values(bare, ["Temperature", "Frequency"]) == []


def test_context_and_location() -> None:
    (sv,) = sampled_values(SAMPLE, ["Energy.Active.Import.Register"], "Sample.Clock", location="Inlet")
    assert (sv["context"], sv["location"]) == ("Sample.Clock", "Inlet")
    (t,) = _one("Temperature")
    assert t["location"] == "Body"


def test_clock_alignment_from_midnight() -> None:
    t = parse_time_or_none("2026-01-01T12:07:31Z") or 0.0
    assert format_time(next_aligned(t, 900)) == "2026-01-01T12:15:00Z"
    assert format_time(next_aligned(parse_time_or_none("2026-01-01T12:15:00Z") or 0.0, 900)) == "2026-01-01T12:30:00Z"
    assert format_time(next_aligned(parse_time_or_none("2026-01-01T23:59:00Z") or 0.0, 7000)) == "2026-01-02T00:00:00Z"
