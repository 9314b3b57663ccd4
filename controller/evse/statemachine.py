"""The IEC 61851 state machine of one socket, as a table (pure: no time, no I/O).

`decide(state, allow)` says what the pilot and the contactor must do in each state; `next_state(level)`
maps a (debounced) pilot level to the state. E is any pilot error seen on the wire (short, missing diode,
voltage outside every band); F is the state we drive ourselves (-12 V) for a latched fault of the station. The digit of B1/B2, C1/C2, D1/D2 is whether PWM is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.evse.pilot import CpLevel


class PilotDrive(StrEnum):
    HIGH = "high"  # steady +12 V, no PWM
    PWM = "pwm"
    NEGATIVE = "negative"  # steady -12 V: state F


class EvseState(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"


@dataclass(frozen=True)
class Decision:
    pilot: PilotDrive
    contactor: bool


# (state, charging allowed) -> what to drive. "Allowed" = authorised session, offer >= 6 A, no fault, not paused.
TABLE: dict[tuple[EvseState, bool], Decision] = {
    (EvseState.A, False): Decision(PilotDrive.HIGH, False),
    (EvseState.A, True): Decision(PilotDrive.HIGH, False),
    (EvseState.B, False): Decision(PilotDrive.HIGH, False),  # B1
    (EvseState.B, True): Decision(PilotDrive.PWM, False),  # B2: offer current, wait for C
    (EvseState.C, False): Decision(PilotDrive.HIGH, False),  # C1: EV must go to B; contactor opens
    (EvseState.C, True): Decision(PilotDrive.PWM, True),  # C2: energise
    (EvseState.D, False): Decision(PilotDrive.HIGH, False),
    (EvseState.D, True): Decision(PilotDrive.PWM, True),  # D2: energise (ventilation is not required here)
    (EvseState.E, False): Decision(PilotDrive.HIGH, False),  # pilot error: no PWM, keep +12 V to see recovery
    (EvseState.E, True): Decision(PilotDrive.HIGH, False),
    # F is held by the fault that caused it (the connector drives -12 V while that fault is active); once it
    # clears, release the pilot to +12 V so the next tick can read the car again.
    (EvseState.F, False): Decision(PilotDrive.HIGH, False),
    (EvseState.F, True): Decision(PilotDrive.HIGH, False),
}

LEVEL_TO_STATE: dict[CpLevel, EvseState] = {
    CpLevel.A: EvseState.A,
    CpLevel.B: EvseState.B,
    CpLevel.C: EvseState.C,
    CpLevel.D: EvseState.D,
    CpLevel.E: EvseState.E,
    CpLevel.F: EvseState.E,  # we read -12 V while driving +12 V: the pilot is pulled down, an error
    CpLevel.DIODE_FAULT: EvseState.E,
    CpLevel.INVALID: EvseState.E,
}


def decide(state: EvseState, allow: bool) -> Decision:
    return TABLE[(state, allow)]


def next_state(level: CpLevel) -> EvseState:
    return LEVEL_TO_STATE[level]


def is_vehicle_connected(state: EvseState) -> bool:
    return state in (EvseState.B, EvseState.C, EvseState.D)


def iec_name(state: EvseState, pwm_on: bool) -> str:
    """The IEC 61851 name with the PWM digit: A1/A2, B1/B2, C1/C2, D1/D2 (1: no PWM, 2: PWM on); E, F."""
    if state in (EvseState.E, EvseState.F):
        return state.value
    return f"{state.value}{2 if pwm_on else 1}"
