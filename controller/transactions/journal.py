"""The durable transaction journal: every StartTransaction, StopTransaction and transaction MeterValues is
written here (SQLite, synchronous=FULL) before it is sent, and removed only after its confirmation.

Messages leave in order. A transaction started offline has only a local id; its messages carry a
placeholder that is replaced by the back office's transactionId once StartTransaction.conf arrives, so later
messages use the real one. A power cut at any instant loses nothing that was committed here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
"""

TX_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    action: str
    payload: dict[str, Any]
    local_tx: int | None
    attempts: int


@dataclass(frozen=True)
class TransactionRecord:
    local_id: int
    connector_id: int
    id_tag: str
    meter_start: int
    start_time: str
    remote_id: int | None
    id_tag_status: str | None
    meter_stop: int | None
    stop_time: str | None
    stop_reason: str | None
    state: str


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _tx(self) -> sqlite3.Connection:
        return self.db

    # -- writes (each one atomic and durable before it returns) ----------------------------------------------
    def start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
    ) -> int:
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "idTag": id_tag,
            "meterStart": meter_start,
            "timestamp": timestamp,
        }
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute(
                "INSERT INTO transactions(connector_id,id_tag,meter_start,start_time) VALUES(?,?,?,?)",
                (connector_id, id_tag, meter_start, timestamp),
            )
            local_id = int(cur.lastrowid or 0)
            self._enqueue("StartTransaction", payload, local_id)
        return local_id

    def add_meter_values(self, local_id: int, connector_id: int, meter_value: list[dict[str, Any]]) -> None:
        payload = {"connectorId": connector_id, "transactionId": {"$local": local_id}, "meterValue": meter_value}
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._enqueue("MeterValues", payload, local_id)

    def stop_transaction(
        self,
        local_id: int,
        meter_stop: int,
        timestamp: str,
        reason: str | None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
    ) -> None:
        payload: dict[str, Any] = {"transactionId": {"$local": local_id}, "meterStop": meter_stop, "timestamp": timestamp}
        if reason:
            payload["reason"] = reason
        if id_tag:
            payload["idTag"] = id_tag
        if transaction_data:
            payload["transactionData"] = transaction_data
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "UPDATE transactions SET meter_stop=?, stop_time=?, stop_reason=?, state='stopped' WHERE local_id=?",
                (meter_stop, timestamp, reason, local_id),
            )
            self._enqueue("StopTransaction", payload, local_id)

    def _enqueue(self, action: str, payload: dict[str, Any], local_tx: int | None) -> None:
        self.db.execute(
            "INSERT INTO outbox(action,payload,local_tx,created) VALUES(?,?,?,?)",
            (action, json.dumps(payload, separators=(",", ":")), local_tx, time.time()),
        )

    def ack(self, item: OutboxItem, result: dict[str, Any] | None) -> None:
        """The back office confirmed `item`: remove it; a StartTransaction.conf maps the real transactionId."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM outbox WHERE seq=?", (item.seq,))
            if item.action == "StartTransaction" and item.local_tx is not None and result is not None:
                status = (result.get("idTagInfo") or {}).get("status")
                self.db.execute(
                    "UPDATE transactions SET remote_id=?, id_tag_status=? WHERE local_id=?",
                    (int(result.get("transactionId", 0)), status, item.local_tx),
                )
            if item.action == "StopTransaction" and item.local_tx is not None:
                self.db.execute("UPDATE transactions SET state='done' WHERE local_id=?", (item.local_tx,))

    def record_attempt(self, item: OutboxItem) -> int:
        with self.db:
            self.db.execute("UPDATE outbox SET attempts=attempts+1 WHERE seq=?", (item.seq,))
        return item.attempts + 1

    def drop(self, item: OutboxItem) -> None:
        """Give up on a message (TransactionMessageAttempts exhausted)."""
        self.ack(item, {"transactionId": 0} if item.action == "StartTransaction" else None)

    # -- reads -----------------------------------------------------------------------------------------------
    def next_pending(self) -> OutboxItem | None:
        row = self.db.execute("SELECT seq,action,payload,local_tx,attempts FROM outbox ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            return None
        return OutboxItem(row[0], row[1], json.loads(row[2]), row[3], row[4])

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def resolve(self, item: OutboxItem) -> dict[str, Any]:
        """The payload to send, with local transaction placeholders replaced by the real transactionId."""
        payload = dict(item.payload)
        tid = payload.get("transactionId")
        if isinstance(tid, dict) and "$local" in tid:
            rec = self.transaction(int(tid["$local"]))
            payload["transactionId"] = rec.remote_id if rec and rec.remote_id is not None else 0
        return payload

    def transaction(self, local_id: int) -> TransactionRecord | None:
        row = self.db.execute("SELECT * FROM transactions WHERE local_id=?", (local_id,)).fetchone()
        return TransactionRecord(*row) if row else None

    def by_remote_id(self, remote_id: int) -> TransactionRecord | None:
        row = self.db.execute(
            "SELECT * FROM transactions WHERE remote_id=? ORDER BY local_id DESC LIMIT 1", (remote_id,)
        ).fetchone()
        return TransactionRecord(*row) if row else None

    def active_transactions(self) -> list[TransactionRecord]:
        rows = self.db.execute("SELECT * FROM transactions WHERE state='active' ORDER BY local_id").fetchall()
        return [TransactionRecord(*r) for r in rows]

    # small durable key/value for the transaction layer (e.g. last meter reading, outage time)
    def put(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO kv(key,value) VALUES(?,?)", (key, json.dumps(value)))

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default
