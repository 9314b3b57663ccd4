"""What a board file may contain, as data: sections, device kinds, their drivers and each driver's parameters.

A parameter spec is (type, required). Parameters whose name ends in `pin` are GPIO pins (BCM numbers) and
must not be used twice on one board. `port` is any pyserial URL (/dev/ttyAMA0, socket://host:port, loop://).
"""

from __future__ import annotations

Param = tuple[type | tuple[type, ...], bool]

NUMBER = (int, float)

# shared parameter sets of the real drivers (hal/real_drivers.py builds them)
_I2C: dict[str, Param] = {"i2c_bus": (int, False), "address": (int, False)}
_POLLED: dict[str, Param] = {
    "unit": (int, False),  # Modbus unit (slave) id, default 1
    "poll_interval_s": (NUMBER, False),  # default 1 s
    "stale_after_s": (NUMBER, False),  # read() raises after this long without a good reading, default 5 s
    "timeout_s": (NUMBER, False),  # per request, default 0.5 s
}
_SDM_RTU: dict[str, Param] = {"port": (str, True), "baudrate": (int, False), "parity": (str, False), **_POLLED}
_SDM_TCP: dict[str, Param] = {"host": (str, True), "tcp_port": (int, False), **_POLLED}
_P1: dict[str, Param] = {
    "port": (str, True),
    "baudrate": (int, False),  # default 115200 (DSMR 4/5)
    "spec": (str, False),  # "v5" (default), "v4" or "belgium"
    "stale_after_s": (NUMBER, False),  # default 10 s
}

# device kind -> driver name -> {param: (type, required)}
DRIVERS: dict[str, dict[str, dict[str, Param]]] = {
    "pilot": {
        "sim": {},
        # sysfs PWM + ADS1115 behind a gated sample-and-hold pair (hal/pilot_sysfs.py)
        "sysfs_ads1115": {
            "pwm_chip": (int, False),  # /sys/class/pwm/pwmchipN, default 0
            "pwm_channel": (int, False),  # pwmM, default 0
            "pwm_pin": (int, False),  # the GPIO the PWM overlay routes the channel to (checked for double use)
            "inverted": (bool, False),  # the ±12 V stage inverts the PWM line
            "i2c_bus": (int, False),  # default 1
            "adc_address": (int, False),  # ADS1115, default 0x48
            "adc_high_input": (int, False),  # AIN of the high-phase S/H, default 0
            "adc_low_input": (int, False),  # AIN of the low-phase S/H, default 1
            "adc_divider": (NUMBER, False),  # pilot volts per ADC volt, default 8
            "adc_offset_v": (NUMBER, False),  # ADC volts at 0 V pilot, default 1.65
            "adc_full_scale_v": (NUMBER, False),  # ADS1115 PGA range, default 4.096
        },
    },
    "contactor": {
        "sim": {"feedback": (bool, False), "feedback_delay_s": (NUMBER, False)},
        "gpiozero": {
            "pin": (int, True),
            "feedback_pin": (int, False),
            "active_high": (bool, False),
            "feedback_active_high": (bool, False),  # input level meaning "main contacts closed"
            "feedback_delay_s": (NUMBER, False),
        },
    },
    "lock": {
        "sim": {},
        "none": {},
        "gpiozero": {"pin": (int, True), "feedback_pin": (int, False), "feedback_active_high": (bool, False)},
    },
    "meter": {
        "sim": {},
        "sdm_rtu": _SDM_RTU,  # Eastron SDM630/SDM72D over Modbus RTU (hal/modbus_meter.py)
        "sdm_tcp": _SDM_TCP,  # the same over Modbus TCP
    },
    # the proximity pilot of a socket outlet (IEC 61851-1 Annex B): the cable's coding resistor, read through a
    # pull-up by an ADS1115 input (hal/proximity.py). A fixed-cable board (`fixed_cable = true`) has none.
    "pp": {
        "sim": {},
        "none": {},
        "ads1115": {
            **_I2C,  # default address 0x49
            "input": (int, False),  # AIN0..3, default 0
            "pullup_ohms": (NUMBER, False),  # the pull-up from PP to the reference, default 1000
            "reference_v": (NUMBER, False),  # the pull-up's supply, default 3.3
            "adc_full_scale_v": (NUMBER, False),  # ADS1115 PGA range, default 4.096
        },
    },
    "rcd": {
        "sim": {},
        "gpiozero": {
            "fault_pin": (int, True),
            "test_pin": (int, True),
            "reset_pin": (int, False),
            "fault_active_high": (bool, False),
            "test_timeout_s": (NUMBER, False),  # self-test: the fault line must trip within this, default 0.1 s
        },
    },
    "temperature": {
        "sim": {},
        "mcp9808": _I2C,  # default address 0x18 (hal/i2c_devices.py)
        "tmp102": _I2C,  # default address 0x48
    },
    "tilt": {
        "sim": {},
        "none": {},
        # ADXL345, default address 0x53; the vertical is the gravity vector measured upright (sensor axes)
        "adxl345": {
            **_I2C,
            "vertical_x": (NUMBER, False),
            "vertical_y": (NUMBER, False),
            "vertical_z": (NUMBER, False),
        },
    },
    "rfid": {
        "sim": {},
        "none": {},
        "rdm6300": {"port": (str, True), "baudrate": (int, False)},  # 125 kHz UART reader (hal/serial_rfid.py)
    },
    "leds": {
        "sim": {},
        "none": {},
        "gpiozero": {
            "red_pin": (int, True),
            "green_pin": (int, True),
            "blue_pin": (int, True),
            "nfc_pin": (int, False),
            "active_high": (bool, False),
        },
    },
    "grid_meter": {
        "sim": {},
        "none": {},
        "p1": _P1,  # DSMR P1 port (hal/p1_meter.py)
        "sdm_rtu": _SDM_RTU,
        "sdm_tcp": _SDM_TCP,
    },
    "suspend_input": {
        "sim": {},
        "none": {},
        "gpiozero": {"pin": (int, True), "active_high": (bool, False)},
    },
}

CONNECTOR_DEVICES = ("pilot", "contactor", "lock", "meter", "rcd")
OPTIONAL_CONNECTOR_DEVICES = ("pp",)  # required on a socket board (fixed_cable = false), absent otherwise
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
    "ventilation": (bool, False),  # the socket can ventilate: a car asking for state D may be energised
    **{dev: (dict, True) for dev in CONNECTOR_DEVICES},
    **{dev: (dict, False) for dev in OPTIONAL_CONNECTOR_DEVICES},
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

# [firmware]: how an UpdateFirmware image is installed. `install_command` is an argv list (or a shell-like
# string) run with `{file}` replaced by the downloaded image and `{python}` by the running interpreter; exit
# status 0 means installed (the station then reboots), anything else InstallationFailed.
FIRMWARE_KEYS: dict[str, Param] = {
    "install_command": ((str, list), False),
    "timeout_s": (NUMBER, False),
}
