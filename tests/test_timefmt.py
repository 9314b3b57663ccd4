"""The one OCPP time parser/formatter (controller.timefmt)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from controller.timefmt import TimeFormatError, format_time, parse_time, parse_time_or_none

T = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "text",
    ["2026-01-01T12:00:00Z", "2026-01-01T12:00:00z", "2026-01-01T12:00:00+00:00", "2026-01-01T13:00:00+01:00",
     "2026-01-01T12:00:00.000Z", " 2026-01-01T12:00:00Z ", "2026-01-01T12:00:00"],
)
def test_parse_reads_every_offset_and_naive_as_utc(text: str) -> None:
    assert parse_time(text) == T


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "12:00"])
def test_parse_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time(text)
    assert parse_time_or_none(text) is None


def test_nothing_is_none() -> None:
    assert parse_time(None) is None and parse_time("") is None


def test_format_is_utc_with_z() -> None:
    assert format_time(T) == "2026-01-01T12:00:00Z"
    assert format_time(T + 0.25) == "2026-01-01T12:00:00.250000Z"
    assert format_time(T + 0.25, seconds=True) == "2026-01-01T12:00:00Z"
    local = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(local) == "2026-01-01T12:00:00Z"
    assert parse_time(format_time(T + 12.5)) == T + 12.5


def test_no_module_formats_or_parses_ocpp_time_itself() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "controller"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "timefmt.py" and ('.replace("+00:00", "Z")' in p.read_text() or "fromisoformat(" in p.read_text())
    ]
    assert offenders == []
