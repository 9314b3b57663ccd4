"""The session history from the transaction journal, newest first: start, stop, energy, reason and the id tag
masked; and the same rows as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from controller.web.sources import TransactionHistory
from controller.web.status import mask_tag

COLUMNS = ("transaction_id", "connector", "start", "stop", "energy_wh", "reason", "id_tag", "state")


def session_rows(journal: TransactionHistory, limit: int = 1000) -> list[dict[str, Any]]:
    rows = []
    for rec in reversed(journal.transactions()):
        end = rec.meter_stop if rec.meter_stop is not None else rec.last_meter
        rows.append({
            "transaction_id": rec.remote_id,
            "connector": rec.connector_id,
            "start": rec.start_time,
            "stop": rec.stop_time,
            "energy_wh": None if end is None else max(end - rec.meter_start, 0),
            "reason": rec.stop_reason or ("" if rec.state != "active" else None),
            "id_tag": mask_tag(rec.id_tag),
            "state": rec.state,
        })
        if len(rows) >= limit:
            break
    return rows


def sessions_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    return out.getvalue()
