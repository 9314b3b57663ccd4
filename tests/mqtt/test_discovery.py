"""The Home Assistant discovery payloads, checked against the platforms' schema tables (tests/mqtt/ha_schema.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from controller.mqtt.discovery import SOCKET_ENTITIES, discovery_configs
from controller.mqtt.topics import Topics, node_id
from tests.mqtt.ha_schema import problems


@dataclass
class Ident:
    identity: str = "SIM 0001/x"
    vendor: str = "OpenChargePoint"
    model: str = "CM4-AC"
    firmware_version: str = "0.1.0"


TOPICS = Topics("chargepoint", "homeassistant", node_id("SIM 0001/x"))


def configs(ratings: dict[int, float]) -> dict[str, dict[str, object]]:
    return {t: json.loads(p) for t, p in discovery_configs(TOPICS, Ident(), ratings).items()}


def test_every_payload_is_valid_for_its_platform() -> None:
    got = configs({1: 32.0, 2: 16.0})
    assert len(got) == 2 * len(SOCKET_ENTITIES)
    for topic, cfg in got.items():
        prefix, platform, node, object_id, last = topic.split("/")
        assert (prefix, node, last) == ("homeassistant", "SIM_0001_x", "config")
        assert problems(platform, cfg) == [], (topic, cfg)


def test_one_device_per_station_and_unique_ids() -> None:
    got = configs({1: 32.0, 2: 16.0})
    devices = {json.dumps(c["device"], sort_keys=True) for c in got.values()}
    assert len(devices) == 1
    assert json.loads(devices.pop())["identifiers"] == ["chargepoint_SIM_0001_x"]
    ids = [c["unique_id"] for c in got.values()]
    assert len(set(ids)) == len(ids)
    assert {c["availability_topic"] for c in got.values()} == {"chargepoint/SIM_0001_x/status"}


def test_the_entities_home_assistant_needs() -> None:
    got = configs({1: 32.0})
    by_key = {c["unique_id"].split("socket1_")[1]: (t.split("/")[1], c) for t, c in got.items()}  # type: ignore[union-attr]
    for key, dc, sc, unit in [("offered_current", "current", "measurement", "A"), ("current_l1", "current", "measurement", "A"),
                              ("current_l3", "current", "measurement", "A"), ("power", "power", "measurement", "W"),
                              ("session_energy", "energy", "total_increasing", "Wh"),
                              ("total_energy", "energy", "total_increasing", "Wh")]:
        platform, cfg = by_key[key]
        assert (platform, cfg["device_class"], cfg["state_class"], cfg["unit_of_measurement"]) == ("sensor", dc, sc, unit)
    platform, number = by_key["max_current"]
    assert platform == "number" and (number["min"], number["max"], number["unit_of_measurement"]) == (0, 32.0, "A")
    assert number["command_topic"] == "chargepoint/SIM_0001_x/socket/1/max_current/set"
    platform, switch = by_key["charging"]
    assert platform == "switch" and (switch["payload_on"], switch["payload_off"]) == ("ON", "OFF")
    assert by_key["iec_state"][1]["options"] == ["A", "B", "C", "D", "E", "F"]
    assert by_key["ocpp_status"][1]["device_class"] == "enum"


@pytest.mark.parametrize(
    ("platform", "change", "complaint"),
    [
        ("sensor", {"unit_of_meas": "A"}, "unknown key"),  # an abbreviation we do not write, or a typo
        ("sensor", {"state_topic": None}, "missing required"),
        ("sensor", {"device_class": "current", "unit_of_measurement": "W"}, "not allowed for device_class"),
        ("sensor", {"device_class": "energy", "unit_of_measurement": "Wh", "state_class": "measurement"}, "not allowed"),
        ("sensor", {"device_class": "enum", "unit_of_measurement": "A"}, "enum sensor"),
        ("sensor", {"device_class": "amps"}, "unknown"),
        ("sensor", {"device": {"name": "x"}}, "identifiers or connections"),
        ("number", {"min": 32, "max": 6}, "not below max"),
        ("number", {"command_topic": None}, "missing required"),
        ("switch", {"device_class": "current"}, "unknown"),
        ("switch", {"retain": "no"}, "boolean"),
    ],
)
def test_the_schema_table_refuses_what_home_assistant_refuses(platform: str, change: dict[str, object], complaint: str) -> None:
    base = {"sensor": {"state_topic": "s", "unique_id": "u", "device": {"identifiers": ["d"]}},
            "number": {"command_topic": "c", "unique_id": "u"}, "switch": {"command_topic": "c"}}[platform]
    cfg = {**base, **{k: v for k, v in change.items() if v is not None}}
    for k in [k for k, v in change.items() if v is None]:
        cfg.pop(k)
    assert problems(platform, base) == []
    found = problems(platform, cfg)
    assert any(complaint in p for p in found), found
