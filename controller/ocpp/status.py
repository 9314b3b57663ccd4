"""The OCPP connector status (pure): derived from what the control loop reports and the session.

Faulted for hard faults (with the error code of the most severe), Unavailable when set so, Reserved,
Available when no car and no session, Preparing with a car or an authorisation but no transaction,
Charging while the contactor is closed and the car draws, SuspendedEVSE when we offer nothing (paused,
temperature, no current allocated), SuspendedEV when we offer and the car does not take it, Finishing
after the transaction while the car is still plugged.

The offer that decides SuspendedEVSE is the one the main process itself commands (`commanded_offer`), not the
control loop's last report: right after StartTransaction the loop has not yet reported the new offer, and the
stale 0 A would show a false SuspendedEVSE for a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.evse.faults import PAUSING, REPORT_ONLY, Fault
from controller.ocpp.errors import ocpp_error


@dataclass(frozen=True)
class StatusInputs:
    cp_state: str  # A..F from the control loop
    contactor_closed: bool
    offered_a: float
    current_a: float  # largest phase current the socket meter sees
    faults: tuple[str, ...]
    in_transaction: bool
    authorized_waiting: bool  # an authorisation waits for a car
    finishing: bool  # the transaction ended and the car is still plugged
    unavailable: bool = False
    reserved: bool = False


@dataclass(frozen=True)
class Status:
    status: str
    error_code: str = "NoError"
    info: str | None = None


DRAW_THRESHOLD_A = 0.5


def derive_status(s: StatusInputs) -> Status:
    hard = [f for f in s.faults if Fault(f) not in PAUSING and Fault(f) not in REPORT_ONLY]
    if hard:
        code, info = ocpp_error(hard)
        return Status("Faulted", code, info)
    pausing = [f for f in s.faults if Fault(f) in PAUSING]
    code, info = ocpp_error(pausing) if pausing else ocpp_error([f for f in s.faults])
    plugged = s.cp_state in ("B", "C", "D")
    if s.in_transaction:
        if pausing or s.offered_a < 6.0:
            return Status("SuspendedEVSE", code, info)
        if s.contactor_closed and s.current_a >= DRAW_THRESHOLD_A:
            return Status("Charging", code, info)
        if s.cp_state in ("C", "D"):
            return Status("Charging", code, info)
        return Status("SuspendedEV", code, info)
    if s.unavailable:
        return Status("Unavailable", code, info)
    if plugged and s.finishing:
        return Status("Finishing", code, info)
    if s.reserved:
        return Status("Reserved", code, info)
    if plugged or s.authorized_waiting:
        return Status("Preparing", code, info)
    return Status("Available", code, info)


def commanded_offer(limits: dict[str, Any] | None, cid: int, fallback: float) -> float:
    """The current (A) the main process offers `cid` in its last limits (0 when not authorised or suspended);
    `fallback` (the loop's report) when no limits were published yet."""
    if not limits:
        return fallback
    c = limits.get(str(cid), limits.get(cid))  # type: ignore[call-overload]
    if not isinstance(c, dict):
        return fallback
    if not c.get("authorized") or c.get("suspended"):
        return 0.0
    try:
        return float(c.get("max_current", 0.0))
    except (TypeError, ValueError):
        return fallback
