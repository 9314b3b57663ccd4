"""The dead-man watchdog of the control process: a thread that forces every output to its safe state when
the loop has not completed a tick for `timeout_s`.

The runner `kick()`s it after every write of the outputs. If the loop stalls (a blocking call, a busy
handler, the process starved of CPU), the thread opens every contactor first, then puts the pilots to +12 V
(the locks stay: a lock opens only when its contacts read open, which the loop decides). It writes under the
same lock as the runner, so a resumed loop can never interleave a stale close with the forced open; if the
loop is stuck while holding that lock, the thread forces the outputs after `lock_wait_s` anyway, and forces
them again as soon as the loop lets go of the lock (the runner also checks `tripped` right before each close
it writes, so the write it was in the middle of closes nothing). The runner then `take_trip()`s: the loop
learns its outputs were forced (LOOP_STALL, reported on every socket) before it writes again. This is the
software line; on a real board the outputs also need hardware pull-downs (a dead process) and a maximum
on-time in the device where possible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


class DeadMan:
    def __init__(
        self,
        outputs: Sequence[Any],
        timeout_s: float = 0.25,
        period_s: float = 0.005,
        lock_wait_s: float = 0.02,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outputs = list(outputs)  # in the order to force: contactors first
        self.timeout_s = timeout_s
        self.period_s = period_s
        self.lock_wait_s = lock_wait_s
        self._now = now
        self.lock = threading.Lock()
        self._last_kick = now()
        self._tripped_at: float | None = None
        self.trips = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self, now: float) -> None:
        self._last_kick = now

    @property
    def tripped(self) -> bool:
        return self._tripped_at is not None

    def take_trip(self) -> float | None:
        """When the outputs were forced since the last call (None: they were not)."""
        with self.lock:
            t, self._tripped_at = self._tripped_at, None
            return t

    def check(self) -> bool:
        """One watchdog look (the thread calls it every `period_s`); True when it forced the outputs now."""
        now = self._now()
        if self._tripped_at is not None or now - self._last_kick <= self.timeout_s:
            return False
        got = self.lock.acquire(timeout=self.lock_wait_s)
        try:
            if self._tripped_at is not None or self._now() - self._last_kick <= self.timeout_s:
                return False  # the loop came back while we waited for the lock
            self._tripped_at = now
            self.trips += 1
            self.force()
        finally:
            if got:
                self.lock.release()
        if not got:
            with self.lock:  # forced while the loop held the lock: once it lets go, force again
                self.force()
        return True

    def force(self) -> None:
        for dev in self.outputs:
            try:
                dev.to_safe_state()
            except Exception:  # noqa: BLE001 - every output must get its chance
                pass

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="deadman", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.check()
