"""Every fault the control loop can raise: the OCPP StatusNotification error code it is reported as, and
what the loop does about it (the policy table `POLICY`).

Faults reach the back office and the LEDs through one path: the control loop's `state` message lists the
active faults of each connector and of the station (connector 0); the main process maps them to OCPP error
codes here. A fault is never swallowed: while its condition or latch holds, it is in that list.

Policy columns:
- `action`: PAUSE (the PWM stops, the car is asked to stop and the contactor opens when it has, or 6 s
  after PWM off; the connector is SuspendedEVSE), STOP (the contactor opens within the tick; the connector
  is Faulted) or REPORT (nothing stops; reported only).
- `pilot_f`: drive the pilot to -12 V (state F, "EVSE unavailable") instead of a steady +12 V. Only for
  faults that do not clear on unplug: while we drive F we cannot see the car.
- `clears`: CONDITION (by itself when the condition is gone), UNPLUG (latched until the vehicle is unplugged,
  i.e. the pilot reads state A, or a `clear_faults` message), MANUAL (latched until a `clear_faults` message;
  if the condition is still there it latches again at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    """In order of severity: the first active one is the errorCode reported."""

    RESIDUAL_CURRENT = "residual_current"
    RCD_SELF_TEST = "rcd_self_test"
    RCD_MONITOR = "rcd_monitor"  # the residual current monitor cannot be read
    WELDED_CONTACT = "welded_contact"
    CONTACTOR_NOT_CLOSING = "contactor_not_closing"
    CONTACTOR_FEEDBACK = "contactor_feedback"  # the mirror contact cannot be read
    PHASE_RELAY = "phase_relay"  # the 1/3-phase relay's feedback disagrees with its command (or is unreadable)
    PHASE_COUNT_MISMATCH = "phase_count_mismatch"  # on one phase, the socket meter sees current on L2/L3
    CONTROL_RESTARTS = "control_restarts"  # the control process kept dying: stays down until a Reset
    PILOT_ERROR = "pilot_error"
    DIODE = "diode"
    EV_IGNORES_PWM_OFF = "ev_ignores_pwm_off"
    VENTILATION = "ventilation"  # state D on a board without ventilation
    OVERCURRENT = "overcurrent"
    CONTACTOR_PROTECT = "contactor_protect"
    HIGH_TEMPERATURE = "high_temperature"
    LOW_TEMPERATURE = "low_temperature"
    TEMPERATURE_SENSOR = "temperature_sensor"
    TILT = "tilt"
    PE_MISSING = "pe_missing"
    CABLE = "cable"  # the proximity pilot reads no valid cable (or cannot be read)
    METER_LOST = "meter_lost"  # no valid socket meter reading for `meter_lost_s`: no 105 % check, so pause
    METER = "meter"
    MAIN_SILENT = "main_silent"
    LOCK = "lock"
    LOOP_STALL = "loop_stall"


class Action(StrEnum):
    PAUSE = "pause"
    STOP = "stop"
    REPORT = "report"


class Clears(StrEnum):
    CONDITION = "condition"
    UNPLUG = "unplug"
    MANUAL = "manual"


@dataclass(frozen=True)
class FaultPolicy:
    action: Action
    pilot_f: bool
    clears: Clears
    ocpp_error: str


_P, _S, _R = Action.PAUSE, Action.STOP, Action.REPORT
_C, _U, _M = Clears.CONDITION, Clears.UNPLUG, Clears.MANUAL

POLICY: dict[Fault, FaultPolicy] = {
    # 6 mA DC: Immediate opens at once; Smart stops the PWM and opens when the car stopped or after 5 s.
    Fault.RESIDUAL_CURRENT: FaultPolicy(_S, False, _U, "GroundFailure"),
    Fault.RCD_SELF_TEST: FaultPolicy(_S, False, _U, "GroundFailure"),
    Fault.RCD_MONITOR: FaultPolicy(_S, False, _C, "GroundFailure"),  # and a new self-test before any close
    Fault.WELDED_CONTACT: FaultPolicy(_S, True, _M, "PowerSwitchFailure"),
    Fault.CONTACTOR_NOT_CLOSING: FaultPolicy(_S, True, _M, "PowerSwitchFailure"),
    Fault.CONTACTOR_FEEDBACK: FaultPolicy(_S, False, _C, "PowerSwitchFailure"),
    Fault.PHASE_RELAY: FaultPolicy(_S, True, _M, "PowerSwitchFailure"),  # see controller/evse/phaseswitch.py
    Fault.PHASE_COUNT_MISMATCH: FaultPolicy(_S, True, _M, "PowerSwitchFailure"),
    Fault.CONTROL_RESTARTS: FaultPolicy(_S, True, _M, "InternalError"),  # set by the main process; Reset clears
    Fault.PILOT_ERROR: FaultPolicy(_S, False, _C, "EVCommunicationError"),  # state E: short, invalid voltage
    Fault.DIODE: FaultPolicy(_S, False, _U, "EVCommunicationError"),
    Fault.EV_IGNORES_PWM_OFF: FaultPolicy(_S, False, _C, "EVCommunicationError"),  # until the car leaves C
    Fault.VENTILATION: FaultPolicy(_S, False, _U, "OtherError"),  # D without ventilation: error until unplug
    Fault.OVERCURRENT: FaultPolicy(_S, False, _U, "OverCurrentFailure"),
    Fault.CONTACTOR_PROTECT: FaultPolicy(_S, False, _U, "OtherError"),
    Fault.HIGH_TEMPERATURE: FaultPolicy(_P, False, _C, "HighTemperature"),
    Fault.LOW_TEMPERATURE: FaultPolicy(_P, False, _C, "OtherError"),
    Fault.TEMPERATURE_SENSOR: FaultPolicy(_S, True, _C, "OtherError"),
    Fault.TILT: FaultPolicy(_S, True, _C, "OtherError"),  # until upright again
    Fault.PE_MISSING: FaultPolicy(_S, False, _C, "GroundFailure"),
    Fault.CABLE: FaultPolicy(_S, False, _C, "OtherError"),
    Fault.METER_LOST: FaultPolicy(_P, False, _C, "PowerMeterFailure"),  # SuspendedEVSE until the meter is back
    Fault.METER: FaultPolicy(_R, False, _C, "PowerMeterFailure"),
    Fault.MAIN_SILENT: FaultPolicy(_P, False, _C, "InternalError"),
    Fault.LOCK: FaultPolicy(_S, False, _C, "ConnectorLockFailure"),
    Fault.LOOP_STALL: FaultPolicy(_S, False, _C, "InternalError"),  # held for a while after a watchdog trip
}

OCPP_ERROR_CODE: dict[Fault, str] = {f: p.ocpp_error for f, p in POLICY.items()}

# Faults that only pause charging (the connector is SuspendedEVSE, not Faulted).
PAUSING: frozenset[Fault] = frozenset(f for f, p in POLICY.items() if p.action is Action.PAUSE)
# Faults reported but not stopping the session (a meter reading missing: METER_LOST pauses after a bound).
REPORT_ONLY: frozenset[Fault] = frozenset(f for f, p in POLICY.items() if p.action is Action.REPORT)
# Faults that open the contactor within the tick.
STOPPING: frozenset[Fault] = frozenset(f for f, p in POLICY.items() if p.action is Action.STOP)
# Faults for which the pilot goes to state F.
PILOT_F: frozenset[Fault] = frozenset(f for f, p in POLICY.items() if p.pilot_f)


def ocpp_error(faults: list[str] | set[str]) -> tuple[str, str | None]:
    """The (errorCode, info) to report for a set of active faults; the most severe first."""
    for f in Fault:
        if f.value in faults:
            return OCPP_ERROR_CODE[f], f.value
    return "NoError", None
