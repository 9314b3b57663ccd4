"""What Home Assistant's MQTT sensor, number and switch platforms accept in a discovery payload, as tables.

Written from Home Assistant's documentation of those platforms (integrations sensor.mqtt, number.mqtt,
switch.mqtt) and of the sensor/number device classes, since its voluptuous schemas cannot be imported here.
`problems(platform, payload)` lists everything Home Assistant would refuse: an unknown key, a missing required
key, a wrong type, a device class or state class the platform does not know, a unit the device class does not
allow, a state class the device class does not allow, an enum sensor with a unit or without options.
"""

from __future__ import annotations

from typing import Any

# keys every MQTT entity platform takes (MQTT_ENTITY_COMMON_SCHEMA and the availability schema)
COMMON = {
    "availability", "availability_mode", "availability_template", "availability_topic", "device",
    "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon", "json_attributes_template",
    "json_attributes_topic", "name", "object_id", "origin", "payload_available", "payload_not_available", "qos",
    "unique_id",
}
PLATFORM_KEYS: dict[str, set[str]] = {
    "sensor": COMMON | {"device_class", "expire_after", "force_update", "last_reset_value_template", "options",
                        "state_class", "state_topic", "suggested_display_precision", "unit_of_measurement",
                        "value_template"},
    "number": COMMON | {"command_template", "command_topic", "device_class", "max", "min", "mode", "optimistic",
                        "payload_reset", "retain", "state_topic", "step", "unit_of_measurement", "value_template"},
    "switch": COMMON | {"command_template", "command_topic", "device_class", "optimistic", "payload_off",
                        "payload_on", "retain", "state_off", "state_on", "state_topic", "value_template"},
}
REQUIRED: dict[str, set[str]] = {
    "sensor": {"state_topic"},
    "number": {"command_topic"},
    "switch": set(),
}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
               "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"}
STRINGS = {"availability_mode", "availability_template", "availability_topic", "command_template",
           "command_topic", "encoding", "entity_picture", "icon", "json_attributes_template",
           "json_attributes_topic", "name", "object_id", "payload_available", "payload_not_available",
           "payload_off", "payload_on", "payload_reset", "state_off", "state_on", "state_topic", "unique_id",
           "unit_of_measurement", "value_template", "last_reset_value_template"}
BOOLS = {"enabled_by_default", "force_update", "optimistic", "retain"}
NUMBERS = {"min", "max", "step"}

# device class -> the units Home Assistant allows for it (sensor and number alike), for the classes used here
UNITS: dict[str, set[str]] = {
    "current": {"A", "mA"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
}
# device class -> the state classes it allows (sensor)
STATE_CLASSES: dict[str, set[str]] = {
    "current": {"measurement"},
    "power": {"measurement"},
    "voltage": {"measurement"},
    "energy": {"total", "total_increasing"},
}
SENSOR_DEVICE_CLASSES = set(UNITS) | {"enum", "temperature", "timestamp", "duration", "battery", "frequency"}
NUMBER_DEVICE_CLASSES = set(UNITS) | {"temperature", "duration", "battery", "frequency"}
SWITCH_DEVICE_CLASSES = {"outlet", "switch"}
ALL_STATE_CLASSES = {"measurement", "total", "total_increasing"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
NUMBER_MODES = {"auto", "box", "slider"}


def problems(platform: str, cfg: dict[str, Any]) -> list[str]:
    """Everything Home Assistant's `platform` schema would refuse in `cfg` (empty: valid)."""
    out: list[str] = []
    allowed = PLATFORM_KEYS[platform]
    out += [f"unknown key {k!r}" for k in sorted(set(cfg) - allowed)]
    out += [f"missing required {k!r}" for k in sorted(REQUIRED[platform] - set(cfg))]
    for k, v in cfg.items():
        if k in STRINGS and not isinstance(v, str):
            out.append(f"{k} must be a string, not {v!r}")
        if k in BOOLS and not isinstance(v, bool):
            out.append(f"{k} must be a boolean, not {v!r}")
        if k in NUMBERS and (isinstance(v, bool) or not isinstance(v, int | float)):
            out.append(f"{k} must be a number, not {v!r}")
    if "qos" in cfg and cfg["qos"] not in (0, 1, 2):
        out.append(f"qos {cfg['qos']!r}")
    if "availability" in cfg and "availability_topic" in cfg:
        out.append("availability and availability_topic together")
    if cfg.get("entity_category") is not None and cfg["entity_category"] not in ENTITY_CATEGORIES:
        out.append(f"entity_category {cfg['entity_category']!r}")
    out += _device(cfg)
    dc, unit = cfg.get("device_class"), cfg.get("unit_of_measurement")
    classes = {"sensor": SENSOR_DEVICE_CLASSES, "number": NUMBER_DEVICE_CLASSES, "switch": SWITCH_DEVICE_CLASSES}
    if dc is not None and dc not in classes[platform]:
        out.append(f"{platform} device_class {dc!r} unknown")
    if dc in UNITS and unit is not None and unit not in UNITS[dc]:
        out.append(f"unit {unit!r} not allowed for device_class {dc!r}")
    if platform == "sensor":
        out += _sensor(cfg, dc, unit)
    if platform == "number":
        lo, hi, step = cfg.get("min", 1), cfg.get("max", 100), cfg.get("step", 1)
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo >= hi:
            out.append(f"min {lo} not below max {hi}")
        if isinstance(step, int | float) and step < 0.001:
            out.append(f"step {step} below 0.001")
        if "mode" in cfg and cfg["mode"] not in NUMBER_MODES:
            out.append(f"mode {cfg['mode']!r}")
    return out


def _device(cfg: dict[str, Any]) -> list[str]:
    dev = cfg.get("device")
    if dev is None:
        return []
    if not isinstance(dev, dict):
        return ["device must be a map"]
    out = [f"unknown device key {k!r}" for k in sorted(set(dev) - DEVICE_KEYS)]
    if not dev.get("identifiers") and not dev.get("connections"):
        out.append("device needs identifiers or connections")
    if "unique_id" not in cfg:
        out.append("device info needs unique_id")
    ids = dev.get("identifiers")
    if ids is not None and not (isinstance(ids, str) or (isinstance(ids, list) and all(isinstance(i, str) for i in ids))):
        out.append(f"device identifiers {ids!r}")
    return out


def _sensor(cfg: dict[str, Any], dc: Any, unit: Any) -> list[str]:
    out: list[str] = []
    sc = cfg.get("state_class")
    if sc is not None and sc not in ALL_STATE_CLASSES:
        out.append(f"state_class {sc!r} unknown")
    if dc in STATE_CLASSES and sc is not None and sc not in STATE_CLASSES[dc]:
        out.append(f"state_class {sc!r} not allowed for device_class {dc!r}")
    if dc == "enum":
        if unit is not None or sc is not None:
            out.append("an enum sensor takes no unit_of_measurement and no state_class")
        if not cfg.get("options"):
            out.append("an enum sensor needs options")
    elif "options" in cfg and dc is not None:
        out.append("options only with device_class enum")
    if "options" in cfg and not (isinstance(cfg["options"], list) and all(isinstance(o, str) for o in cfg["options"])):
        out.append("options must be a list of strings")
    if "last_reset_value_template" in cfg and sc != "total":
        out.append("last_reset_value_template needs state_class total")
    return out
