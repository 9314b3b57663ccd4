"""Home Assistant MQTT discovery (pure): the entities of a socket as a table, and their config payloads.

One Home Assistant device per station (identifiers: `chargepoint_<node>`), every entity of every socket tied
to it, each with a unique id and the station's availability topic. The keys written are those of Home
Assistant's MQTT sensor / number / switch platforms (full names, no abbreviations); tests/mqtt/ha_schema.py
checks every payload against a table of what those platforms accept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.mqtt.commands import CHARGING, MAX_CURRENT, OFF, ON
from controller.mqtt.report import IEC_STATES, OCPP_STATUSES
from controller.mqtt.topics import OFFLINE, ONLINE, Topics


@dataclass(frozen=True)
class Entity:
    """One Home Assistant entity of a socket: `key` is its state topic name and the end of its unique id."""

    platform: str  # sensor, number, switch
    key: str
    name: str
    device_class: str | None = None
    state_class: str | None = None
    unit: str | None = None
    options: tuple[str, ...] = ()  # an enum sensor's states
    icon: str | None = None
    category: str | None = None  # entity_category


def _current(key: str, name: str) -> Entity:
    return Entity("sensor", key, name, "current", "measurement", "A")


SOCKET_ENTITIES: tuple[Entity, ...] = (
    Entity("sensor", "iec_state", "IEC 61851 state", "enum", options=IEC_STATES, icon="mdi:ev-plug-type2"),
    Entity("sensor", "ocpp_status", "OCPP status", "enum", options=OCPP_STATUSES, icon="mdi:ev-station"),
    _current("offered_current", "Offered current"),
    _current("current_l1", "Current L1"),
    _current("current_l2", "Current L2"),
    _current("current_l3", "Current L3"),
    Entity("sensor", "power", "Power", "power", "measurement", "W"),
    Entity("sensor", "session_energy", "Session energy", "energy", "total_increasing", "Wh"),
    Entity("sensor", "total_energy", "Total energy", "energy", "total_increasing", "Wh"),
    Entity("sensor", "command_result", "Last command", icon="mdi:message-reply-text", category="diagnostic"),
    Entity("number", MAX_CURRENT, "Max current", "current", unit="A", icon="mdi:current-ac"),
    Entity("switch", CHARGING, "Charging", "switch", icon="mdi:ev-station"),
)


class Identification(Protocol):
    """Who the station is, as BootNotification says it (`ocpp.link.LinkSettings` has these)."""

    @property
    def identity(self) -> str: ...
    @property
    def vendor(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware_version(self) -> str: ...


def device(topics: Topics, ident: Identification) -> dict[str, Any]:
    return {
        "identifiers": [f"chargepoint_{topics.node}"],
        "name": ident.identity,
        "manufacturer": ident.vendor,
        "model": ident.model,
        "sw_version": ident.firmware_version,
        "serial_number": ident.identity,
    }


def entity_config(e: Entity, cid: int, topics: Topics, dev: Mapping[str, Any], rating_a: float,
                  several: bool) -> dict[str, Any]:
    """The discovery payload of entity `e` of socket `cid`."""
    cfg: dict[str, Any] = {
        "name": f"Socket {cid} {e.name.lower()}" if several else e.name,
        "unique_id": f"{topics.node}_socket{cid}_{e.key}",
        "state_topic": topics.state(cid, e.key),
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": dict(dev),
        "qos": 1,
    }
    if e.platform == "sensor" and e.key == "command_result":
        cfg["value_template"] = "{{ value_json.result }}"
        cfg["json_attributes_topic"] = topics.state(cid, e.key)
    extras = {"device_class": e.device_class, "state_class": e.state_class, "unit_of_measurement": e.unit,
              "icon": e.icon, "entity_category": e.category}
    cfg.update({k: v for k, v in extras.items() if v is not None})
    if e.options:
        cfg["options"] = list(e.options)
    if e.platform in ("number", "switch"):
        cfg["command_topic"] = topics.command(cid, e.key)
        cfg["retain"] = False  # a command must be fresh: the station refuses retained ones
        cfg["optimistic"] = False
    if e.platform == "number":
        cfg.update({"min": 0, "max": rating_a, "step": 1, "mode": "slider"})
    if e.platform == "switch":
        cfg.update({"payload_on": ON, "payload_off": OFF})
    return cfg


def discovery_configs(topics: Topics, ident: Identification, ratings: Mapping[int, float]) -> dict[str, str]:
    """Discovery topic -> JSON payload for every entity of every socket."""
    dev = device(topics, ident)
    out: dict[str, str] = {}
    for cid, rating in sorted(ratings.items()):
        for e in SOCKET_ENTITIES:
            cfg = entity_config(e, cid, topics, dev, rating, len(ratings) > 1)
            out[topics.discovery(e.platform, f"socket{cid}_{e.key}")] = json.dumps(cfg, sort_keys=True)
    return out
