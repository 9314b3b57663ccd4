"""The one OCPP time parser and formatter: ISO 8601 text <-> epoch seconds (UTC).

Every timestamp this controller sends is UTC written with `Z` (`format_time`); every timestamp it reads
(`parse_time`) may carry `Z`, `z` or any offset, and a time without one is taken as UTC (OCPP 1.6 dateTime
is UTC; a naive time must not silently become local time). Nothing else in the product formats or parses
OCPP times.
"""

from __future__ import annotations

from datetime import UTC, datetime


class TimeFormatError(ValueError):
    """Text that is not an ISO 8601 time."""


def parse_time(value: str | None) -> float | None:
    """ISO 8601 text to epoch seconds; None for None or ''. Raises TimeFormatError on anything else."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TimeFormatError(f"not an ISO 8601 time: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimeFormatError(f"not an ISO 8601 time: {value!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_time_or_none(value: str | None) -> float | None:
    """Like `parse_time`, but None for text that is not a time (for values a peer may have mangled)."""
    try:
        return parse_time(value)
    except TimeFormatError:
        return None


def format_time(when: datetime | float, *, seconds: bool = False) -> str:
    """An OCPP timestamp: UTC, ending in `Z`; `seconds=True` drops the fraction."""
    dt = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
    dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="seconds" if seconds else "auto").replace("+00:00", "Z")
