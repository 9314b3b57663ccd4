"""Charging sessions: who is authorised on which socket, when a transaction starts and stops.

Reacts to the control loop's connector states, presented cards and remote requests. A transaction starts
when an authorisation and a plugged car meet (either order), and stops on the same card again, a remote
stop, the car unplugging (StopTransactionOnEVSideDisconnect), a deauthorisation, or a reset. Every start
and stop goes into the durable journal first; the journal sender delivers them. The authorisation of a
waiting card expires after ConnectionTimeOut seconds without a car.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller.clock import Clock
from controller.ports import Settings
from controller.timefmt import format_time
from controller.transactions.journal import Journal

log = logging.getLogger(__name__)

PLUGGED = ("B", "C", "D")
CONFIG_KEYS = ("AuthorizeRemoteTxRequests", "ConnectionTimeOut", "StopTransactionOnEVSideDisconnect")


@dataclass
class Session:
    connector_id: int
    id_tag: str | None = None
    authorized_at: float | None = None  # monotonic time of an authorisation waiting for a car
    local_tx: int | None = None
    meter_start_wh: int = 0
    started_at: float = 0.0
    finishing: bool = False
    stop_requested: bool = False
    suspended: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_transaction(self) -> bool:
        return self.local_tx is not None


class SessionManager:
    def __init__(
        self,
        connectors: list[int],
        journal: Journal,
        clock: Clock,
        config: Settings,
        authorize: Callable[[str], Awaitable[str]],
        energy_wh: Callable[[int], float],
        on_change: Callable[[], None],
        log_line: Callable[[str], None] | None = None,
    ) -> None:
        self.sessions = {cid: Session(cid) for cid in connectors}
        self.journal = journal
        self.clock = clock
        self.config = config
        self._authorize = authorize
        self._energy_wh = energy_wh
        self._on_change = on_change
        self._log = log_line or (lambda s: None)
        self.cp_state: dict[int, str] = {cid: "A" for cid in connectors}
        # hooks the composition root sets: reservations (who may use a connector, which reservation a start
        # consumes) and what follows a start or stop (smart charging, scheduled availability)
        self.may_use: Callable[[int, str | None], bool] = lambda cid, tag: True
        self.reservation_for: Callable[[int, str | None], int | None] = lambda cid, tag: None
        self.on_started: Callable[[int], None] = lambda cid: None
        self.on_stopped: Callable[[int], None] = lambda cid: None
        self.before_stop: Callable[[int], None] = lambda cid: None  # still in the transaction (signed end value)
        self.same_group: Callable[[str, str], bool] = lambda a, b: False  # same parentIdTag: may stop it
        self._recover()

    def _recover(self) -> None:
        """Transactions that were active when the station went down are known again (their stop follows the
        Power Outage Recovery policy, applied by `recover_after_restart`)."""
        for rec in self.journal.active_transactions():
            s = self.sessions.get(rec.connector_id)
            if s is not None:
                s.local_tx = rec.local_id
                s.id_tag = rec.id_tag
                s.meter_start_wh = rec.meter_start

    # -- queries ---------------------------------------------------------------------------------------------
    def session_for_remote(self, transaction_id: int) -> Session | None:
        for s in self.sessions.values():
            if s.local_tx is not None:
                rec = self.journal.transaction(s.local_tx)
                if rec and rec.remote_id == transaction_id:
                    return s
        return None

    def remote_id(self, s: Session) -> int | None:
        if s.local_tx is None:
            return None
        rec = self.journal.transaction(s.local_tx)
        return rec.remote_id if rec else None

    def authorized(self, cid: int) -> bool:
        s = self.sessions[cid]
        return s.in_transaction and not s.stop_requested

    # -- events ----------------------------------------------------------------------------------------------
    async def on_tag(self, id_tag: str) -> str:
        """A card was presented. Returns what happened (for the trace)."""
        for s in self.sessions.values():
            if s.in_transaction and s.id_tag is not None and (s.id_tag == id_tag or self.same_group(s.id_tag, id_tag)):
                self.stop(s.connector_id, "Local", id_tag)  # the card presented asked for the stop
                return "stop"
        status = await self._authorize(id_tag)
        if status != "Accepted":
            self._log(f"card {id_tag}: {status}")
            return status
        target = self._pick_connector(id_tag=id_tag)
        if target is None:
            self._log(f"card {id_tag}: no free connector")
            return "no connector"
        s = self.sessions[target]
        s.id_tag = id_tag
        s.authorized_at = self.clock.monotonic()
        self._on_change()
        self.try_start(target)
        return "authorized"

    def _pick_connector(self, wanted: int | None = None, id_tag: str | None = None) -> int | None:
        if wanted:
            s = self.sessions.get(wanted)
            ok = s is not None and not s.in_transaction and self.may_use(wanted, id_tag)
            return wanted if ok else None
        free = [s for s in self.sessions.values() if not s.in_transaction and self.may_use(s.connector_id, id_tag)]
        plugged = [s for s in free if self.cp_state.get(s.connector_id) in PLUGGED and not s.finishing]
        pick = plugged or [s for s in free if self.cp_state.get(s.connector_id) == "A"]
        return pick[0].connector_id if pick else None

    def authorize_on(self, cid: int, id_tag: str) -> bool:
        """Authorise `id_tag` on one connector without asking anyone (Plug&Charge); starts when plugged."""
        s = self.sessions.get(cid)
        if s is None or s.in_transaction or s.finishing or not self.may_use(cid, id_tag):
            return False
        s.id_tag = id_tag
        s.authorized_at = self.clock.monotonic()
        self._on_change()
        self.try_start(cid)
        return True

    async def remote_start(self, id_tag: str, connector_id: int | None) -> bool:
        target = self._pick_connector(connector_id, id_tag)
        if target is None:
            return False
        if self.config.get_bool("AuthorizeRemoteTxRequests"):
            # The request is answered first (a handler that waited for its own Authorize.conf would block the
            # connection's reader); then the id is authorised as if presented here (OCPP 1.6 §5.11).
            self._background = asyncio.ensure_future(self._authorize_remote(target, id_tag))
            return True
        s = self.sessions[target]
        s.id_tag = id_tag
        s.authorized_at = self.clock.monotonic()
        self._on_change()
        self.try_start(target)
        return True

    async def _authorize_remote(self, target: int, id_tag: str) -> None:
        status = await self._authorize(id_tag)
        s = self.sessions[target]
        if status != "Accepted":
            self._log(f"remote start for {id_tag}: {status}")
            return
        if s.in_transaction or s.authorized_at is not None:
            return
        s.id_tag = id_tag
        s.authorized_at = self.clock.monotonic()
        self._on_change()
        self.try_start(target)

    def remote_stop(self, transaction_id: int) -> bool:
        s = self.session_for_remote(transaction_id)
        if s is None:
            return False
        self.stop(s.connector_id, "Remote")
        return True

    def on_cp_state(self, cid: int, state: str) -> None:
        old = self.cp_state.get(cid)
        self.cp_state[cid] = state
        s = self.sessions[cid]
        if state == "A":
            s.finishing = False
            if s.in_transaction and old != "A":
                if self.config.get_bool("StopTransactionOnEVSideDisconnect"):
                    self.stop(cid, "EVDisconnected")
        elif state in PLUGGED:
            self.try_start(cid)
        self._on_change()

    def try_start(self, cid: int) -> None:
        s = self.sessions[cid]
        if s.in_transaction or s.id_tag is None or s.authorized_at is None:
            return
        if self.cp_state.get(cid) not in PLUGGED:
            return
        meter = int(round(self._energy_wh(cid)))
        now = format_time(self.clock.now())
        reservation_id = self.reservation_for(cid, s.id_tag)
        s.local_tx = self.journal.start_transaction(cid, s.id_tag, meter, now, reservation_id=reservation_id)
        s.meter_start_wh = meter
        s.started_at = self.clock.monotonic()
        s.authorized_at = None
        s.stop_requested = False
        s.finishing = False
        self._log(f"connector {cid}: transaction started for {s.id_tag} at {meter} Wh")
        self.on_started(cid)
        self._on_change()

    def stop(self, cid: int, reason: str | None, requested_by: str | None = None) -> None:
        """End the transaction on `cid`. `requested_by`: the identifier that asked for the stop (a card
        presented locally); the StopTransaction's idTag is that, and absent when no tag asked (Remote,
        EVDisconnected, PowerLoss, DeAuthorized, ...: OCPP 1.6 StopTransaction.req idTag)."""
        s = self.sessions[cid]
        if s.local_tx is None:
            return
        self.before_stop(cid)
        meter = int(round(self._energy_wh(cid)))
        now = format_time(self.clock.now())
        self.journal.stop_transaction(s.local_tx, meter, now, reason, requested_by)
        self._log(f"connector {cid}: transaction stopped ({reason}) at {meter} Wh")
        s.local_tx = None
        s.id_tag = None
        s.authorized_at = None
        s.finishing = self.cp_state.get(cid) in PLUGGED
        s.suspended = False
        s.extra.pop("invalidated", None)
        self.on_stopped(cid)
        self._on_change()

    def on_start_confirmed(self, local_tx: int, id_tag_status: str | None) -> None:
        """StartTransaction.conf arrived; an id tag the back office does not accept ends the transaction."""
        if id_tag_status in (None, "Accepted", "ConcurrentTx"):
            return
        for s in self.sessions.values():
            if s.local_tx == local_tx:
                if self.config.get_bool("StopTransactionOnInvalidId"):
                    self.stop(s.connector_id, "DeAuthorized")
                else:
                    s.suspended = True  # keep the transaction, deliver no more energy
                    self._on_change()

    def expire_authorizations(self) -> None:
        timeout = self.config.get_int("ConnectionTimeOut")
        now = self.clock.monotonic()
        for s in self.sessions.values():
            if s.authorized_at is not None and not s.in_transaction and now - s.authorized_at >= timeout:
                self._log(f"connector {s.connector_id}: authorisation of {s.id_tag} expired (no car)")
                s.id_tag = None
                s.authorized_at = None
                self._on_change()

    def meter_values(self, cid: int, sampled: list[dict[str, Any]]) -> None:
        s = self.sessions[cid]
        if s.local_tx is None or not sampled:
            return
        now = format_time(self.clock.now())
        self.journal.add_meter_values(s.local_tx, cid, [{"timestamp": now, "sampledValue": sampled}])
