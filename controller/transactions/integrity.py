"""The transaction journal's file and its integrity: the SQLite schema and its migration, opening the file
(WAL, synchronous=FULL, 0600), and the check at start-up that never silently replaces a journal.

A marker file beside the journal (`journal.sqlite.marker.json`, shape `MARKER_SHAPE`) records that a journal
exists and the last outbox sequence it reached; `Journal` writes it. At start-up (`open_checked`) a journal that
is missing or empty while the marker says one existed, whose last sequence is below the marker's, that SQLite
cannot read or that fails `quick_check` is moved aside as `journal.sqlite.damaged-<n>` (with its -wal and -shm),
and the problem is handed to the caller's `problem` callback (which logs it and reports it to the back office).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.statefile import private_file

SCHEMA_VERSION = 2
MARKER_SHAPE = {"last_seq": int}

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions(
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    meter_start INTEGER NOT NULL,
    start_time TEXT NOT NULL,
    remote_id INTEGER,
    id_tag_status TEXT,
    meter_stop INTEGER,
    stop_time TEXT,
    stop_reason TEXT,
    state TEXT NOT NULL DEFAULT 'active'
);
CREATE TABLE IF NOT EXISTS outbox(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    local_tx INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS status_queue(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT NOT NULL,
    info TEXT,
    timestamp TEXT NOT NULL,
    after_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tx_data(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    local_tx INTEGER NOT NULL,
    meter_value TEXT NOT NULL
);
"""

# Columns added after the first schema (ALTER TABLE on an older journal).
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "transactions": (
        ("last_meter", "INTEGER"),
        ("last_seen", "REAL"),
        ("start_dropped", "INTEGER NOT NULL DEFAULT 0"),
    ),
    "outbox": (
        ("connector_id", "INTEGER"),
        ("not_before", "REAL NOT NULL DEFAULT 0"),
    ),
}


def connect(where: str) -> sqlite3.Connection:
    """Open a journal database (a file path or ":memory:") with the schema, WAL and synchronous=FULL."""
    db = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
    except sqlite3.Error:
        db.close()
        raise
    return db


def migrate(db: sqlite3.Connection) -> None:
    """Add the columns an older journal lacks (`_ADDED_COLUMNS`) and stamp the schema version."""
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns:
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def open_checked(path: Path, expected: dict[str, Any] | None, problem: Callable[[str], None]) -> sqlite3.Connection:
    """Open the journal file, setting aside a damaged one (see the module doc); `expected` is the marker."""
    reason: str | None = None
    size = path.stat().st_size if path.is_file() else None
    if expected is not None and size is None and not path.exists():
        problem(f"the transaction journal {path} is missing (it had reached sequence "
                f"{expected['last_seq']}); starting a new one")
    elif expected is not None and size == 0:
        reason = "empty"
    elif size:
        reason = damage(path, expected)
    if reason is not None:
        aside = set_aside(path)
        problem(f"the transaction journal {path} is {reason}; kept as {aside.name}, starting a new one")
    private_file(path)
    db = connect(str(path))
    try:
        migrate(db)
    except sqlite3.Error:
        db.close()
        raise
    return db


def damage(path: Path, expected: dict[str, Any] | None) -> str | None:
    """Why the existing journal file cannot be trusted (None: it can)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return f"unreadable ({exc})"
    try:
        check = db.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            return f"corrupt (quick_check: {check[0] if check else 'nothing'})"
        have = db.execute("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'").fetchone()
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone() if have else None
        seq = int(row[0]) if row else 0
        if expected is not None and seq < expected["last_seq"]:
            return f"not the journal it was (last sequence {seq}, it had reached {expected['last_seq']})"
    except sqlite3.Error as exc:
        return f"corrupt ({exc})"
    finally:
        db.close()
    return None


def set_aside(path: Path) -> Path:
    """Move the journal (and its -wal, -shm) to the first free `<name>.damaged-<n>`; return that path."""
    n = 1
    while path.with_name(f"{path.name}.damaged-{n}").exists():
        n += 1
    aside = path.with_name(f"{path.name}.damaged-{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{aside}{suffix}"))
    return aside
