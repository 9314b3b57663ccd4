"""What each fault of the control loop means, for people: a table, with what the loop does about it taken
from the loop's own policy (`controller.evse.faults.POLICY`: stops, pauses or only reports; when it clears)."""

from __future__ import annotations

from controller.evse.faults import POLICY, Action, Clears, Fault

MEANING: dict[Fault, str] = {
    Fault.RESIDUAL_CURRENT: "Residual (leakage) current detected",
    Fault.RCD_SELF_TEST: "The residual current monitor failed its self-test",
    Fault.RCD_MONITOR: "The residual current monitor cannot be read",
    Fault.WELDED_CONTACT: "A contactor contact is welded (closed when it should be open)",
    Fault.CONTACTOR_NOT_CLOSING: "The contactor did not close when commanded",
    Fault.CONTACTOR_FEEDBACK: "The contactor's mirror contact cannot be read",
    Fault.CONTROL_RESTARTS: "The control process kept failing; a Reset is needed",
    Fault.PILOT_ERROR: "Control pilot error (state E: short circuit or invalid voltage)",
    Fault.DIODE: "The vehicle's pilot diode is missing",
    Fault.EV_IGNORES_PWM_OFF: "The vehicle kept drawing after it was asked to stop",
    Fault.VENTILATION: "The vehicle asks for ventilation (state D), which this socket cannot provide",
    Fault.OVERCURRENT: "The vehicle draws more than it is offered",
    Fault.CONTACTOR_PROTECT: "The contactor was switched too often in a short time",
    Fault.HIGH_TEMPERATURE: "The station is too hot",
    Fault.LOW_TEMPERATURE: "The station is too cold",
    Fault.TEMPERATURE_SENSOR: "The temperature sensor cannot be read",
    Fault.TILT: "The station is tilted (knocked over?)",
    Fault.PE_MISSING: "Protective earth missing",
    Fault.CABLE: "No valid charging cable detected (proximity pilot)",
    Fault.METER_LOST: "No valid reading from the socket's energy meter",
    Fault.METER: "The socket's energy meter reading is invalid",
    Fault.MAIN_SILENT: "The control loop does not hear the main process",
    Fault.LOCK: "The connector lock does not reach its position",
    Fault.LOOP_STALL: "The control loop stalled (watchdog)",
}

_EFFECT = {Action.STOP: "charging stopped", Action.PAUSE: "charging paused", Action.REPORT: "reported only"}
_CLEARS = {
    Clears.CONDITION: "clears by itself when the condition is gone",
    Clears.UNPLUG: "clears when the vehicle is unplugged",
    Clears.MANUAL: "stays until a reset",
}


def describe(code: str) -> dict[str, str]:
    """`{"code", "meaning", "effect"}` of a fault code (an unknown code, from a newer loop, says so)."""
    try:
        fault = Fault(code)
    except ValueError:
        return {"code": code, "meaning": "Unknown fault", "effect": ""}
    policy = POLICY[fault]
    return {"code": code, "meaning": MEANING[fault], "effect": f"{_EFFECT[policy.action]}; {_CLEARS[policy.clears]}"}
