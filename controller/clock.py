"""The injectable clock: every timeout and timer in the product reads time and sleeps through it.

`SystemClock` is the real one. `FakeClock` runs timers in order without waiting: `advance(seconds)` moves
time forward and wakes every sleeper whose deadline has come, in deadline order, so tests of minutes run in
milliseconds. Monotonic time is for durations; wall time only for OCPP timestamps.

Without an NTP fix (a CM4 has no RTC: after a power cut it may start at the image's build date) the wall time
comes from the back office: `adopt(reference)` takes a BootNotification.conf/Heartbeat.conf currentTime when
the clock is not synchronised and is off by more than `ADOPT_THRESHOLD_S`. Both clocks implement it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

ADOPT_THRESHOLD_S = 5.0  # a smaller difference is round-trip noise: keep our own time
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")  # systemd-timesyncd: present once NTP has a fix


def ntp_synchronised() -> bool:
    return TIMESYNC_FLAG.exists()


def correction(now: datetime, reference: datetime, synchronised: bool) -> float | None:
    """Seconds to add to our wall time to match the back office's, or None to keep ours."""
    if synchronised:
        return None
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    delta = (reference - now).total_seconds()
    return delta if abs(delta) > ADOPT_THRESHOLD_S else None


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        ...

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of this clock's time."""
        ...


class SystemClock:
    """Real time (wall time corrected by the back office's while there is no NTP fix)."""

    def __init__(self, synchronised: Callable[[], bool] = ntp_synchronised) -> None:
        self._synchronised = synchronised
        self._offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def adopt(self, reference: datetime) -> float | None:
        """Take the back office's time when we have no NTP fix; returns the correction applied (s)."""
        delta = correction(self.now(), reference, self._synchronised())
        if delta is not None:
            self._offset += delta
        return delta

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told. Sleepers wake in deadline order as `advance` passes them."""

    def __init__(self, start: float = 1000.0, wall: datetime | None = None, synchronised: bool = True) -> None:
        self.synchronised = synchronised  # False: adopt() takes the back office's time, like a board without NTP
        self._t = start
        self._wall0 = wall or datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
        self._t0 = start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._t - self._t0)

    def adopt(self, reference: datetime) -> float | None:
        delta = correction(self.now(), reference, self.synchronised)
        if delta is not None:
            self._wall0 += timedelta(seconds=delta)
        return delta

    def jump(self, seconds: float) -> None:
        """Move time forward without waking any sleeper (for a test that drives a poll by hand)."""
        self._t += seconds

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), fut))
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()

    @property
    def pending(self) -> int:
        """Number of sleepers still waiting."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def deadlines(self) -> list[float]:
        """The deadlines of the sleepers still waiting, soonest first (a test waits for a timer to be set)."""
        return sorted(d for d, _, f in self._sleepers if not f.done())

    def next_deadline(self) -> float | None:
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def advance(self, seconds: float, step_yields: int = 5) -> None:
        """Move time forward by `seconds`, waking sleepers in order and letting each run before the next."""
        target = self._t + seconds
        while True:
            self._drop_cancelled()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._t = max(self._t, deadline)
            if not fut.done():
                fut.set_result(None)
            for _ in range(step_yields):
                await asyncio.sleep(0)
        self._t = target
        for _ in range(step_yields):
            await asyncio.sleep(0)
