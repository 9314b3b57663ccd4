"""The station's periodic work (every 0.1 s on the injected clock): the card reader, expiring authorisations,
invalidated transactions, the session timers (DisconnectAction, TimeUnlock/ReportWhenNotCharging), the LEDs
and a nudge to the journal sender."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from controller.auth.authorizer import Authorizer
from controller.clock import Clock
from controller.leds import LedController
from controller.ports import ChangeBus, LinkPort, Settings, Trace
from controller.station.sockets import Sockets
from controller.transactions.journal import Journal
from controller.transactions.sessions import SessionManager
from controller.transactions.timers import ConnectorSnapshot, SessionTimers

TICK_S = 0.1


class CardReader(Protocol):
    def poll(self) -> str | None: ...


class Housekeeping:
    def __init__(
        self,
        clock: Clock,
        settings: Settings,
        rfid: CardReader | None,
        auth: Authorizer,
        sessions: SessionManager,
        sockets: Sockets,
        journal: Journal,
        link: LinkPort,
        leds: LedController,
        notify_sender: Callable[[], None],
        changes: ChangeBus,
        trace: Trace,
    ) -> None:
        self._clock = clock
        self._settings = settings
        self._rfid = rfid
        self._auth = auth
        self._sessions = sessions
        self._sockets = sockets
        self._journal = journal
        self._link = link
        self._leds = leds
        self._notify_sender = notify_sender
        self._changes = changes
        self._trace = trace
        self.timers = SessionTimers()
        self.warnings: set[int] = set()  # sockets whose idle transaction the timers warn about

    async def run(self) -> None:
        while True:
            await self._clock.sleep(TICK_S)
            await self.tick()

    async def tick(self) -> None:
        if self._rfid is not None:
            uid = self._rfid.poll()
            if uid:
                await self._card(uid)
        self._sessions.expire_authorizations()
        self._auth.enforce()
        self._run_timers()
        self._leds.refresh()
        if self._journal.pending_count():
            self._notify_sender()

    async def _card(self, uid: str) -> None:
        self._trace(f"card presented: {uid}")
        self._leds.interaction()
        if self._auth.master_intercept(uid):
            return
        outcome = await self._sessions.on_tag(uid)
        if outcome not in ("authorized", "stop"):
            self._leds.signal("red")
        self._notify_sender()

    def _run_timers(self) -> None:
        snaps = {
            cid: ConnectorSnapshot(
                in_transaction=self._sessions.sessions[cid].in_transaction,
                cp_state=v.cp_state,
                charging=v.charging,
            )
            for cid, v in self._sockets.items()
        }
        for action in self.timers.step(self._clock.monotonic(), self._settings, self._link.online, snaps):
            if action.kind == "stop":
                self._trace(f"connector {action.connector}: session timer stops the transaction ({action.reason})")
                self._sessions.stop(action.connector, action.reason)
                self._notify_sender()
            elif action.kind == "warn":
                self.warnings.add(action.connector)
                self._changes.status_changed()
            elif action.kind == "clear_warn":
                self.warnings.discard(action.connector)
                self._changes.status_changed()
