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
  a restart `recover_after_outage` (controller/transactions/outage.py) applies Power Outage Recovery (Resume
  within Max Allowed Outage Duration, or stop with reason PowerLoss at the last alive time and the last known
  meter reading);
- the StatusNotification queue of StatusNotificationMode=Queued (`status_queue`);
- the transactionData collected for StopTxnSampledData / StopTxnAlignedData (`tx_data`).

Integrity (the checks live in controller/transactions/integrity.py): a marker file beside the journal
(`journal.sqlite.marker.json`) records that a journal exists and the last outbox sequence it reached. At start-up a journal that is missing or empty while the marker says one
existed, whose last sequence is below the marker's, that SQLite cannot read or that fails `quick_check` is
never silently replaced: it is moved aside as `journal.sqlite.damaged-<n>` (with its -wal), a log line names
it, `problems` says what happened (the station reports it to the back office as a security event once online)
and a fresh journal starts. If no journal file can be opened at all (read-only or broken state directory) the
station runs on a journal in memory, says so the same way, and does not crash into a boot loop.
The file is 0600 from creation (RFID UIDs are credentials).

The outbox is capped (`outbox_cap_bytes`, the board file's `[journal] outbox_cap_mib`, default 64 MiB of
payload): above it the oldest periodic MeterValues (never a StartTransaction, a StopTransaction or a MeterValues
carrying a signed value) are dropped until it is back under 90 % of the cap; the number dropped is counted
durably (`outbox_dropped_meter_values` in kv), logged and handed to `on_shed` (the station raises a
MemoryExhaustion security event).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.statefile import StateWriteError, private_dir, read_json, write_json
from controller.timefmt import parse_time_or_none
from controller.transactions.integrity import MARKER_SHAPE as MARKER_SHAPE  # re-exported: the marker's shape
from controller.transactions.integrity import connect, migrate, open_checked
from controller.transactions.outage import OutageDecision as OutageDecision  # re-exported with the method
from controller.transactions.outage import recover_after_outage

log = logging.getLogger(__name__)

DEFAULT_OUTBOX_CAP_BYTES = 64 * 1024 * 1024
SHED_TO = 0.9  # after shedding the outbox holds at most this fraction of the cap
MARKER_INTERVAL_S = 3600.0  # the marker's sequence is refreshed at most this often (flash wear)

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


def outbox_cap(board_journal: Mapping[str, Any]) -> int:
    """The outbox cap in bytes from the board file's [journal] section."""
    return int(float(board_journal.get("outbox_cap_mib", DEFAULT_OUTBOX_CAP_BYTES / 2**20)) * 2**20)


