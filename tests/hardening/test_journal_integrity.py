"""The transaction journal is never silently replaced: an empty, corrupt, swapped or unopenable
journal.sqlite is kept aside, named in a log line and reported to the back office; the station starts.
Also: the journal, auth database and state directory are private from creation."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from controller.transactions.journal import Journal
from tests.conftest import start_rig, stop_rig


def journal_with_messages(path: Path, n: int = 3) -> None:
    j = Journal(path)
    local = j.start_transaction(1, "CARD1", 0, "2026-01-01T00:00:00Z")
    for i in range(n - 1):
        j.add_meter_values(local, 1, [{"timestamp": "2026-01-01T00:01:00Z", "sampledValue": [{"value": str(i)}]}])
    j.close()


def test_a_healthy_journal_reopens_without_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal_with_messages(path)
    j = Journal(path)
    assert j.problems == [] and j.pending_count() == 3 and not j.in_memory
    j.close()


DAMAGE = {
    "empty": lambda p: p.write_bytes(b""),
    "corrupt": lambda p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(5000)),
    "garbage": lambda p: p.write_bytes(b"\xff" * 8192),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_journal_is_kept_aside_and_named(tmp_path: Path, damage, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "journal.sqlite"
    journal_with_messages(path)
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    damage(path)
    damaged = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="controller.transactions.journal"):
        j = Journal(path)
    assert len(j.problems) == 1 and str(path) in j.problems[0] and "journal.sqlite.damaged-1" in j.problems[0]
    assert (tmp_path / "journal.sqlite.damaged-1").read_bytes() == damaged
    assert any(str(path) in r.getMessage() for r in caplog.records)
    assert j.pending_count() == 0 and not j.in_memory  # a fresh journal, on disk
    j.start_transaction(1, "CARD2", 0, "2026-01-01T00:00:00Z")
    j.close()


def test_a_swapped_journal_with_a_lower_sequence_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal_with_messages(path, n=5)
    other = tmp_path / "other" / "journal.sqlite"
    journal_with_messages(other, n=1)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(other, path)
    j = Journal(path)
    assert len(j.problems) == 1 and "last sequence 1, it had reached 5" in j.problems[0]
    j.close()


def test_a_missing_journal_that_existed_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal_with_messages(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    j = Journal(path)
    assert len(j.problems) == 1 and "missing" in j.problems[0]
    j.close()


def test_an_unopenable_journal_runs_in_memory_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.mkdir()  # cannot be a database, cannot be replaced by one
    (path / "x").write_text("keep")
    j = Journal(path)
    assert j.in_memory and len(j.problems) == 1 and str(path) in j.problems[0]
    j.start_transaction(1, "CARD1", 0, "2026-01-01T00:00:00Z")
    assert j.pending_count() == 1
    j.close()


async def test_the_station_starts_and_reports_a_damaged_journal(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal_with_messages(state / "journal.sqlite")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state / 'journal.sqlite'}{suffix}").unlink(missing_ok=True)
    (state / "journal.sqlite").write_bytes(b"")
    rig = await start_rig(tmp_path)
    try:
        ev = await rig.bo.wait_for("SecurityEventNotification", rig.identity,
                                   lambda p: p["type"] == "JournalDamaged", timeout=10)
        assert "journal.sqlite is empty" in ev.payload["techInfo"]
        assert (state / "journal.sqlite.damaged-1").exists()
        status = await rig.bo.wait_for("StatusNotification", rig.identity,
                                       lambda p: p["connectorId"] == 0 and p["errorCode"] != "NoError", timeout=10)
        assert status.payload["errorCode"] == "InternalError" and status.payload["status"] == "Available"
        assert status.payload["info"] == "transaction journal damaged"
        assert status.payload["vendorErrorCode"] == "JournalDamaged"
        # after the station's own status (NoError) of connector 0, so the error is the last word
        zero = [r.payload for r in rig.bo.records if r.action == "StatusNotification" and r.direction == "in"
                and r.payload["connectorId"] == 0]
        assert zero[-1] == status.payload and zero[0]["errorCode"] == "NoError", zero
    finally:
        await stop_rig(rig)


async def test_a_healthy_journal_sends_no_error_status(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path)
    try:
        await rig.bo.wait_for("StatusNotification", rig.identity, lambda p: p["connectorId"] == 0, timeout=10)
        await rig.bo.wait_for("StatusNotification", rig.identity, lambda p: p["connectorId"] == 1, timeout=10)
        sent = [r.payload for r in rig.bo.records if r.action == "StatusNotification" and r.direction == "in"]
        assert all(p["errorCode"] == "NoError" for p in sent), sent
    finally:
        await stop_rig(rig)


async def test_state_is_private_from_creation(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        rig = await start_rig(tmp_path)
    finally:
        os.umask(old)
    try:
        state = tmp_path / "state"
        assert state.stat().st_mode & 0o777 == 0o700
        for name in ("journal.sqlite", "journal.sqlite-wal", "auth.sqlite", "config.json",
                     "journal.sqlite.marker.json"):
            if (state / name).exists() or name in ("journal.sqlite", "auth.sqlite"):
                assert (state / name).stat().st_mode & 0o777 == 0o600, name
    finally:
        await stop_rig(rig)


def test_an_existing_world_readable_journal_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal_with_messages(path)
    path.chmod(0o644)
    Journal(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.sqlite")
    j.close()
    j.close()  # a station stopped by a Reset, then by its owner
