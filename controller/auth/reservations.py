"""Reservations (OCPP 1.6 §5.13 ReserveNow / §5.3 CancelReservation): which id tag a connector is kept for.

A reservation on a connector keeps it for its idTag (or an id with the same parentIdTag) until expiryDate;
other ids are refused there and the connector reports Reserved. A reservation on connector 0
(ReserveConnectorZeroSupported) keeps *one* free connector for its id: other ids may start as long as more
free connectors remain than there are such reservations. Starting a transaction with the reserved id ends
the reservation and puts its reservationId in StartTransaction. Reservations persist in `auth.sqlite` and
expire through the injectable clock (`run()` sleeps until the earliest expiry).

`answer()` (pure) decides the ReserveNow status from the connectors' OCPP statuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.auth.store import AuthStore
from controller.clock import Clock
from controller.ports import ChangeBus, Settings, SocketsView, Trace
from controller.timefmt import TimeFormatError, parse_time
from controller.transactions.sessions import Session

BUSY = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved"})

CONFIG_KEYS = ("ReserveConnectorZeroSupported",)


@dataclass(frozen=True)
class Reservation:
    id: int
    connector_id: int
    id_tag: str
    parent: str | None
    expiry: float  # epoch seconds

    def matches(self, id_tag: str | None, parent: str | None) -> bool:
        if id_tag is None:
            return False
        return id_tag == self.id_tag or (self.parent is not None and parent == self.parent)


def answer(
    connector_id: int,
    statuses: Mapping[int, str],
    reserved_elsewhere: Mapping[int, Reservation],
    zero_reservations: int,
    zero_supported: bool,
) -> str:
    """ReserveNow status. `statuses`: OCPP status of each connector ignoring reservations;
    `reserved_elsewhere`: connector -> reservation by another reservationId; `zero_reservations`: other
    reservations on connector 0."""
    if connector_id == 0:
        if not zero_supported:
            return "Rejected"
        free = [c for c, st in statuses.items() if st == "Available" and c not in reserved_elsewhere]
        if len(free) > zero_reservations:
            return "Accepted"
        if statuses and all(st == "Faulted" for st in statuses.values()):
            return "Faulted"
        if statuses and all(st == "Unavailable" for st in statuses.values()):
            return "Unavailable"
        return "Occupied"
    st = statuses.get(connector_id)
    if st is None:
        return "Rejected"
    if st == "Faulted":
        return "Faulted"
    if st == "Unavailable":
        return "Unavailable"
    if st in BUSY or connector_id in reserved_elsewhere:
        return "Occupied"
    free = [c for c, s in statuses.items() if s == "Available" and c not in reserved_elsewhere]
    if zero_reservations and len(free) - 1 < zero_reservations:
        return "Occupied"  # the last free connector is kept for a connector-0 reservation
    return "Accepted"


class ParentLookup(Protocol):
    def parent_of(self, id_tag: str) -> str | None: ...


class SessionsView(Protocol):
    @property
    def sessions(self) -> Mapping[int, Session]: ...


class Reservations:
    def __init__(
        self,
        store: AuthStore,
        parents: ParentLookup,
        settings: Settings,
        clock: Clock,
        sockets: SocketsView,
        sessions: SessionsView,
        status_without_reservation: Callable[[int], str],
        changes: ChangeBus,
        trace: Trace,
    ) -> None:
        self.store = store
        self._parents = parents
        self._settings = settings
        self._clock = clock
        self._sockets = sockets
        self._sessions = sessions
        self._status_without_reservation = status_without_reservation
        self._bus = changes
        self._trace = trace
        self.items: dict[int, Reservation] = {
            rid: Reservation(rid, cid, tag, parent, exp) for rid, cid, tag, parent, exp in self.store.reservations()
        }
        self._wake = asyncio.Event()

    def _now(self) -> float:
        return float(self._clock.now().timestamp())

    def _parent(self, id_tag: str | None) -> str | None:
        if id_tag is None:
            return None
        return self._parents.parent_of(id_tag)

    # -- queries -----------------------------------------------------------------------------------------------
    def on_connector(self, cid: int) -> Reservation | None:
        for r in self.items.values():
            if r.connector_id == cid:
                return r
        return None

    def _free(self, exclude_rid: int | None = None) -> list[int]:
        sessions = self._sessions.sessions
        return [
            cid
            for cid in self._sockets
            if not sessions[cid].in_transaction
            and not sessions[cid].finishing
            and not self._sockets[cid].unavailable
            and (self.on_connector(cid) is None or self.on_connector(cid).id == exclude_rid)  # type: ignore[union-attr]
        ]

    def zero(self) -> list[Reservation]:
        return [r for r in self.items.values() if r.connector_id == 0]

    def shows_reserved(self, cid: int) -> bool:
        """Whether connector `cid` reports Reserved."""
        if self.on_connector(cid) is not None:
            return True
        zero = self.zero()
        free = self._free()
        return bool(zero) and cid in free and len(free) <= len(zero)

    def may_use(self, cid: int, id_tag: str | None) -> bool:
        """Whether `id_tag` may start on `cid` as far as reservations go."""
        parent = self._parent(id_tag)
        own = self.on_connector(cid)
        if own is not None:
            return own.matches(id_tag, parent)
        zero = self.zero()
        if not zero or any(r.matches(id_tag, parent) for r in zero):
            return True
        free = self._free()
        return len(free) - (1 if cid in free else 0) >= len(zero)

    def match(self, cid: int, id_tag: str | None) -> Reservation | None:
        parent = self._parent(id_tag)
        own = self.on_connector(cid)
        if own is not None and own.matches(id_tag, parent):
            return own
        for r in self.zero():
            if r.matches(id_tag, parent):
                return r
        return None

    # -- changes -----------------------------------------------------------------------------------------------
    def reserve(
        self, reservation_id: int, connector_id: int, expiry_date: str, id_tag: str, parent: str | None
    ) -> str:
        try:
            expiry = parse_time(expiry_date)
        except TimeFormatError:
            return "Rejected"
        if expiry is None or expiry <= self._now():
            return "Rejected"
        if connector_id != 0 and connector_id not in self._sockets:
            return "Rejected"
        statuses = {cid: self._status_without_reservation(cid) for cid in self._sockets}
        others = {r.connector_id: r for r in self.items.values() if r.id != reservation_id and r.connector_id}
        zero_others = sum(1 for r in self.zero() if r.id != reservation_id)
        if self._settings.spec("ReserveConnectorZeroSupported") is not None:
            zero_ok = self._settings.get_bool("ReserveConnectorZeroSupported")
        else:
            zero_ok = False
        status = answer(connector_id, statuses, others, zero_others, zero_ok)
        if status != "Accepted":
            return status
        r = Reservation(reservation_id, connector_id, id_tag, parent, expiry)
        self.items[reservation_id] = r
        self.store.reservation_put(r.id, r.connector_id, r.id_tag, r.parent, r.expiry)
        self._trace(f"reservation {reservation_id}: connector {connector_id} kept for {id_tag}")
        self._changed()
        return "Accepted"

    def cancel(self, reservation_id: int) -> bool:
        if reservation_id not in self.items:
            return False
        self._drop(reservation_id, "cancelled")
        return True

    def consume_for(self, cid: int, id_tag: str | None) -> int | None:
        """A transaction starts on `cid` for `id_tag`: the reservation it uses up (its id), if any."""
        r = self.match(cid, id_tag)
        if r is None:
            return None
        self.consume(r)
        return r.id

    def consume(self, r: Reservation) -> None:
        self._drop(r.id, "used")

    def _drop(self, rid: int, why: str) -> None:
        r = self.items.pop(rid, None)
        self.store.reservation_delete(rid)
        if r is not None:
            self._trace(f"reservation {rid} {why}")
        self._changed()

    def _changed(self) -> None:
        self._wake.set()
        self._bus.limits_changed()

    def expire(self) -> None:
        now = self._now()
        for rid in [r.id for r in self.items.values() if r.expiry <= now]:
            self._drop(rid, "expired")

    async def run(self) -> None:
        while True:
            self._wake.clear()
            self.expire()
            self._wake.clear()
            nxt = min((r.expiry for r in self.items.values()), default=None)
            waker = asyncio.ensure_future(self._wake.wait())
            tasks: set[asyncio.Future[Any]] = {waker}
            if nxt is not None:
                tasks.add(asyncio.ensure_future(self._clock.sleep(max(0.0, nxt - self._now()) + 0.001)))
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in tasks:
                    t.cancel()
