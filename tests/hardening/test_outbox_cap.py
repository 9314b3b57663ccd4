"""The outbox cap: offline for long, the oldest periodic MeterValues are dropped above the cap; every
StartTransaction, StopTransaction and signed value is kept; the drops are counted, logged and reported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from board.loader import builtin_board, load_board
from controller.timefmt import format_time as iso
from controller.timefmt import parse_time_or_none as parse_iso
from controller.transactions.journal import Journal
from tests.conftest import start_rig, stop_rig, until

T0 = parse_iso("2026-01-01T12:00:00Z") or 0.0


def sample(i: int, signed: bool = False) -> list[dict[str, object]]:
    sv: dict[str, object] = {"value": str(1000 + i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    if signed:
        sv = {"value": "OCMF|{...}|{...}" + "x" * 100, "format": "SignedData", "context": "Sample.Periodic"}
    return [{"timestamp": iso(T0 + 60 * i), "sampledValue": [sv]}]


def test_above_the_cap_the_oldest_periodic_meter_values_go_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cap = 20_000
    j = Journal(tmp_path / "j.sqlite", outbox_cap_bytes=cap)
    shed: list[tuple[int, int]] = []
    j.on_shed = lambda n, total: shed.append((n, total))
    with caplog.at_level(logging.WARNING, logger="controller.transactions.journal"):
        for tx in range(3):  # three transactions, offline all along
            local = j.start_transaction(1, f"TAG{tx}", 0, iso(T0))
            for i in range(100):
                j.add_meter_values(local, 1, sample(i, signed=i % 10 == 0), energy_wh=1000 + i)
            j.stop_transaction(local, 2000, iso(T0 + 7000), "Local")
    items = j.pending()
    size = sum(len(str(i.payload)) for i in items)
    assert j.outbox_bytes() <= cap and size > 0
    actions = [i.action for i in items]
    assert actions.count("StartTransaction") == 3 and actions.count("StopTransaction") == 3
    signed = [i for i in items if i.action == "MeterValues" and "SignedData" in str(i.payload)]
    assert len(signed) == 30  # every signed value kept
    periodic = [i for i in items if i.action == "MeterValues" and "SignedData" not in str(i.payload)]
    assert periodic and len(periodic) < 270
    dropped = 270 - len(periodic)
    assert j.dropped_meter_values() == dropped and shed and shed[-1][1] == dropped
    # the newest periodic values are the ones kept, in order
    seqs = [i.seq for i in periodic]
    assert seqs == sorted(seqs) and periodic[-1].payload["meterValue"][0]["timestamp"] == iso(T0 + 60 * 99)
    assert any("dropped the" in r.getMessage() for r in caplog.records)
    j.close()
    assert Journal(tmp_path / "j.sqlite").dropped_meter_values() == dropped  # durable count


def test_under_the_cap_nothing_is_dropped(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")  # the default 64 MiB
    local = j.start_transaction(1, "TAG", 0, iso(T0))
    for i in range(500):
        j.add_meter_values(local, 1, sample(i))
    assert j.pending_count() == 501 and j.dropped_meter_values() == 0


def test_only_kept_messages_above_the_cap_warn_without_dropping(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite", outbox_cap_bytes=1000)
    for n in range(30):
        j.start_transaction(1, f"TAG{n}", 0, iso(T0))
    assert j.pending_count() == 30 and j.dropped_meter_values() == 0


async def test_the_board_cap_reaches_the_journal_and_drops_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = builtin_board("sim").read_text() + "\n[journal]\noutbox_cap_mib = 0.01\n"
    board_file = tmp_path / "capped.toml"
    board_file.write_text(text)
    assert load_board(board_file).journal == {"outbox_cap_mib": 0.01}
    monkeypatch.setattr("tests.conftest.builtin_board", lambda name: board_file)
    rig = await start_rig(tmp_path)
    try:
        j = rig.station.journal
        assert j.outbox_cap_bytes == int(0.01 * 2**20)
        local = j.start_transaction(1, "TAG", 0, iso(T0))
        for i in range(200):
            j.add_meter_values(local, 1, sample(i))
        assert j.dropped_meter_values() > 0
        await until(lambda: any(e["type"] == "MemoryExhaustion" for e in rig.station.security.events), 5, "event")
    finally:
        await stop_rig(rig)
