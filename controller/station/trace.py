"""The station trace: one line per event, handed to whoever runs the station and kept (with its wall-clock
time from the injected clock) for the diagnostics archive."""

from __future__ import annotations

import collections
from collections.abc import Callable

from controller.clock import Clock

KEEP = 5000


class TraceLog:
    def __init__(self, clock: Clock, sink: Callable[[str], None] | None = None, keep: int = KEEP) -> None:
        self._clock = clock
        self._sink = sink or (lambda line: None)
        self._recent: collections.deque[tuple[float, str]] = collections.deque(maxlen=keep)

    def __call__(self, line: str) -> None:
        self._recent.append((self._clock.now().timestamp(), line))
        self._sink(line)

    def recent(self) -> list[tuple[float, str]]:
        """(epoch seconds, line), oldest first."""
        return list(self._recent)
