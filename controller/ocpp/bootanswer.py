"""What the OCPP link takes from a back office's answers: the Rejected/Pending retry interval and the Accepted
HeartbeatInterval, each clamped to its range (never ignored), and the back office's currentTime, which the clock
adopts when it has no NTP fix. Pure rules; the link (controller/ocpp/link.py) applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller.clock import Clock
from controller.timefmt import parse_time

DEFAULT_BOOT_RETRY_S = 60  # Rejected/Pending with interval 0, and after a boot that got no usable answer
BOOT_RETRY_RANGE_S = (10, 3600)  # a Rejected/Pending interval is clamped to this (never ignored)
HEARTBEAT_RANGE_S = (30, 86400)  # an Accepted interval is clamped to this (HeartbeatInterval's minimum; a day)


def _clamped(interval: Any, bounds: tuple[int, int]) -> int | None:
    """`interval` as whole seconds within `bounds`; None for 0, negative or not a number."""
    try:
        value = int(interval)
    except (TypeError, ValueError, OverflowError):
        return None
    return max(bounds[0], min(bounds[1], value)) if value > 0 else None


def heartbeat_interval_s(interval: Any) -> int | None:
    """The HeartbeatInterval an Accepted boot's `interval` sets: clamped to HEARTBEAT_RANGE_S; None for 0
    (OCPP: "0 ... the Charge Point chooses") or a missing value."""
    return _clamped(interval, HEARTBEAT_RANGE_S)


def boot_retry_s(interval: Any) -> int:
    """Seconds until the next BootNotification after Rejected/Pending: the interval given, clamped to
    BOOT_RETRY_RANGE_S; DEFAULT_BOOT_RETRY_S for 0 or a missing value."""
    value = _clamped(interval, BOOT_RETRY_RANGE_S)
    return DEFAULT_BOOT_RETRY_S if value is None else value


def adopt_time(clock: Clock, current_time: Any, log_line: Callable[[str], None]) -> None:
    """A currentTime from the back office (BootNotification.conf, Heartbeat.conf): the clock adopts it when it
    has no NTP fix and is off by more than a few seconds (controller.clock.ADOPT_THRESHOLD_S)."""
    adopt = getattr(clock, "adopt", None)
    if adopt is None or not isinstance(current_time, str):
        return
    try:
        epoch = parse_time(current_time)
        if epoch is None:
            raise ValueError("no time")
        delta = adopt(datetime.fromtimestamp(epoch, UTC))
    except (ValueError, OverflowError, TypeError):
        log_line(f"back office time {current_time[:40]!r} not understood; keeping ours")
        return
    if delta is not None:
        log_line(f"no NTP fix: adopted the back office's time {current_time[:40]} (ours was off by {delta:+.0f} s)")