class Journal:
    def __init__(self, path: Path, outbox_cap_bytes: int = DEFAULT_OUTBOX_CAP_BYTES) -> None:
        self.path = path
        self.outbox_cap_bytes = outbox_cap_bytes
        self.on_shed: Callable[[int, int], None] | None = None  # (dropped now, dropped in all)
        self.marker = path.with_name(path.name + ".marker.json")
        self.problems: list[str] = []  # what went wrong at start-up, for the back office
        self._marked_seq = -1
        self._marked_at = 0.0
        self.in_memory = False
        expected = read_json(self.marker, None, MARKER_SHAPE)
        try:
            private_dir(path.parent)
            self.db = open_checked(path, expected, self._problem)
        except (OSError, sqlite3.Error) as exc:
            self._problem(f"cannot open the transaction journal {path} ({exc}); running on a journal in memory, "
                          "transactions will not survive a restart", critical=True)
            self.db = connect(":memory:")
            self.in_memory = True
            migrate(self.db)
        self._outbox_bytes = self.outbox_bytes()
        self._shed_floor = 0
        self._write_marker()

    def report_to(self, event: Callable[[str, str], None]) -> None:
        """Hand the start-up problems (JournalDamaged) and, from now on, outbox drops (MemoryExhaustion) to
        `event(kind, tech_info)` (the station's security events, sent once online)."""
        for problem in self.problems:
            event("JournalDamaged", problem)
        self.on_shed = lambda n, total: event(
            "MemoryExhaustion", f"outbox full: dropped the {n} oldest periodic MeterValues ({total} in all)")

    def _problem(self, text: str, critical: bool = False) -> None:
        (log.critical if critical else log.error)("%s", text)
        self.problems.append(text)

    def _write_marker(self) -> None:
        """Record that a journal exists and its last sequence (only when it changed; not per message)."""
        if self.in_memory:
            return  # keep the marker of the journal on disk
        seq = self.last_seq()
        if seq == self._marked_seq:
            return
        try:
            write_json(self.marker, {"last_seq": seq})
            self._marked_seq = seq
        except StateWriteError:
            pass  # logged; checked again at the next touch_alive

    def close(self) -> None:
        """Record the last sequence in the marker and close (a second close does nothing)."""
        with contextlib.suppress(sqlite3.ProgrammingError):  # already closed
            self._write_marker()
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
        text = json.dumps(payload, separators=(",", ":"))
        self.db.execute(
            "INSERT INTO outbox(action,payload,local_tx,created,connector_id,not_before) VALUES(?,?,?,?,?,?)",
            (action, text, local_tx, time.time(), connector_id, not_before),
        )
        self._outbox_bytes += len(text)
        if self._outbox_bytes > max(self.outbox_cap_bytes, self._shed_floor):
            self._shed()

    # -- the outbox cap ----------------------------------------------------------------------------------------
    def outbox_bytes(self) -> int:
        """The payload bytes queued in the outbox (what the cap counts)."""
        return int(self.db.execute("SELECT COALESCE(SUM(length(payload)),0) FROM outbox").fetchone()[0])

    def _shed(self) -> None:
        """Drop the oldest periodic MeterValues until the outbox is under SHED_TO of the cap (in the caller's
        SQLite transaction)."""
        self._outbox_bytes = self.outbox_bytes()
        excess = self._outbox_bytes - int(self.outbox_cap_bytes * SHED_TO)
        if self._outbox_bytes <= self.outbox_cap_bytes or excess <= 0:
            return
        freed = dropped = last = 0
        for seq, size in self.db.execute(
            "SELECT seq,length(payload) FROM outbox WHERE action='MeterValues' AND payload NOT LIKE '%SignedData%' "
            "ORDER BY seq"
        ):
            freed += int(size)
            dropped += 1
            last = int(seq)
            if freed >= excess:
                break
        if not dropped:  # only messages that are kept: say so again after another tenth of the cap
            self._shed_floor = self._outbox_bytes + self.outbox_cap_bytes // 10
            log.warning("the outbox holds %d bytes (cap %d) and nothing it may drop", self._outbox_bytes,
                        self.outbox_cap_bytes)
            return
        self.db.execute(
            "DELETE FROM outbox WHERE action='MeterValues' AND payload NOT LIKE '%SignedData%' AND seq<=?", (last,)
        )
        self._outbox_bytes -= freed
        total = int(self.get("outbox_dropped_meter_values", 0)) + dropped
        self.db.execute("INSERT OR REPLACE INTO kv(key,value) VALUES('outbox_dropped_meter_values',?)", (str(total),))
        log.warning("outbox above its cap of %d bytes: dropped the %d oldest periodic MeterValues (%d in all)",
                    self.outbox_cap_bytes, dropped, total)
        if self.on_shed is not None:
            self.on_shed(dropped, total)

    def dropped_meter_values(self) -> int:
        """Periodic MeterValues dropped by the outbox cap since this journal was created."""
        return int(self.get("outbox_dropped_meter_values", 0))

    def ack(self, item: OutboxItem, result: dict[str, Any] | None) -> None:
        """The back office confirmed `item`: remove it; a StartTransaction.conf maps the real transactionId."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._remove(item.seq)
            if item.action == "StartTransaction" and item.local_tx is not None and result is not None:
                status = (result.get("idTagInfo") or {}).get("status")
                self.db.execute(
                    "UPDATE transactions SET remote_id=?, id_tag_status=? WHERE local_id=?",
                    (int(result.get("transactionId", 0)), status, item.local_tx),
                )
            if item.action == "StopTransaction" and item.local_tx is not None:
                self.db.execute("UPDATE transactions SET state='done' WHERE local_id=?", (item.local_tx,))
                self._prune()

    def _remove(self, seq: int) -> None:
        row = self.db.execute("SELECT length(payload) FROM outbox WHERE seq=?", (seq,)).fetchone()
        if row is not None:
            self.db.execute("DELETE FROM outbox WHERE seq=?", (seq,))
            self._outbox_bytes -= int(row[0])

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
            self._remove(item.seq)
            if item.local_tx is not None:
                if item.action == "StartTransaction":
                    self.db.execute("UPDATE transactions SET start_dropped=1 WHERE local_id=?", (item.local_tx,))
                elif item.action == "StopTransaction":
                    self.db.execute("UPDATE transactions SET state='done' WHERE local_id=?", (item.local_tx,))

    # -- liveness and Power Outage Recovery -------------------------------------------------------------------
    def touch_alive(self, now: float, meters: dict[int, float] | None = None) -> None:
        """Record that the station is alive at `now` (epoch s) and the meter of each active transaction."""
        if abs(now - self._marked_at) >= MARKER_INTERVAL_S:
            self._marked_at = now
            self._write_marker()
        # Not fsynced (flash wear): a best-effort hint for Power Outage Recovery. WAL keeps commits in order, so
        # the next durable commit (any transaction message) makes this one durable too, and a power cut loses
        # at most the hints since then, never a journalled message.
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("INSERT OR REPLACE INTO kv(key,value) VALUES('last_alive',?)", (json.dumps(now),))
                for local_id, wh in (meters or {}).items():
                    self.db.execute(
                        "UPDATE transactions SET last_meter=MAX(COALESCE(last_meter,0),?), last_seen=? "
                        "WHERE local_id=? AND state='active'",
                        (int(round(wh)), now, local_id),
                    )
        finally:
            self.db.execute("PRAGMA synchronous=FULL")

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
        """Power Outage Recovery, applied once at start-up (controller.transactions.outage)."""
        return recover_after_outage(self, policy, max_outage_s, now)

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
