"""ChangeAvailability (OCPP 1.6 §5.2): Operative / Inoperative per connector or for the whole station
(connector 0), persisted across restarts in `availability.json` under the state directory.

A connector with a running transaction is not taken out of service at once: the answer is Scheduled and the
change applies when that transaction ends (also after a restart, because the wanted state is stored
first). An Inoperative connector reports Unavailable and is offered no current; Operative brings it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from controller.ports import ChangeBus, Trace
from controller.statefile import read_json, write_json
from controller.transactions.sessions import Session

FILE = "availability.json"


class UnavailableSockets(Protocol):
    """The mirror's availability flag per socket, which this service alone sets."""

    def is_unavailable(self, cid: int) -> bool: ...

    def set_unavailable(self, cid: int, unavailable: bool) -> None: ...


class RunningSessions(Protocol):
    @property
    def sessions(self) -> Mapping[int, Session]: ...


class Availability:
    def __init__(
        self,
        state_dir: Path,
        connectors: Iterable[int],
        sockets: UnavailableSockets,
        sessions: RunningSessions,
        changes: ChangeBus,
        trace: Trace,
    ) -> None:
        self.path = state_dir / FILE
        self._sockets = sockets
        self._sessions = sessions
        self._changes = changes
        self._trace = trace
        raw = read_json(self.path, {})
        raw = raw if isinstance(raw, dict) else {}
        self.station_inoperative = raw.get("station") == "Inoperative"
        wanted_raw = raw.get("connectors")
        wanted: dict[str, Any] = wanted_raw if isinstance(wanted_raw, dict) else {}
        self.wanted: dict[int, str] = {}
        for cid in connectors:
            value = wanted.get(str(cid), "Operative")
            self.wanted[cid] = value if value in ("Operative", "Inoperative") else "Operative"

    def _save(self) -> None:
        write_json(
            self.path,
            {
                "station": "Inoperative" if self.station_inoperative else "Operative",
                "connectors": {str(c): v for c, v in self.wanted.items()},
            },
        )

    def _target(self, cid: int) -> bool:
        """Whether connector `cid` should be unavailable."""
        return self.station_inoperative or self.wanted.get(cid) == "Inoperative"

    def apply(self) -> list[int]:
        """Apply the wanted state to every connector without a transaction; returns the ones still pending."""
        pending: list[int] = []
        for cid in self.wanted:
            target = self._target(cid)
            if self._sockets.is_unavailable(cid) == target:
                continue
            if target and self._sessions.sessions[cid].in_transaction:
                pending.append(cid)
                continue
            self._sockets.set_unavailable(cid, target)
            self._trace(f"connector {cid}: {'Inoperative' if target else 'Operative'}")
        return pending

    def change(self, connector_id: int, kind: str) -> str:
        if kind not in ("Operative", "Inoperative"):
            return "Rejected"
        if connector_id != 0 and connector_id not in self.wanted:
            return "Rejected"
        if connector_id == 0:
            self.station_inoperative = kind == "Inoperative"
            if kind == "Operative":
                self.wanted = dict.fromkeys(self.wanted, "Operative")
        else:
            self.wanted[connector_id] = kind
        self._save()
        pending = self.apply()
        self._changes.limits_changed()
        targets = list(self.wanted) if connector_id == 0 else [connector_id]
        return "Scheduled" if any(c in pending for c in targets) else "Accepted"

    def on_transaction_end(self, cid: int) -> None:
        if self._target(cid) and not self._sockets.is_unavailable(cid):
            self._sockets.set_unavailable(cid, True)
            self._trace(f"connector {cid}: scheduled Inoperative applied after the transaction")

    @property
    def station_unavailable(self) -> bool:
        return self.station_inoperative
