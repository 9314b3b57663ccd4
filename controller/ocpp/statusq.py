"""StatusNotification delivery: what to send, when, and what happens while offline.

The station derives each connector's status (`controller.ocpp.status`) on every change and hands it to
`StatusReporter.update`. The reporter:
- waits MinimumStatusDuration seconds and sends a status only if it is still the current one then (a status
  that flickers back within that time is never reported); forced updates (TriggerMessage, reconnect) don't wait;
- reports SuspendedEV only once it has lasted `SETTLE_S` (the car's time to answer the PWM);
- leaves connector 0 out when SendStationStatus is false;
- follows StatusNotificationMode: Normal (no timestamp; offline changes are not queued, the current status of
  every connector is sent after the next boot), Timestamp (the same, with the time the status began) and Queued
  (timestamped; every change while offline is kept in the journal's durable queue, survives a restart, and is
  sent in order when back online);
- keeps statuses behind the transaction messages journalled before them (`after_seq`): the back office sees
  StartTransaction before Charging and StopTransaction before Finishing, online and after an offline period.
  If the journal makes no progress (a message in a retry wait, a long randomisation delay) the status goes
  after `BARRIER_MAX_S` anyway: statuses are not transaction messages and may pass them;
- delivers alerts (`alert`): an error no status derivation shows (a damaged journal, issue 11) goes out once
  online as a StatusNotification of the connector's current status with that errorCode, info and
  vendorErrorCode, after the connector's own status (the error stays the last word until the status changes).
  Alerts of connector 0 are sent even when SendStationStatus is false: they are events, not the station status.
  A journal that found problems at start-up (damaged, set aside, or in memory) raises one at construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import call

from controller.clock import Clock
from controller.ocpp.link import NotConnected
from controller.ocpp.status import Status
from controller.timefmt import format_time
from controller.transactions.journal import Journal

log = logging.getLogger(__name__)

BARRIER_MAX_S = 5.0
# A car needs a moment to answer the PWM after StartTransaction (or after a pause): SuspendedEV is reported only
# when it has lasted this long, so a session does not flash SuspendedEV between Preparing and Charging.
SETTLE_S = {"SuspendedEV": 3.0}
MAX_TICK_S = 1.0
CONFIG_KEYS = ("StatusNotificationMode", "MinimumStatusDuration", "SendStationStatus")


@dataclass(frozen=True)
class _Alert:
    connector_id: int
    error_code: str
    info: str | None
    vendor_error_code: str | None


@dataclass
class _Pending:
    status: Status
    since: float  # wall time the status began
    due: float  # monotonic time it may be sent
    after_seq: int  # journal messages up to this one go first
    force: bool = False


class StatusReporter:
    def __init__(
        self,
        config: Any,
        clock: Clock,
        journal: Journal,
        link: Any,
        sender: Any,
        log_line: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.journal = journal
        self.link = link
        self.sender = sender  # the JournalSender (for the barrier)
        self._log = log_line or (lambda s: None)
        self._current: dict[int, Status] = {}
        self._since: dict[int, float] = {}
        self._pending: dict[int, _Pending] = {}
        self._sent: dict[int, Status] = {}  # last delivered on this connection
        self._wake = asyncio.Event()
        self._queue_maybe_nonempty = True  # a queue from before a restart
        self._alerts: list[_Alert] = []
        if journal.problems:  # a damaged or unopenable journal (issue 11): an error status of the station too
            self.alert(0, "InternalError", "transaction journal damaged", "JournalDamaged")
        self.sent_count = 0
        self.queued_count = 0

    # -- configuration ---------------------------------------------------------------------------------------
    def _mode(self) -> str:
        try:
            return str(self.config.get("StatusNotificationMode"))
        except KeyError:
            return "Normal"

    def _min_duration(self) -> int:
        try:
            return int(self.config.get_int("MinimumStatusDuration"))
        except (KeyError, ValueError):
            return 0

    def _station_status_on(self) -> bool:
        try:
            return bool(self.config.get_bool("SendStationStatus"))
        except (KeyError, ValueError):
            return True

    # -- input -----------------------------------------------------------------------------------------------
    def update(self, cid: int, st: Status, force: bool = False) -> None:
        """The derived status of `cid` is `st` (called on every change; `force` sends it even if unchanged)."""
        now_m, now_w = self.clock.monotonic(), self.clock.now().timestamp()
        if self._current.get(cid) != st:
            self._current[cid] = st
            self._since[cid] = now_w
            due = now_m if force else now_m + max(self._min_duration(), SETTLE_S.get(st.status, 0.0))
        elif force:
            due = now_m
        else:
            return
        self._pending[cid] = _Pending(st, self._since[cid], due, self.journal.last_seq(), force)
        self._wake.set()

    def alert(self, cid: int, error_code: str, info: str | None = None, vendor_error_code: str | None = None) -> None:
        """Report an error once online, with `cid`'s current status (see the module docstring)."""
        self._alerts.append(_Alert(cid, error_code, info, vendor_error_code))
        self._wake.set()

    def on_online(self) -> None:
        """A boot was accepted: deliver the queue, then every connector's current status not yet delivered."""
        self._sent = {}
        now_m = self.clock.monotonic()
        last_seq = self.journal.last_seq()
        for cid, st in self._current.items():
            if cid not in self._pending:  # sent unless the queue (Queued mode) delivers it first
                self._pending[cid] = _Pending(st, self._since[cid], now_m, last_seq)
        self._wake.set()

    def current(self, cid: int) -> Status | None:
        return self._current.get(cid)

    # -- the loop --------------------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                wait = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep reporting whatever happens to one notification
                log.exception("status reporting failed")
                wait = MAX_TICK_S
            if wait <= 0:
                continue
            self._wake.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    async def _step(self) -> float:
        mode = self._mode()
        online = self.link.online
        if online and self._queue_maybe_nonempty:  # (also after a switch away from Queued: deliver what was kept)
            queued = self.journal.queued_statuses()
            self._queue_maybe_nonempty = bool(queued)
            if queued:
                q = queued[0]
                await self._barrier(q.after_seq)
                st = Status(q.status, q.error_code, q.info)
                if await self._send(q.connector_id, st, q.timestamp):
                    self.journal.remove_status(q.seq)
                    self._sent[q.connector_id] = st
                    return 0.0
                return MAX_TICK_S
        now_m = self.clock.monotonic()
        due_next = now_m + 3600.0
        for cid in sorted(self._pending):
            p = self._pending[cid]
            if p.due > now_m:
                due_next = min(due_next, p.due)
                continue
            if self._current.get(cid) != p.status:
                self._pending.pop(cid, None)  # superseded; its successor has its own entry
                continue
            if cid == 0 and not self._station_status_on():
                self._pending.pop(cid, None)
                continue
            if not online:
                self._pending.pop(cid, None)
                if mode == "Queued":
                    self.journal.push_status(
                        cid, p.status.status, p.status.error_code, p.status.info, format_time(p.since), p.after_seq
                    )
                    self._queue_maybe_nonempty = True
                    self.queued_count += 1
                continue  # Normal/Timestamp: the current status goes out after the next boot
            if not p.force and self._sent.get(cid) == p.status:
                self._pending.pop(cid, None)
                continue
            await self._barrier(p.after_seq)
            stamp = format_time(p.since) if mode in ("Timestamp", "Queued") else None
            if self._pending.get(cid) is not p:
                return 0.0  # changed while we waited for the journal
            if await self._send(cid, p.status, stamp):
                if self._pending.get(cid) is p:
                    self._pending.pop(cid, None)
                self._sent[cid] = p.status
                return 0.0
            return MAX_TICK_S
        if online and self._alerts and self._alerts[0].connector_id not in self._pending:
            a = self._alerts[0]
            st = Status(self._current.get(a.connector_id, Status("Available")).status, a.error_code, a.info)
            stamp = format_time(self.clock.now().timestamp()) if mode in ("Timestamp", "Queued") else None
            if await self._send(a.connector_id, st, stamp, a.vendor_error_code):
                self._alerts.pop(0)
                self._sent[a.connector_id] = st
                return 0.0
            return MAX_TICK_S
        return max(0.0, min(due_next - now_m, MAX_TICK_S * 60))

    async def _barrier(self, after_seq: int) -> None:
        """Let the transaction messages journalled before this status go first (bounded wait)."""
        deadline = self.clock.monotonic() + BARRIER_MAX_S
        while self.link.online:
            head = self.journal.head_seq()
            if head is None or head > after_seq:
                return
            left = deadline - self.clock.monotonic()
            if left <= 0 or getattr(self.sender, "waiting_retry", False):
                return
            progress = asyncio.ensure_future(self.sender.wait_progress())
            timer = asyncio.ensure_future(self.clock.sleep(min(left, MAX_TICK_S)))
            try:
                await asyncio.wait({progress, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                progress.cancel()
                timer.cancel()

    async def _send(self, cid: int, st: Status, timestamp: str | None, vendor_error_code: str | None = None) -> bool:
        try:
            await self.link.call(
                call.StatusNotification(
                    connector_id=cid,
                    error_code=st.error_code,
                    status=st.status,
                    info=st.info,
                    timestamp=timestamp,
                    vendor_error_code=vendor_error_code,
                )
            )
        except (NotConnected, TimeoutError) as exc:
            if isinstance(exc, TimeoutError):  # no answer: not delivered, tried again (MAX_TICK_S)
                self._log(f"StatusNotification not answered ({exc}); sent again")
            return False
        except Exception as exc:  # noqa: BLE001 - a refused status is not retried (the next change is sent)
            self._log(f"StatusNotification failed: {exc.__class__.__name__}: {exc}")
            return True
        self.sent_count += 1
        return True

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._pending.clear()
