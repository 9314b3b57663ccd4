"""The durable transaction journal: every StartTransaction, StopTransaction and transaction MeterValues is
written here (SQLite, WAL, synchronous=FULL) before it is sent, and removed only after its confirmation.

Messages leave in order (`outbox.seq`). A transaction started offline has only a local id; its messages carry a
placeholder (`{"$local": id}`) that is replaced by the back office's transactionId once StartTransaction.conf
arrives (`resolve`), so later messages use the real one. A power cut at any instant loses nothing that was
committed here: each write is one SQLite transaction, durable (fsynced) before the call returns.

Exactly-once, decided: the charge point delivers *at least once* with *identical content*. A message's payload
(its timestamp included) is fixed when it is journalled and never rebuilt, so a resend is the same message.
The only window in which a message can go out twice is between the back office processing it and our ack
being committed (one round trip plus one fsync), for the single message in flight (we send one at a time),
after a crash, a dropped connection or a reply timeout. The back office is expected to dedupe, as real ones do:
StartTransaction by (chargePoint, connectorId, idTag, timestamp, meterStart), answering the transactionId it
gave the first time; StopTransaction by transactionId; MeterValues by (transactionId, timestamp). The built-in
back office (`controller.backoffice.server`) does exactly that and counts the duplicates it absorbed.

Also kept here, because they must survive the same power cut:
- a durable "last alive" time and each active transaction's last meter reading, refreshed while running; after
  a restart `recover_after_outage` applies Power Outage Recovery (Resume within Max Allowed Outage Duration, or
  stop with reason PowerLoss at the last alive time and the last known meter reading);
- the StatusNotification queue of StatusNotificationMode=Queued (`status_queue`);
- the transactionData collected for StopTxnSampledData / StopTxnAlignedData (`tx_data`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.timefmt import format_time, parse_time_or_none

SCHEMA_VERSION = 2

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

TX_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})
KEEP_DONE_TRANSACTIONS = 1000
STATUS_QUEUE_MAX = 1000  # Queued StatusNotifications kept while offline (the oldest go first)

_TX_COLUMNS = (
    "local_id,connector_id,id_tag,meter_start,start_time,remote_id,id_tag_status,meter_stop,stop_time,"
    "stop_reason,state,last_meter,last_seen,start_dropped"
)


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    action: str
    payload: dict[str, Any]
    local_tx: int | None
    attempts: int
    connector_id: int | None = None
    not_before: float = 0.0


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
    state: str  # active | stopped (StopTransaction journalled) | done (StopTransaction confirmed)
    last_meter: int | None = None
    last_seen: float | None = None
    start_dropped: int = 0


@dataclass(frozen=True)
class QueuedStatus:
    seq: int
    connector_id: int
    status: str
    error_code: str
    info: str | None
    timestamp: str
    after_seq: int


@dataclass(frozen=True)
class OutageDecision:
    """What `recover_after_outage` did: which transactions resumed, which were stopped, and why."""

    outage_s: float | None
    resumed: list[int]
    stopped: list[int]
    reason: str


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns:
                if name not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

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
                "INSERT INTO transactions(connector_id,id_tag,meter_start,start_time,last_meter,last_seen) "
                "VALUES(?,?,?,?,?,?)",
                (connector_id, id_tag, meter_start, timestamp, meter_start, parse_time_or_none(timestamp)),
            )
            local_id = int(cur.lastrowid or 0)
            self._enqueue("StartTransaction", payload, local_id, connector_id)
        return local_id

    def add_meter_values(
        self,
        local_id: int,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        not_before: float = 0.0,
        energy_wh: float | None = None,
    ) -> None:
        """A transaction MeterValues.req; `not_before` (epoch s) delays sending (MaxTxMeterValueRandomisationTime);
        `energy_wh` also refreshes the transaction's last known meter reading."""
        payload = {"connectorId": connector_id, "transactionId": {"$local": local_id}, "meterValue": meter_value}
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._enqueue("MeterValues", payload, local_id, connector_id, not_before)
            if energy_wh is not None:
                stamp = parse_time_or_none(str(meter_value[-1].get("timestamp", ""))) if meter_value else None
                self.db.execute(
                    "UPDATE transactions SET last_meter=MAX(COALESCE(last_meter,0),?), "
                    "last_seen=MAX(COALESCE(last_seen,0),?) WHERE local_id=? AND state='active'",
                    (int(round(energy_wh)), stamp or 0.0, local_id),
                )

    def add_transaction_data(self, local_id: int, meter_value: dict[str, Any]) -> None:
        """Collect one meterValue for the transactionData of this transaction's StopTransaction.req."""
        with self.db:
            self.db.execute(
                "INSERT INTO tx_data(local_tx,meter_value) VALUES(?,?)",
                (local_id, json.dumps(meter_value, separators=(",", ":"))),
            )

    def stop_transaction(
        self,
        local_id: int,
        meter_stop: int,
        timestamp: str,
        reason: str | None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
    ) -> None:
        """Journal the StopTransaction.req. Without explicit `transaction_data`, the meter values collected with
        `add_transaction_data` (StopTxnSampledData/StopTxnAlignedData) go along, closed by a Transaction.End."""
        payload: dict[str, Any] = {"transactionId": {"$local": local_id}, "meterStop": meter_stop, "timestamp": timestamp}
        if reason:
            payload["reason"] = reason
        if id_tag:
            payload["idTag"] = id_tag
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT connector_id,state FROM transactions WHERE local_id=?", (local_id,)).fetchone()
            if row is not None and row[1] != "active":
                return  # already stopped (e.g. PowerLoss at start-up): never two StopTransactions
            if transaction_data is None:
                collected = [
                    json.loads(r[0])
                    for r in self.db.execute("SELECT meter_value FROM tx_data WHERE local_tx=? ORDER BY id", (local_id,))
                ]
                if collected:
                    end = {
                        "timestamp": timestamp,
                        "sampledValue": [
                            {
                                "value": str(meter_stop),
                                "context": "Transaction.End",
                                "measurand": "Energy.Active.Import.Register",
                                "location": "Outlet",
                                "unit": "Wh",
                            }
                        ],
                    }
                    transaction_data = [*collected, end]
            if transaction_data:
                payload["transactionData"] = transaction_data
            self.db.execute("DELETE FROM tx_data WHERE local_tx=?", (local_id,))
            self.db.execute(
                "UPDATE transactions SET meter_stop=?, stop_time=?, stop_reason=?, state='stopped' WHERE local_id=?",
                (meter_stop, timestamp, reason, local_id),
            )
            self._enqueue("StopTransaction", payload, local_id, row[0] if row else None)

    def _enqueue(
        self, action: str, payload: dict[str, Any], local_tx: int | None, connector_id: int | None, not_before: float = 0.0
    ) -> None:
        self.db.execute(
            "INSERT INTO outbox(action,payload,local_tx,created,connector_id,not_before) VALUES(?,?,?,?,?,?)",
            (action, json.dumps(payload, separators=(",", ":")), local_tx, time.time(), connector_id, not_before),
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
                self._prune()

    def _prune(self) -> None:
        row = self.db.execute(
            "SELECT local_id FROM transactions WHERE state='done' ORDER BY local_id DESC LIMIT 1 OFFSET ?",
            (KEEP_DONE_TRANSACTIONS,),
        ).fetchone()
        if row is not None:
            self.db.execute("DELETE FROM transactions WHERE state='done' AND local_id<=?", (row[0],))

    def record_attempt(self, item: OutboxItem) -> int:
        with self.db:
            self.db.execute("UPDATE outbox SET attempts=attempts+1 WHERE seq=?", (item.seq,))
        return item.attempts + 1

    def drop(self, item: OutboxItem) -> None:
        """Give up on a message (TransactionMessageAttempts exhausted, or its StartTransaction was dropped).

        A dropped StartTransaction leaves the transaction without a transactionId: its later messages cannot be
        sent and are dropped as they come up (`resolve` returns None for them)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM outbox WHERE seq=?", (item.seq,))
            if item.local_tx is not None:
                if item.action == "StartTransaction":
                    self.db.execute("UPDATE transactions SET start_dropped=1 WHERE local_id=?", (item.local_tx,))
                elif item.action == "StopTransaction":
                    self.db.execute("UPDATE transactions SET state='done' WHERE local_id=?", (item.local_tx,))

    # -- liveness and Power Outage Recovery -------------------------------------------------------------------
    def touch_alive(self, now: float, meters: dict[int, float] | None = None) -> None:
        """Record that the station is alive at `now` (epoch s) and the meter of each active transaction."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO kv(key,value) VALUES('last_alive',?)", (json.dumps(now),))
            for local_id, wh in (meters or {}).items():
                self.db.execute(
                    "UPDATE transactions SET last_meter=MAX(COALESCE(last_meter,0),?), last_seen=? "
                    "WHERE local_id=? AND state='active'",
                    (int(round(wh)), now, local_id),
                )

    def highest_meter(self, connector_id: int) -> int:
        """The highest meter reading (Wh) this journal knows for a connector (0 if none)."""
        row = self.db.execute(
            "SELECT MAX(MAX(meter_start, COALESCE(meter_stop,0), COALESCE(last_meter,0))) FROM transactions "
            "WHERE connector_id=?",
            (connector_id,),
        ).fetchone()
        return int(row[0] or 0)

    def last_alive(self) -> float | None:
        value = self.get("last_alive")
        return float(value) if isinstance(value, int | float) else None

    def recover_after_outage(self, policy: str, max_outage_s: int, now: float) -> OutageDecision:
        """Power Outage Recovery, applied once at start-up to the transactions that were active.

        `policy` "Resume": a transaction resumes when the outage (now - last alive) was at most `max_outage_s`
        (0: always). Otherwise (or "Idle") it is stopped with reason PowerLoss, timestamped at the last moment
        we knew it alive, with the last meter reading we committed (never below meterStart)."""
        active = self.active_transactions()
        seen = [t.last_seen for t in active if t.last_seen]
        alive_candidates = [x for x in (self.last_alive(), *seen) if x]
        last = max(alive_candidates) if alive_candidates else None
        outage = max(0.0, now - last) if last is not None else None
        if not active:
            return OutageDecision(outage, [], [], "no active transaction")
        resume = policy.lower() == "resume" and (
            max_outage_s <= 0 or (outage is not None and outage <= max_outage_s)
        )
        if resume:
            return OutageDecision(outage, [t.local_id for t in active], [], "resume within the allowed outage")
        stopped: list[int] = []
        for t in active:
            start = parse_time_or_none(t.start_time) or 0.0
            stamp = max(x for x in (t.last_seen, last, start) if x is not None)
            meter = max(t.meter_start, t.last_meter or t.meter_start)
            self.stop_transaction(t.local_id, meter, format_time(stamp), "PowerLoss", t.id_tag)
            stopped.append(t.local_id)
        why = "Power Outage Recovery is Idle" if policy.lower() != "resume" else "outage longer than allowed"
        return OutageDecision(outage, [], stopped, why)

    # -- the Queued StatusNotification queue ----------------------------------------------------------------
    def push_status(
        self, connector_id: int, status: str, error_code: str, info: str | None, timestamp: str, after_seq: int
    ) -> int:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute(
                "INSERT INTO status_queue(connector_id,status,error_code,info,timestamp,after_seq) VALUES(?,?,?,?,?,?)",
                (connector_id, status, error_code, info, timestamp, after_seq),
            )
            seq = int(cur.lastrowid or 0)
            self.db.execute("DELETE FROM status_queue WHERE seq<=?", (seq - STATUS_QUEUE_MAX,))
        return seq

    def queued_statuses(self) -> list[QueuedStatus]:
        rows = self.db.execute(
            "SELECT seq,connector_id,status,error_code,info,timestamp,after_seq FROM status_queue ORDER BY seq"
        ).fetchall()
        return [QueuedStatus(*r) for r in rows]

    def remove_status(self, seq: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM status_queue WHERE seq=?", (seq,))

    # -- reads -----------------------------------------------------------------------------------------------
    def next_pending(self) -> OutboxItem | None:
        row = self.db.execute(
            "SELECT seq,action,payload,local_tx,attempts,connector_id,not_before FROM outbox ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return OutboxItem(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], float(row[6] or 0.0))

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def pending(self) -> list[OutboxItem]:
        rows = self.db.execute(
            "SELECT seq,action,payload,local_tx,attempts,connector_id,not_before FROM outbox ORDER BY seq"
        ).fetchall()
        return [OutboxItem(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], float(r[6] or 0.0)) for r in rows]

    def last_seq(self) -> int:
        """The sequence number of the newest message ever journalled (0: none)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
        return int(row[0]) if row else 0

    def head_seq(self) -> int | None:
        """The sequence number of the oldest message not yet confirmed (None: all delivered)."""
        row = self.db.execute("SELECT MIN(seq) FROM outbox").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def resolve(self, item: OutboxItem) -> dict[str, Any] | None:
        """The payload to send, with local transaction placeholders replaced by the real transactionId; None when
        it cannot be sent because its StartTransaction was dropped."""
        payload = dict(item.payload)
        tid = payload.get("transactionId")
        if isinstance(tid, dict) and "$local" in tid:
            rec = self.transaction(int(tid["$local"]))
            if rec is None or rec.start_dropped or rec.remote_id is None:
                return None
            payload["transactionId"] = rec.remote_id
        return payload

    def transaction(self, local_id: int) -> TransactionRecord | None:
        row = self.db.execute(f"SELECT {_TX_COLUMNS} FROM transactions WHERE local_id=?", (local_id,)).fetchone()
        return TransactionRecord(*row) if row else None

    def by_remote_id(self, remote_id: int) -> TransactionRecord | None:
        row = self.db.execute(
            f"SELECT {_TX_COLUMNS} FROM transactions WHERE remote_id=? ORDER BY local_id DESC LIMIT 1", (remote_id,)
        ).fetchone()
        return TransactionRecord(*row) if row else None

    def active_transactions(self) -> list[TransactionRecord]:
        rows = self.db.execute(f"SELECT {_TX_COLUMNS} FROM transactions WHERE state='active' ORDER BY local_id").fetchall()
        return [TransactionRecord(*r) for r in rows]

    def transactions(self, local_ids: Iterable[int] | None = None) -> list[TransactionRecord]:
        rows = self.db.execute(f"SELECT {_TX_COLUMNS} FROM transactions ORDER BY local_id").fetchall()
        recs = [TransactionRecord(*r) for r in rows]
        if local_ids is not None:
            wanted = set(local_ids)
            recs = [r for r in recs if r.local_id in wanted]
        return recs

    # small durable key/value for the transaction layer (e.g. last meter reading, outage time)
    def put(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO kv(key,value) VALUES(?,?)", (key, json.dumps(value)))

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default
