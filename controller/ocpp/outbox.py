"""Delivers the durable journal to the back office: oldest first, one at a time, removed only when confirmed.

A message the back office fails to process (a CallError, or no reply within the OCPP-reply timeout) is tried
again, waiting TransactionMessageRetryInterval x (number of earlier tries) between tries. With
TransactionMessageAttempts = N > 0 it is tried N times in all, then dropped (OCPP 1.6 §4.10; Attempts=3,
Interval=60: waits of 60 s and 120 s, then drop). TransactionMessageAttempts = 0 means "retry indefinitely"
(Alfen's documented meaning and default); the wait then keeps growing by the interval per try but is capped at
`INDEFINITE_RETRY_CAP_S`, so a back office that recovers after a day still gets the message within the hour.

Being offline, or the connection dropping while a message waits for its reply, is not a failed try: the message
is sent again after the next accepted boot (the back office dedupes; see `controller.transactions.journal`).
Later messages wait behind a failing one: order is never given up. A message whose StartTransaction was dropped
has no transactionId and is dropped too. MeterValues may carry a "not before" time
(MaxTxMeterValueRandomisationTime); the sender holds the queue until then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from controller.clock import Clock
from controller.ocpp.link import NotConnected, OcppLink
from controller.transactions.journal import Journal, OutboxItem

log = logging.getLogger(__name__)

INDEFINITE_RETRY_CAP_S = 3600
CONFIG_KEYS = ("TransactionMessageAttempts", "TransactionMessageRetryInterval")


def retry_decision(attempts_done: int, max_attempts: int, interval_s: int) -> float | None:
    """After `attempts_done` failed tries: seconds to wait before the next one, or None to drop the message."""
    if max_attempts > 0 and attempts_done >= max_attempts:
        return None
    delay = float(interval_s * attempts_done)
    if max_attempts <= 0:
        delay = min(delay, float(max(INDEFINITE_RETRY_CAP_S, interval_s)))
    return delay


class JournalSender:
    def __init__(
        self,
        journal: Journal,
        link: OcppLink,
        clock: Clock,
        config: Any,
        on_confirmed: Callable[[str, int | None, dict[str, Any]], None],
        log_line: Callable[[str], None] | None = None,
    ) -> None:
        self.journal = journal
        self.link = link
        self.clock = clock
        self.config = config
        self._on_confirmed = on_confirmed
        self._log = log_line or (lambda s: None)
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self.sent = 0
        self.dropped = 0
        self.failed_tries = 0
        self.waiting_retry = False

    def notify(self) -> None:
        self._wake.set()

    async def wait_progress(self) -> None:
        """Until the next message is confirmed or dropped."""
        ev = self._progress
        await ev.wait()

    def _made_progress(self) -> None:
        ev, self._progress = self._progress, asyncio.Event()
        ev.set()

    async def _wait_online(self) -> None:
        while not self.link.online:
            self._wake.clear()
            waiter = asyncio.ensure_future(self.link.wait_online())
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                woken.cancel()

    def _setting(self, name: str, default: int) -> int:
        try:
            return int(self.config.get_int(name))
        except (KeyError, ValueError):
            return default

    async def run(self) -> None:
        while True:
            item = self.journal.next_pending()
            if item is None:
                self._wake.clear()
                if self.journal.next_pending() is None:
                    await self._wake.wait()
                continue
            if not self.link.online:
                await self._wait_online()
                continue
            wait = item.not_before - self.clock.now().timestamp()
            if wait > 0:
                await self.clock.sleep(wait)
                continue
            try:
                await self.send_one(item)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - never let one bad message stop delivery of the others
                log.exception("sending %s (seq %s) failed", item.action, item.seq)
                await self.clock.sleep(1.0)

    async def send_one(self, item: OutboxItem) -> None:
        payload = self.journal.resolve(item)
        if payload is None:
            self._log(f"{item.action} of local transaction {item.local_tx} dropped: its StartTransaction was dropped")
            self.journal.drop(item)
            self.dropped += 1
            self._made_progress()
            return
        request = getattr(call, item.action)(**camel_to_snake_case(payload))
        generation = self.link.generation

        def confirmed(result: Any) -> None:  # runs before the back office's next frame is handled
            res = snake_to_camel_case(asdict(result)) if result is not None else {}
            self.journal.ack(item, res)
            self.sent += 1
            self._made_progress()
            self._on_confirmed(item.action, item.local_tx, res)

        try:
            await self.link.call(request, on_result=confirmed)
        except NotConnected:
            await self.link.wait_generation_after(generation)
            return
        except (OCPPError, TimeoutError) as exc:
            self.failed_tries += 1
            attempts = self.journal.record_attempt(item)
            delay = retry_decision(
                attempts,
                self._setting("TransactionMessageAttempts", 0),
                self._setting("TransactionMessageRetryInterval", 60),
            )
            if delay is None:
                self._log(f"{item.action} failed {attempts} times ({exc.__class__.__name__}); dropped")
                self.journal.drop(item)
                self.dropped += 1
                self._made_progress()
            else:
                self._log(f"{item.action} failed ({exc.__class__.__name__}: {exc}); try {attempts + 1} in {delay:g} s")
                self.waiting_retry = True
                try:
                    await self.clock.sleep(delay)
                finally:
                    self.waiting_retry = False
            return
