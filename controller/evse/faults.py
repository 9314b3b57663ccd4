"""Every fault the control loop can raise, with the OCPP StatusNotification error code it is reported as.

Faults reach the back office and the LEDs through one path: the control loop's `state` message lists the
active faults of each connector and of the station; the main process maps them to OCPP error codes here.
"""

from __future__ import annotations

from enum import StrEnum


class Fault(StrEnum):
    RESIDUAL_CURRENT = "residual_current"
    RCD_SELF_TEST = "rcd_self_test"
    WELDED_CONTACT = "welded_contact"
    CONTACTOR_NOT_CLOSING = "contactor_not_closing"
    PILOT_ERROR = "pilot_error"
    DIODE = "diode"
    EV_IGNORES_PWM_OFF = "ev_ignores_pwm_off"
    OVERCURRENT = "overcurrent"
    CONTACTOR_PROTECT = "contactor_protect"
    HIGH_TEMPERATURE = "high_temperature"
    LOW_TEMPERATURE = "low_temperature"
    TEMPERATURE_SENSOR = "temperature_sensor"
    TILT = "tilt"
    PE_MISSING = "pe_missing"
    METER = "meter"
    MAIN_SILENT = "main_silent"
    LOCK = "lock"


OCPP_ERROR_CODE: dict[Fault, str] = {
    Fault.RESIDUAL_CURRENT: "GroundFailure",
    Fault.RCD_SELF_TEST: "GroundFailure",
    Fault.WELDED_CONTACT: "PowerSwitchFailure",
    Fault.CONTACTOR_NOT_CLOSING: "PowerSwitchFailure",
    Fault.PILOT_ERROR: "EVCommunicationError",
    Fault.DIODE: "EVCommunicationError",
    Fault.EV_IGNORES_PWM_OFF: "EVCommunicationError",
    Fault.OVERCURRENT: "OverCurrentFailure",
    Fault.CONTACTOR_PROTECT: "OtherError",
    Fault.HIGH_TEMPERATURE: "HighTemperature",
    Fault.LOW_TEMPERATURE: "OtherError",
    Fault.TEMPERATURE_SENSOR: "OtherError",
    Fault.TILT: "OtherError",
    Fault.PE_MISSING: "GroundFailure",
    Fault.METER: "PowerMeterFailure",
    Fault.MAIN_SILENT: "InternalError",
    Fault.LOCK: "ConnectorLockFailure",
}

# Faults that only pause charging (the connector is SuspendedEVSE, not Faulted).
PAUSING: frozenset[Fault] = frozenset({Fault.HIGH_TEMPERATURE, Fault.LOW_TEMPERATURE, Fault.MAIN_SILENT})
# Faults reported but not stopping the session (measurement gone: the loop keeps the other limits).
REPORT_ONLY: frozenset[Fault] = frozenset({Fault.METER})


def ocpp_error(faults: list[str] | set[str]) -> tuple[str, str | None]:
    """The (errorCode, info) to report for a set of active faults; the most severe first."""
    for f in Fault:
        if f.value in faults:
            return OCPP_ERROR_CODE[f], f.value
    return "NoError", None
