"""The plot's memory: the last 15 minutes of offered and drawn current per phase (and the house load), one
sample every `SAMPLE_S` of the injected clock, in a ring buffer (bounded, oldest dropped)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

SPAN_S = 15 * 60
SAMPLE_S = 2.0


class History:
    def __init__(self, span_s: float = SPAN_S, sample_s: float = SAMPLE_S) -> None:
        self.span_s, self.sample_s = span_s, sample_s
        self._samples: deque[dict[str, Any]] = deque(maxlen=int(span_s / sample_s))
        self._last: float | None = None  # monotonic time of the last sample

    def offer(self, monotonic: float, status: Mapping[str, Any]) -> dict[str, Any] | None:
        """Keep a sample of `status` when `SAMPLE_S` has passed since the last one; returns it (or None)."""
        if self._last is not None and monotonic - self._last < self.sample_s:
            return None
        self._last = monotonic
        sample = {
            "t": status["time"],
            "sockets": {str(s["id"]): {"offered": s["offered"], "drawn": s["drawn"]} for s in status["sockets"]},
            "house": status["house"],
        }
        self._samples.append(sample)
        return sample

    def samples(self) -> list[dict[str, Any]]:
        """Oldest first."""
        return list(self._samples)
