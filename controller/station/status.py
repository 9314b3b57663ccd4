"""The OCPP status of every connector (and of the station, connector 0): derived from the mirror, the
sessions, reservations and availability (`ocpp.status.derive_status`, pure), de-duplicated, traced and handed
to the status reporter. The offer that decides SuspendedEVSE is the one last commanded (`limits.py`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from controller.evse.faults import PAUSING, REPORT_ONLY, Fault
from controller.ocpp.errors import ocpp_error
from controller.ocpp.status import Status, StatusInputs, commanded_offer, derive_status
from controller.ports import SocketsView, Trace
from controller.station.sockets import Sockets
from controller.transactions.sessions import Session, SessionManager


class StatusSink(Protocol):
    def update(self, cid: int, st: Status, force: bool = False) -> None: ...


class ReservedQuery(Protocol):
    def shows_reserved(self, cid: int) -> bool: ...


class StationAvailability(Protocol):
    @property
    def station_unavailable(self) -> bool: ...


class SessionsView(Protocol):
    @property
    def sessions(self) -> Mapping[int, Session]: ...


class StationStatus:
    def __init__(
        self,
        sockets: SocketsView,
        sessions: SessionsView,
        commanded: Callable[[], Mapping[int, Mapping[str, Any]]],
        reservations: ReservedQuery,
        availability: StationAvailability,
        sink: StatusSink,
        trace: Trace,
    ) -> None:
        self._sockets = sockets
        self._sessions = sessions
        self._commanded = commanded
        self._reservations = reservations
        self._availability = availability
        self._sink = sink
        self._trace = trace
        self._reported: dict[int, Status] = {}

    def derive(self, cid: int) -> Status:
        if cid == 0:
            hard = [f for f in self._sockets.station_faults if Fault(f) not in PAUSING and Fault(f) not in REPORT_ONLY]
            if hard:
                code, info = ocpp_error(hard)
                return Status("Faulted", code, info)
            return Status("Unavailable" if self._availability.station_unavailable else "Available")
        return self._derive_connector(cid, self._reservations.shows_reserved(cid))

    def without_reservation(self, cid: int) -> str:
        return self._derive_connector(cid, False).status

    def offered(self, cid: int) -> float:
        """The current (A) we offer `cid` now: the last commanded limits, else the loop's report."""
        return commanded_offer({str(k): dict(v) for k, v in self._commanded().items()}, cid, self._sockets[cid].offered_a)

    def meter_sample(self, cid: int) -> dict[str, Any] | None:
        """What the meter value schedule measures on `cid`: the loop's last sample, our offer, the temperature."""
        if cid not in self._sockets or self._sockets[cid].meter is None:
            return None
        return dict(self._sockets[cid].meter or {}, offered_a=self.offered(cid), temperature_c=self._sockets.temperature_c)

    def _derive_connector(self, cid: int, reserved: bool) -> Status:
        v = self._sockets[cid]
        s = self._sessions.sessions[cid]
        return derive_status(
            StatusInputs(
                cp_state=v.cp_state,
                contactor_closed=v.contactor == "closed",
                offered_a=self.offered(cid),
                current_a=max(v.currents) if v.currents else 0.0,
                faults=tuple(sorted(set(v.faults))),
                in_transaction=s.in_transaction,
                authorized_waiting=s.authorized_at is not None,
                finishing=s.finishing,
                unavailable=v.unavailable,
                reserved=reserved,
            )
        )

    def current(self, cid: int) -> Status:
        """What was last reported for `cid` (derived now if nothing was)."""
        return self._reported.get(cid) or self.derive(cid)

    def report(self, cid: int, force: bool = False) -> None:
        """Derive `cid`'s status and hand it on when it changed (or `force`: TriggerMessage)."""
        st = self.derive(cid)
        prev = self._reported.get(cid)
        if st == prev and not force:
            return
        self._reported[cid] = st
        if st != prev:
            self._trace(f"connector {cid}: {st.status}" + (f" ({st.error_code} {st.info})" if st.info else ""))
        self._sink.update(cid, st, force)

    def report_all(self) -> None:
        for cid in [0, *self._sockets]:
            self.report(cid)


def snapshot(
    sockets: Sockets, sessions: SessionManager, status: StationStatus, online: bool, restarts: int,
    energy: Mapping[str, Any],
) -> dict[str, Any]:
    """The station as the sim control API, diagnostics and the demo show it."""
    conns = []
    for cid, v in sockets.items():
        s = sessions.sessions[cid]
        conns.append(
            {
                "id": cid,
                "cp_state": v.cp_state,
                "pwm_duty": v.pwm_duty,
                "offered_a": v.offered_a,
                "contactor": v.contactor,
                "currents": v.currents,
                "energy_wh": v.energy_wh,
                "ocpp_status": status.current(cid).status,
                "faults": v.faults,
                "transaction_id": sessions.remote_id(s),
                "id_tag": s.id_tag,
            }
        )
    return {
        "connectors": conns,
        "faults": sockets.station_faults,
        "online": online,
        "control_restarts": restarts,
        "energy": dict(energy),
    }
