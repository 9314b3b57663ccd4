"""What the bridge publishes per socket (pure): one topic per value, as text, rounded so that a value is
published again only when it really changed.

The values (topic name -> text): `iec_state` (A..F), `ocpp_status` (the OCPP 1.6 status the back office
gets), `offered_current` (A, what the control loop applies), `current_l1..3` (A), `power` (W), `session_energy`
(Wh since the session started, 0 outside one), `total_energy` (Wh, the socket meter's register), and the
commands' state: `max_current` (A MQTT allows now), `charging` (ON unless an MQTT pause is in force).
A value the socket meter does not give (no meter, no power reading) or that is not finite is left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from controller.ports import SocketState

IEC_STATES = ("A", "B", "C", "D", "E", "F")
OCPP_STATUSES = ("Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
                 "Reserved", "Unavailable", "Faulted")


class SessionEnergy(Protocol):
    """A socket's charging session as the report reads it (`transactions.sessions.Session`)."""

    @property
    def in_transaction(self) -> bool: ...

    @property
    def meter_start_wh(self) -> int: ...


def _num(value: Any, digits: int) -> str | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    return f"{round(x, digits):.{digits}f}" if digits else str(int(round(x)))


def iec_state(cp_state: str) -> str:
    letter = (cp_state or "F")[0].upper()
    return letter if letter in IEC_STATES else "F"


def socket_values(
    v: SocketState, ocpp_status: str, session: SessionEnergy | None, max_current_a: float, paused: bool
) -> dict[str, str]:
    """Topic name -> payload for one socket."""
    out: dict[str, str | None] = {
        "iec_state": iec_state(v.cp_state),
        "ocpp_status": ocpp_status if ocpp_status in OCPP_STATUSES else None,
        "offered_current": _num(v.offered_a, 1),
        "max_current": _num(max_current_a, 1),
        "charging": "OFF" if paused else "ON",
    }
    meter: Mapping[str, Any] | None = v.meter
    if meter is not None:
        currents = list(v.currents)
        for p in range(3):
            out[f"current_l{p + 1}"] = _num(currents[p], 1) if p < len(currents) else None
        out["power"] = _num(meter.get("power_w"), 0)
        total = _num(v.energy_wh, 0)
        out["total_energy"] = total
        if session is not None and total is not None:
            used = v.energy_wh - session.meter_start_wh if session.in_transaction else 0.0
            out["session_energy"] = _num(max(0.0, used), 0)
    return {k: text for k, text in out.items() if text is not None}
