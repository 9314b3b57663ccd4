"""What the status page shows, as one JSON-able dict built from the station's snapshot, the socket mirror
and the journal: per socket the IEC 61851 state, the OCPP status, offered and drawn current per phase, power,
the session's energy, the id tag (masked) and the faults with their meaning; the back office link, the
firmware version, the temperature and the grid meter's house load (when active load balancing has one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.web.faults import describe
from controller.web.sources import WebParts

IEC_STATES = {
    "A": "no vehicle",
    "B": "vehicle connected",
    "C": "charging",
    "D": "charging, ventilation",
    "E": "error (no pilot)",
    "F": "station unavailable",
}


def mask_tag(tag: str | None) -> str | None:
    """An id tag as pages, CSV files and traces may show it: its first and last two characters."""
    if not tag:
        return None
    if len(tag) <= 6:
        return "*" * len(tag)
    return f"{tag[:2]}{'*' * (len(tag) - 4)}{tag[-2:]}"


def _phases(offered: float, count: int) -> list[float]:
    return [round(offered, 2) if i < count else 0.0 for i in range(3)]


def station_status(parts: WebParts, phases: Mapping[int, int], now: float) -> dict[str, Any]:
    """The status page's data at wall-clock time `now` (epoch seconds)."""
    snap = parts.snapshot()
    starts = {rec.connector_id: rec.meter_start for rec in parts.journal.active_transactions()}
    sockets = []
    for conn in snap["connectors"]:
        cid = int(conn["id"])
        view = parts.sockets[cid]
        meter = view.meter or {}
        session_wh = conn["energy_wh"] - starts[cid] if cid in starts else None
        sockets.append({
            "id": cid,
            "cp_state": conn["cp_state"],
            "cp_meaning": IEC_STATES.get(str(conn["cp_state"]), "unknown"),
            "ocpp_status": conn["ocpp_status"],
            "contactor": conn["contactor"],
            "offered": _phases(float(conn["offered_a"]), phases.get(cid, 3)),
            "drawn": [round(float(a), 2) for a in conn["currents"]],
            "power_w": round(float(meter.get("power_w", 0.0)), 1),
            "energy_wh": round(float(conn["energy_wh"]), 1),
            "session_wh": None if session_wh is None else round(max(session_wh, 0.0), 1),
            "transaction_id": conn["transaction_id"],
            "id_tag": mask_tag(conn["id_tag"]),
            "faults": [describe(code) for code in conn["faults"]],
        })
    house = ((snap.get("energy") or {}).get("meter") or {}).get("house")
    link = parts.link()
    return {
        "time": now,
        "sockets": sockets,
        "station_faults": [describe(code) for code in snap["faults"]],
        "online": bool(snap["online"]),
        "identity": link.identity,
        "firmware_version": link.firmware_version,
        "temperature_c": parts.sockets.temperature_c,
        "house": list(house) if house else None,
    }
