"""The station's life cycle in the main process, on the injected clock: recovery after a power outage
(Power Outage Recovery), Reset (stop the transactions, let the journal deliver, stop, and tell whoever runs
the station to start a new one), and UnlockConnector (stop the transaction, withdraw the authorisation,
wait for the control loop's lock feedback)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from controller.clock import Clock
from controller.ports import LinkPort, Settings, SocketsView, Trace
from controller.transactions.journal import Journal
from controller.transactions.sessions import SessionManager

RESET_DELIVERY_S = 5.0  # a Reset waits at most this long for the journal to deliver the stops
UNLOCK_WAIT_S = 8.0  # the contactor opens at the latest 6 s after the PWM goes off
POLL_S = 0.05
CONFIG_KEYS = ("Power Outage Recovery", "Max Allowed Outage Duration (s)", "ResetRetries")


class SecurityEvents(Protocol):
    @property
    def pending(self) -> int: ...

    def event(self, kind: str, tech_info: str | None = None) -> None: ...


def recover_after_outage(settings: Settings, journal: Journal, clock: Clock, trace: Trace) -> list[int]:
    """Power Outage Recovery: resume or stop (PowerLoss) what was active when we went down (before the
    sessions read the journal). Returns the local ids of the resumed transactions."""
    try:
        policy = settings.get("Power Outage Recovery")
        max_s = settings.get_int("Max Allowed Outage Duration (s)")
    except (KeyError, ValueError):
        policy, max_s = "Idle", 0
    d = journal.recover_after_outage(policy, max_s, clock.now().timestamp())
    if d.resumed or d.stopped:
        outage = f"{d.outage_s:.0f} s" if d.outage_s is not None else "unknown"
        trace(f"after an outage of {outage}: resumed {d.resumed}, stopped {d.stopped} ({d.reason})")
    return list(d.resumed)


class _ConnectorSpec(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def devices(self) -> Mapping[str, Any]: ...


class BoardLocks(Protocol):
    """What `unlockable` reads of the board (read at each request, not copied)."""

    @property
    def fixed_cable(self) -> bool: ...
    @property
    def connectors(self) -> Sequence[_ConnectorSpec]: ...


def unlockable(board: BoardLocks) -> Callable[[int], bool]:
    """Which connectors UnlockConnector can unlock: none with a fixed cable, nor one whose lock (the board's
    `lock` device) has the driver "none"."""

    def can_unlock(cid: int) -> bool:
        lock = next((c.devices.get("lock") for c in board.connectors if c.id == cid), None)
        return not board.fixed_cable and not (lock is not None and lock.driver == "none")

    return can_unlock


class Lifecycle:
    def __init__(
        self,
        clock: Clock,
        settings: Settings,
        journal: Journal,
        sessions: SessionManager,
        sockets: SocketsView,
        link: LinkPort,
        security: Callable[[], SecurityEvents],
        notify_sender: Callable[[], None],
        publish_limits: Callable[[], None],
        stop_station: Callable[[], Awaitable[None]],
        unlockable: Callable[[int], bool],
        resumed: list[int],
        trace: Trace,
    ) -> None:
        self._clock = clock
        self._settings = settings
        self._journal = journal
        self._sessions = sessions
        self._sockets = sockets
        self._link = link
        self._security = security
        self._notify_sender = notify_sender
        self._publish_limits = publish_limits
        self._stop_station = stop_station
        self._unlockable = unlockable
        self._trace = trace
        self.resumed = resumed  # local ids of the transactions resumed after an outage
        self.reset_done = asyncio.Event()  # set when a Reset/firmware reboot has stopped the station
        self.reset_kind: str | None = None

    def resumed_connectors(self) -> list[int]:
        """The sockets of resumed transactions: their car was plugged when the power went; if the loop now
        sees no car, that is an unplug (StopTransactionOnEVSideDisconnect decides), not a quiet state A."""
        return [
            rec.connector_id
            for rec in self._journal.active_transactions()
            if rec.local_id in self.resumed and rec.connector_id in self._sockets
        ]

    # -- Reset ---------------------------------------------------------------------------------------------
    async def reset(self, kind: str) -> None:
        """Reset.req (after the .conf): stop every transaction (SoftReset/HardReset), give the journal a
        moment to deliver the stops (what it cannot deliver now it delivers after the restart), then stop."""
        for cid, s in self._sessions.sessions.items():
            if s.in_transaction:
                self._sessions.stop(cid, "HardReset" if kind == "Hard" else "SoftReset")
        self._notify_sender()
        self._security().event("ResetOrReboot", f"{kind} reset requested by the back office")
        deadline = self._clock.monotonic() + RESET_DELIVERY_S
        while (self._journal.pending_count() or self._security().pending) and self._link.online:
            if self._clock.monotonic() > deadline:
                break
            await self._clock.sleep(POLL_S)
        await self.restart(kind)

    async def restart(self, kind: str) -> None:
        """Stop the station (retried ResetRetries times) and tell whoever runs it (`reset_done`) to start a new
        one on the same state directory: the CLI runner does, and so do the tests."""
        attempts = 1 + max(0, self._settings.get_int("ResetRetries"))
        for attempt in range(attempts):
            try:
                await self._stop_station()
                break
            except Exception as exc:  # noqa: BLE001 - a failed stop is retried, then the restart goes on
                self._trace(f"reset: stopping failed (try {attempt + 1}/{attempts}): {exc}")
        self.reset_kind = kind
        self.reset_done.set()

    # -- UnlockConnector -------------------------------------------------------------------------------------
    async def unlock(self, connector_id: int) -> str:
        """Stop the transaction (UnlockCommand), withdraw the authorisation so the control loop releases the
        lock, and wait for its lock feedback: Unlocked, or UnlockFailed when the lock stays shut (jammed) or
        reports a lock fault. A fixed cable or a socket without a lock: NotSupported."""
        if connector_id not in self._sockets or not self._unlockable(connector_id):
            return "NotSupported"
        if self._sessions.sessions[connector_id].in_transaction:
            self._sessions.stop(connector_id, "UnlockCommand")
            self._notify_sender()
        self._publish_limits()
        v = self._sockets[connector_id]
        deadline = self._clock.monotonic() + UNLOCK_WAIT_S
        while self._clock.monotonic() < deadline:
            if "lock" in v.faults:
                return "UnlockFailed"
            if v.locked is False or (v.locked is None and v.contactor == "open"):
                return "Unlocked"
            await self._clock.sleep(POLL_S)
        return "UnlockFailed"
