"""What the soak run (`bench/soak.py`) measures and how it judges it, as pure functions: the /proc readings of a
process (RSS, open fds, bytes written), whether RSS and fds stay flat, and the reconciliation of the controller's
transaction journal with what the back office received (every transaction exactly once), and the table of
RSS, fds and bytes written over time that it prints.

"Flat": over the samples taken after a process's warm-up, the highest value of the last third of the run is at
most the highest value of the first third plus a tolerance (a leak grows; a busy moment is a spike that the first
third has too). Samples of every incarnation of a process kind count together (a SIGKILLed process is
restarted fresh), so a leak shows as long as one incarnation lives through a third of the run.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RSS_TOLERANCE_KIB = 6 * 1024  # plus 5 % of the first third's highest RSS
FD_TOLERANCE = 4
WARM_UP_S = 20.0  # a process's samples within this long of its start are start-up, not steady state


@dataclass(frozen=True)
class Sample:
    """One reading of one process: `t` seconds into the soak, `age` seconds since that process started."""

    t: float
    kind: str  # "main" | "control"
    pid: int
    age: float
    rss_kib: int
    fds: int


def proc_status_kib(pid: int, field: str, proc: Path = Path("/proc")) -> int | None:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), None when the process is gone."""
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def fd_count(pid: int, proc: Path = Path("/proc")) -> int | None:
    try:
        return len(list((proc / str(pid) / "fd").iterdir()))
    except OSError:
        return None


def write_bytes(pid: int | str = "self", proc: Path = Path("/proc")) -> int | None:
    """`write_bytes` of /proc/PID/io: what the process (and the children it reaped) made the kernel write to
    storage. None when the process is gone."""
    try:
        for line in (proc / str(pid) / "io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class Flatness:
    kind: str
    what: str
    first: int  # highest value of the first third (steady-state samples)
    last: int  # highest value of the last third
    allowed: int
    samples: int

    @property
    def flat(self) -> bool:
        return self.samples >= 3 and self.last <= self.allowed

    def line(self) -> str:
        verdict = "flat" if self.flat else ("TOO FEW SAMPLES" if self.samples < 3 else "GROWS")
        unit = " KiB" if self.what == "rss" else ""
        return (f"{self.kind:<8} {self.what:<4} first third max {self.first}{unit}, last third max {self.last}{unit} "
                f"(allowed {self.allowed}{unit}, {self.samples} samples): {verdict}")


def flatness(samples: Sequence[Sample], kind: str, what: str, duration_s: float) -> Flatness:
    """Judge one series (`what`: "rss" or "fds") of one process kind; see the module docstring."""
    steady = [s for s in samples if s.kind == kind and s.age >= WARM_UP_S]
    value = (lambda s: s.rss_kib) if what == "rss" else (lambda s: s.fds)
    first = [value(s) for s in steady if s.t <= duration_s / 3]
    last = [value(s) for s in steady if s.t >= duration_s * 2 / 3]
    top_first = max(first, default=0)
    top_last = max(last, default=0)
    allowed = top_first + (RSS_TOLERANCE_KIB + top_first // 20 if what == "rss" else FD_TOLERANCE)
    count = len(first) + len(last) if first and last else 0
    return Flatness(kind, what, top_first, top_last, allowed, count)


@dataclass(frozen=True)
class Reconciliation:
    journal: int  # transactions in the journal
    backoffice: int  # transactions the back office knows
    problems: tuple[str, ...]
    resends: Mapping[str, int]  # duplicates the back office absorbed (at-least-once delivery, same content)

    @property
    def ok(self) -> bool:
        return not self.problems and self.journal == self.backoffice


def reconcile(journal: Iterable[Any], backoffice: Mapping[int, Mapping[str, Any]],
              resends: Mapping[str, int]) -> Reconciliation:
    """Every journal transaction (`TransactionRecord`s) is known to the back office exactly once: its
    transactionId, with the same connector, idTag, meterStart, start time, meterStop and stop time, and confirmed (state
    done); the back office knows no transaction the journal does not have, and none only from its stop."""
    problems: list[str] = []
    seen: set[int] = set()
    records = list(journal)
    for rec in records:
        name = f"journal transaction {rec.local_id} (connector {rec.connector_id}, {rec.start_time})"
        if rec.state != "done":
            problems.append(f"{name}: state {rec.state}, not confirmed by the back office")
        if rec.remote_id is None:
            problems.append(f"{name}: no transactionId (its StartTransaction was never answered)")
            continue
        if rec.remote_id in seen:
            problems.append(f"{name}: transactionId {rec.remote_id} used twice")
        seen.add(rec.remote_id)
        bo = backoffice.get(rec.remote_id)
        if bo is None:
            problems.append(f"{name}: transactionId {rec.remote_id} unknown to the back office")
            continue
        want = {"connector_id": rec.connector_id, "id_tag": rec.id_tag, "meter_start": rec.meter_start,
                "timestamp": rec.start_time, "meter_stop": rec.meter_stop, "stop_timestamp": rec.stop_time}
        got = {k: bo.get(k) for k in want}
        if got != want:
            problems.append(f"{name}: back office has {got}, journal {want}")
    for tid, bo in backoffice.items():
        if tid not in seen:
            problems.append(f"back office transaction {tid} ({bo.get('timestamp')}) is not in the journal")
        if bo.get("unknown_start"):
            problems.append(f"back office transaction {tid} known only from its StopTransaction")
    return Reconciliation(len(records), len(backoffice), tuple(problems), dict(resends))


def table_rows(samples: list[Sample], written: list[tuple[float, int]], every_s: float = 15.0) -> list[tuple[float, str]]:
    """One line per `every_s` seconds: the last sample of each kind at that time and the bytes written."""
    rows: list[tuple[float, str]] = []
    next_t = 0.0
    last: dict[str, Sample] = {}
    by_t = collections.defaultdict(list)
    for s in samples:
        by_t[round(s.t, 1)].append(s)
    for t, total in written:
        for s in by_t.get(round(t, 1), []):
            last[s.kind] = s
        if t + 1e-6 < next_t:
            continue
        next_t = t + every_s
        cells = []
        for kind in ("main", "control"):
            got = last.get(kind)
            cells.append(f"{got.pid:8d} {got.rss_kib / 1024:5.1f} {got.fds:4d}" if got else f"{'-':>8} {'-':>5} {'-':>4}")
        rows.append((t, f"{cells[0]}     {cells[1]}   {total / 1e6:9.2f}"))
    return rows
