"""Persistent authorisation state in SQLite (`auth.sqlite` in the state directory, synchronous=FULL):
the Local Authorization List and its version, the authorisation cache, the tags added in master key mode,
and the reservations. Each write is one SQLite transaction, durable before it returns.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from controller.auth.decision import IdTagInfo
from controller.statefile import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_list(id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expiry REAL, parent TEXT);
CREATE TABLE IF NOT EXISTS cache(
    id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expiry REAL, parent TEXT, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS master_tags(id_tag TEXT PRIMARY KEY, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reservations(
    reservation_id INTEGER PRIMARY KEY, connector_id INTEGER NOT NULL, id_tag TEXT NOT NULL,
    parent TEXT, expiry REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

CACHE_MAX = 1000


class AuthStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        private_file(path)  # 0600 from creation: RFID UIDs are credentials
        try:
            self.db = self._open(path)
        except sqlite3.DatabaseError:
            # a corrupt file: set it aside, start empty (the other state files are not touched)
            path.replace(path.with_name(path.name + ".corrupt"))
            private_file(path)
            self.db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        return db

    def close(self) -> None:
        self.db.close()

    # -- local list --------------------------------------------------------------------------------------------
    def local_list(self) -> dict[str, IdTagInfo]:
        rows = self.db.execute("SELECT id_tag, status, expiry, parent FROM local_list").fetchall()
        return {r[0]: IdTagInfo(r[1], r[2], r[3]) for r in rows}

    def local_get(self, id_tag: str) -> IdTagInfo | None:
        r = self.db.execute("SELECT status, expiry, parent FROM local_list WHERE id_tag=?", (id_tag,)).fetchone()
        return IdTagInfo(r[0], r[1], r[2]) if r else None

    def local_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM local_list").fetchone()[0])

    def local_version(self) -> int:
        r = self.db.execute("SELECT value FROM meta WHERE key='local_list_version'").fetchone()
        return int(r[0]) if r else 0

    def replace_local_list(self, entries: dict[str, IdTagInfo], version: int) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM local_list")
            self.db.executemany(
                "INSERT INTO local_list(id_tag, status, expiry, parent) VALUES(?,?,?,?)",
                [(k, v.status, v.expiry, v.parent) for k, v in entries.items()],
            )
            self.db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('local_list_version', ?)", (str(version),)
            )

    # -- cache -------------------------------------------------------------------------------------------------
    def cache_get(self, id_tag: str) -> IdTagInfo | None:
        r = self.db.execute("SELECT status, expiry, parent FROM cache WHERE id_tag=?", (id_tag,)).fetchone()
        return IdTagInfo(r[0], r[1], r[2]) if r else None

    def cache_put(self, id_tag: str, info: IdTagInfo) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT OR REPLACE INTO cache(id_tag, status, expiry, parent, updated) VALUES(?,?,?,?,?)",
                (id_tag, info.status, info.expiry, info.parent, time.time()),
            )
            # bounded: the least recently updated entries go first
            self.db.execute(
                "DELETE FROM cache WHERE id_tag NOT IN (SELECT id_tag FROM cache ORDER BY updated DESC LIMIT ?)",
                (CACHE_MAX,),
            )

    def cache_clear(self) -> None:
        with self.db:
            self.db.execute("DELETE FROM cache")

    def cache_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM cache").fetchone()[0])

    # -- master key mode ---------------------------------------------------------------------------------------
    def master_tags(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id_tag FROM master_tags")}

    def master_toggle(self, id_tag: str) -> bool:
        """Add the tag (True) or remove it when it was there (False)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute("DELETE FROM master_tags WHERE id_tag=?", (id_tag,))
            if cur.rowcount:
                return False
            self.db.execute("INSERT INTO master_tags(id_tag, added) VALUES(?,?)", (id_tag, time.time()))
            return True

    # -- reservations ------------------------------------------------------------------------------------------
    def reservations(self) -> list[tuple[int, int, str, str | None, float]]:
        return [
            (int(r[0]), int(r[1]), str(r[2]), r[3], float(r[4]))
            for r in self.db.execute("SELECT reservation_id, connector_id, id_tag, parent, expiry FROM reservations")
        ]

    def reservation_put(self, rid: int, connector_id: int, id_tag: str, parent: str | None, expiry: float) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO reservations(reservation_id, connector_id, id_tag, parent, expiry) "
                "VALUES(?,?,?,?,?)",
                (rid, connector_id, id_tag, parent, expiry),
            )

    def reservation_delete(self, rid: int) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM reservations WHERE reservation_id=?", (rid,)).rowcount > 0
