"""Fault -> OCPP StatusNotification errorCode: the one place that maps the control loop's faults to OCPP.

The control loop (`controller.evse.faults`) knows what a fault does to the power path; this table knows how
the back office hears about it. `ocpp_error` picks the most severe of a set of active faults (the order of
`Fault`), with the fault's name as `info`.
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.evse.faults import Fault

ERROR_CODE: dict[Fault, str] = {
    Fault.RESIDUAL_CURRENT: "GroundFailure",
    Fault.RCD_SELF_TEST: "GroundFailure",
    Fault.RCD_MONITOR: "GroundFailure",
    Fault.WELDED_CONTACT: "PowerSwitchFailure",
    Fault.CONTACTOR_NOT_CLOSING: "PowerSwitchFailure",
    Fault.CONTACTOR_FEEDBACK: "PowerSwitchFailure",
    Fault.PHASE_RELAY: "PowerSwitchFailure",
    Fault.PHASE_COUNT_MISMATCH: "PowerSwitchFailure",
    Fault.CONTROL_RESTARTS: "InternalError",
    Fault.PILOT_ERROR: "EVCommunicationError",
    Fault.DIODE: "EVCommunicationError",
    Fault.EV_IGNORES_PWM_OFF: "EVCommunicationError",
    Fault.VENTILATION: "OtherError",
    Fault.OVERCURRENT: "OverCurrentFailure",
    Fault.CONTACTOR_PROTECT: "OtherError",
    Fault.HIGH_TEMPERATURE: "HighTemperature",
    Fault.LOW_TEMPERATURE: "OtherError",
    Fault.TEMPERATURE_SENSOR: "OtherError",
    Fault.TILT: "OtherError",
    Fault.PE_MISSING: "GroundFailure",
    Fault.CABLE: "OtherError",
    Fault.METER_LOST: "PowerMeterFailure",
    Fault.METER: "PowerMeterFailure",
    Fault.MAIN_SILENT: "InternalError",
    Fault.LOCK: "ConnectorLockFailure",
    Fault.LOOP_STALL: "InternalError",
}
FALLBACK = "InternalError"  # a fault this table does not know yet (a newer control process)


def ocpp_error(faults: Iterable[str]) -> tuple[str, str | None]:
    """The (errorCode, info) to report for a set of active faults; the most severe first."""
    active = set(faults)
    for f in Fault:
        if f.value in active:
            return ERROR_CODE.get(f, FALLBACK), f.value
    if active:
        return FALLBACK, sorted(active)[0]
    return "NoError", None
