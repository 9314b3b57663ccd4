"""The judgements of `make soak` (bench/soak_report.py) can fail: a growing series is not flat, and the
reconciliation finds a transaction missing, doubled, changed or known only from its stop. (The soak itself
runs for minutes behind `make soak`; this is its arithmetic, in milliseconds.)"""

from __future__ import annotations

import os

from bench.soak_report import Sample, flatness, reconcile, write_bytes
from controller.transactions.journal import TransactionRecord


def series(values: list[int], kind: str = "main", step: float = 5.0) -> list[Sample]:
    return [Sample(i * step, kind, 100, 30.0 + i * step, rss_kib=v, fds=v // 1000) for i, v in enumerate(values)]


def test_a_steady_series_is_flat_and_a_growing_one_is_not() -> None:
    steady = series([50_000, 52_000, 50_500] * 8)
    assert flatness(steady, "main", "rss", 120).flat
    growing = series([50_000 + i * 1_000 for i in range(24)])
    verdict = flatness(growing, "main", "rss", 120)
    assert not verdict.flat and "GROWS" in verdict.line()
    assert not flatness(series([50_000]), "main", "rss", 120).flat  # too few samples is no verdict


def tx(local: int, remote: int | None, state: str = "done", meter_stop: int | None = 500) -> TransactionRecord:
    return TransactionRecord(local, 1, "TAG", 0, f"2026-01-01T00:0{local}:00Z", remote, "Accepted", meter_stop,
                             "2026-01-01T01:00:00Z", "Local", state)


def bo_tx(rec: TransactionRecord, **changes: object) -> dict[str, object]:
    out = {"connector_id": rec.connector_id, "id_tag": rec.id_tag, "meter_start": rec.meter_start,
           "timestamp": rec.start_time, "meter_stop": rec.meter_stop, "stop_timestamp": rec.stop_time}
    return {**out, **changes}


def test_the_reconciliation_passes_a_match_and_names_each_mismatch() -> None:
    a, b = tx(1, 1), tx(2, 2)
    assert reconcile([a, b], {1: bo_tx(a), 2: bo_tx(b)}, {}).ok
    cases = {
        "unknown to the back office": ([a, b], {1: bo_tx(a)}),
        "not in the journal": ([a], {1: bo_tx(a), 2: bo_tx(b)}),
        "back office has": ([a, b], {1: bo_tx(a), 2: bo_tx(b, meter_stop=499)}),
        "used twice": ([a, tx(3, 1)], {1: bo_tx(a)}),
        "not confirmed": ([a, tx(2, 2, state="stopped")], {1: bo_tx(a), 2: bo_tx(b)}),
        "never answered": ([a, tx(2, None)], {1: bo_tx(a)}),
        "only from its StopTransaction": ([a], {1: {**bo_tx(a), "unknown_start": True}}),
    }
    for words, (journal, office) in cases.items():
        result = reconcile(journal, office, {})
        assert not result.ok and any(words in p for p in result.problems), (words, result.problems)


def test_write_bytes_reads_this_process() -> None:
    assert isinstance(write_bytes(), int) and write_bytes(os.getpid()) is not None
    assert write_bytes(2**22 + 1) is None  # no such process
