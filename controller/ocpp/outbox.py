"""Delivers the durable journal to the back office: oldest first, one at a time, removed only when confirmed.

A message that fails (CallError or no answer) is retried up to TransactionMessageAttempts times, waiting
TransactionMessageRetryInterval x (number of earlier tries) between tries, then dropped (OCPP 1.6 §4.10).
Being offline is not a failed try: the sender waits for the link.
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
from controller.transactions.journal import Journal

log = logging.getLogger(__name__)


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
        self.sent = 0
        self.dropped = 0

    def notify(self) -> None:
        self._wake.set()

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
            payload = self.journal.resolve(item)
            request = getattr(call, item.action)(**camel_to_snake_case(payload))
            try:
                result = await self.link.call(request)
            except NotConnected:
                continue
            except (OCPPError, TimeoutError) as exc:
                attempts = self.journal.record_attempt(item)
                limit = max(1, self.config.get_int("TransactionMessageAttempts"))
                if attempts >= limit:
                    self._log(f"{item.action} failed {attempts} times ({exc}); dropped")
                    self.journal.drop(item)
                    self.dropped += 1
                else:
                    delay = self.config.get_int("TransactionMessageRetryInterval") * attempts
                    self._log(f"{item.action} failed ({exc}); retry {attempts + 1} in {delay} s")
                    await self.clock.sleep(delay)
                continue
            res = snake_to_camel_case(asdict(result)) if result is not None else {}
            self.journal.ack(item, res)
            self.sent += 1
            self._on_confirmed(item.action, item.local_tx, res)
