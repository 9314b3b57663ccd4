"""What a board file may contain, as data: sections, device kinds, their drivers and each driver's parameters.

A parameter spec is (type, required). Parameters whose name ends in `pin` are GPIO pins (BCM numbers) and
must not be used twice on one board. `port` is any pyserial URL (/dev/ttyAMA0, socket://host:port, loop://).
"""

from __future__ import annotations

Param = tuple[type | tuple[type, ...], bool]

NUMBER = (int, float)

# device kind -> driver name -> {param: (type, required)}
DRIVERS: dict[str, dict[str, dict[str, Param]]] = {
    "pilot": {
        "sim": {},
    },
    "contactor": {
        "sim": {"feedback": (bool, False), "feedback_delay_s": (NUMBER, False)},
        "gpiozero": {
            "pin": (int, True),
            "feedback_pin": (int, False),
            "active_high": (bool, False),
            "feedback_delay_s": (NUMBER, False),
        },
    },
    "lock": {
        "sim": {},
        "none": {},
        "gpiozero": {"pin": (int, True), "feedback_pin": (int, False)},
    },
    "meter": {
        "sim": {},
    },
    "rcd": {
        "sim": {},
        "gpiozero": {"fault_pin": (int, True), "test_pin": (int, True), "reset_pin": (int, False)},
    },
    "temperature": {
        "sim": {},
    },
    "tilt": {
        "sim": {},
        "none": {},
    },
    "rfid": {
        "sim": {},
        "none": {},
    },
    "leds": {
        "sim": {},
        "none": {},
    },
    "grid_meter": {
        "sim": {},
        "none": {},
    },
    "suspend_input": {
        "sim": {},
        "none": {},
        "gpiozero": {"pin": (int, True), "active_high": (bool, False)},
    },
}

CONNECTOR_DEVICES = ("pilot", "contactor", "lock", "meter", "rcd")
STATION_DEVICES = ("temperature", "tilt", "rfid", "leds", "grid_meter", "suspend_input")

BOARD_KEYS: dict[str, Param] = {
    "name": (str, True),
    "description": (str, False),
    "connectors": (int, True),
    "fixed_cable": (bool, False),
}

CONNECTOR_KEYS: dict[str, Param] = {
    "id": (int, True),
    "max_current": (NUMBER, False),
    "phases": (int, False),
    **{dev: (dict, True) for dev in CONNECTOR_DEVICES},
}

PILOT_BANDS_DEFAULT: dict[str, tuple[float, float]] = {
    "A": (10.5, 13.5),
    "B": (7.5, 10.5),
    "C": (4.5, 7.5),
    "D": (1.5, 4.5),
    "E": (-1.5, 1.5),
    "F": (-13.5, -10.5),
}

LIMITS_KEYS: dict[str, Param] = {
    "tilt_threshold_deg": (NUMBER, False),
    "diode_max_low_v": (NUMBER, False),
    "temperature_hysteresis_c": (NUMBER, False),
}

DEFAULTS_KEYS_TYPE: Param = ((str, int, float, bool), False)
