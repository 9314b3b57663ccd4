"""What each socket may be offered, published to the control loop: the socket's maximum (board and
ConnectorN-MaxCurrent) x the smart charging schedules in force x further caps (`caps`: MQTT commands) x energy
allocation (Station-MaxCurrent, grid meter, Modbus setpoints) x the session (authorised, suspended) x
availability -> one limits message.

`LimitArbiter.publish()` computes them and hands them to the `ControlPort`; it keeps what it last
commanded, which the status derivation uses (`commanded_offer`) instead of the loop's older report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from controller.ports import ControlPort, Settings, SocketsView
from controller.transactions.sessions import Session


class ScheduleCaps(Protocol):
    """Smart charging: (station cap, per-connector cap) in A now; math.inf where no profile limits."""

    def caps(self) -> tuple[float, dict[int, float]]: ...


class Allocation(Protocol):
    """Energy management: the offers within the station's and the grid's room."""

    @property
    def external_suspend(self) -> bool: ...

    def offers(
        self,
        socket_max: Mapping[int, float],
        active: set[int],
        station_cap: float | None = None,
        held: set[int] | frozenset[int] = frozenset(),
    ) -> dict[int, float]: ...

    def phases_for(self, cid: int) -> int:
        """The phases a socket's offer is meant for (its phase relay's target); 0: any (no relay)."""
        ...


class SessionLimits(Protocol):
    @property
    def sessions(self) -> Mapping[int, Session]: ...

    def authorized(self, cid: int) -> bool: ...


class LimitArbiter:
    def __init__(
        self,
        board_max: Mapping[int, float],
        settings: Settings,
        sockets: SocketsView,
        control: ControlPort,
        sessions: SessionLimits,
        schedules: Callable[[], ScheduleCaps],
        allocation: Allocation,
    ) -> None:
        self._board_max = dict(board_max)
        self._settings = settings
        self._sockets = sockets
        self._control = control
        self._sessions = sessions
        self._schedules = schedules  # late-bound: smart charging is built after the arbiter
        self._allocation = allocation
        self.commanded: dict[int, dict[str, Any]] = {}  # what was last published
        self.caps: list[Callable[[int], float]] = []  # further per-socket caps in A (MQTT commands)

    def socket_max(self, cid: int) -> float:
        """The socket's own maximum: the board's rating, capped by ConnectorN-MaxCurrent."""
        key = f"Connector{cid}-MaxCurrent"
        if self._settings.spec(key) is not None:
            return min(self._board_max[cid], self._settings.get_float(key))
        return self._board_max[cid]

    def compute(self) -> dict[int, dict[str, Any]]:
        active = {cid for cid, s in self._sessions.sessions.items() if s.in_transaction}
        held = {  # the station holds these cars (suspended, stopping, unavailable): their share goes to the others
            cid for cid in active
            if self._sessions.sessions[cid].suspended or not self._sessions.authorized(cid)
            or self._sockets[cid].unavailable
        }
        station_cap, socket_caps = self._schedules().caps()
        offers = self._allocation.offers(
            {cid: min(self.socket_max(cid), socket_caps.get(cid, math.inf), *(c(cid) for c in self.caps))
             for cid in self._sockets},
            active,
            station_cap=station_cap,
            held=held,
        )
        external_suspend = self._allocation.external_suspend  # DirectExternalSuspendSignal
        return {
            cid: {
                "max_current": offers[cid],
                "authorized": self._sessions.authorized(cid) and not self._sockets[cid].unavailable,
                "suspended": self._sessions.sessions[cid].suspended or external_suspend,
                "phases": self._allocation.phases_for(cid),
            }
            for cid in self._sockets
        }

    def publish(self) -> None:
        self.commanded = self.compute()
        self._control.set_limits(self.commanded)
