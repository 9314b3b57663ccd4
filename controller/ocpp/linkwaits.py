"""The OCPP link's waits: awaiting something on the injected clock with a timeout, cut short by a lost
connection or a wake-up event, taking the one-CALL-at-a-time slot, and ending tasks for certain.

Owns no state: every function is handed the clock, the events and the tasks it works on, so the link's timers
(reply, open, ping, heartbeat, backoff, boot retry) all run on `Clock` and tests drive them with `FakeClock`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from controller.clock import Clock
from controller.ports import NotConnected

log = logging.getLogger("controller.ocpp.link")

T = TypeVar("T")

CANCEL_GRACE_S = 5.0  # (real time) a cancelled task that has not finished by then is cancelled again


async def race(clock: Clock, aw: Awaitable[T], timeout: float | None, closed: asyncio.Event | None = None) -> T:
    """`await aw`, but TimeoutError after `timeout` clock seconds and NotConnected when `closed` is set."""
    task = asyncio.ensure_future(aw)
    others: set[asyncio.Future[Any]] = set()
    timer = asyncio.ensure_future(clock.sleep(timeout)) if timeout is not None else None
    if timer is not None:
        others.add(timer)
    lost = asyncio.ensure_future(closed.wait()) if closed is not None else None
    if lost is not None:
        others.add(lost)
    try:
        done, _ = await asyncio.wait({task, *others}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        for f in others:
            f.cancel()
    if task in done:
        return task.result()
    task.cancel()
    # not `await task` under suppress(BaseException): that would swallow a cancellation of our caller
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved; the timeout or the lost connection is what the caller hears
    if lost is not None and lost in done:
        raise NotConnected("connection lost while waiting for the reply")
    raise TimeoutError(f"no reply within {timeout} s")


async def sleep_or(clock: Clock, seconds: float, *events: asyncio.Event, clear: bool = True) -> bool:
    """Sleep `seconds` on the clock; True if one of `events` (cleared first, unless `clear` is False: then one
    already set ends the sleep at once) cut it short."""
    if clear:
        for ev in events:
            ev.clear()
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    wakers = [asyncio.ensure_future(ev.wait()) for ev in events]
    try:
        done, _ = await asyncio.wait({sleeper, *wakers}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        for w in wakers:
            w.cancel()
    return sleeper not in done


async def acquire_or_lost(slot: asyncio.Lock, closed: asyncio.Event) -> None:
    """Take `slot` (the one-CALL-at-a-time slot), or NotConnected when the connection ends (`closed`) first."""
    if not slot.locked():
        await slot.acquire()
        return
    acquire = asyncio.ensure_future(slot.acquire())
    lost = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait({acquire, lost}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        acquire.cancel()
        await asyncio.wait({acquire})
        if not acquire.cancelled():
            slot.release()
        raise
    finally:
        lost.cancel()
    if acquire.done() and not acquire.cancelled():
        if not closed.is_set():
            return
        slot.release()
    else:
        acquire.cancel()
        await asyncio.wait({acquire})
        if not acquire.cancelled():
            slot.release()
    raise NotConnected("connection lost while waiting to send")


async def finish(*tasks: asyncio.Task[Any]) -> None:
    """Cancel `tasks` and wait until each has ended, whatever it was waiting for: a task that swallowed the
    cancellation (asyncio.wait_for on Python 3.11 can) is cancelled again, so this always returns."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_GRACE_S)
        if pending:
            log.error("tasks still running after cancellation: %s", ", ".join(t.get_name() for t in pending))
    for t in tasks:
        if not t.cancelled():
            t.exception()  # retrieved: the caller already knows why the connection ended
