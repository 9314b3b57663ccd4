"""Serving slow devices to fast readers: a background thread fetches, readers get the last value from memory.

`Latest` holds the last good value and the last error; `get()` returns the value while it is younger than
`stale_after_s` and raises otherwise (the last error, or `DeviceOffline`). `Poller` runs a blocking fetch
function in a daemon thread every `interval_s`. Used by the Modbus meters (the control process must not wait
on a serial line or a socket) and the P1 meter (a telegram stream read in its own thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from hal.errors import DeviceError, DeviceOffline

T = TypeVar("T")


class Latest(Generic[T]):
    """Thread-safe last value with an age limit."""

    def __init__(self, what: str, stale_after_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.stale_after_s = stale_after_s
        self._now = now
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at = 0.0
        self._error: tuple[type[DeviceError], str] | None = None
        self.updates = 0
        self.failures = 0

    def put(self, value: T) -> None:
        with self._lock:
            self._value = value
            self._at = self._now()
            self._error = None
            self.updates += 1

    def fail(self, error: DeviceError) -> None:
        with self._lock:
            self._error = (type(error), str(error))
            self.failures += 1

    @property
    def last_error(self) -> str | None:
        return None if self._error is None else self._error[1]

    def get(self) -> T:
        with self._lock:
            value, at, error = self._value, self._at, self._error
        if value is not None:
            age = self._now() - at
            if age <= self.stale_after_s:
                return value
            if error is None:
                raise DeviceOffline(f"{self.what}: last reading is {age:.1f} s old")
        if error is not None:
            raise error[0](f"{self.what}: {error[1]}")
        raise DeviceOffline(f"{self.what}: no reading yet")


class Poller(Generic[T]):
    """Calls `fetch()` every `interval_s` in a daemon thread and stores the outcome in `latest`.
    A `DeviceError` is recorded as the device's error; any other exception is recorded as a DeviceError too
    (a driver bug must not kill the thread silently)."""

    def __init__(self, name: str, fetch: Callable[[], T], latest: Latest[T], interval_s: float) -> None:
        self.name = name
        self._fetch = fetch
        self.latest = latest
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                self.latest.put(self._fetch())
            except DeviceError as exc:
                self.latest.fail(exc)
            except Exception as exc:  # noqa: BLE001 - recorded, the thread goes on
                self.latest.fail(DeviceError(f"{type(exc).__name__}: {exc}"))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - t0)))

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
