"""The machine's own share of a latency tail: a bare process that sleeps to 1 ms deadlines (the control
process's benchmark tick) and records how late the kernel wakes it, at the same scheduling and under the same
load as the control process it runs beside. `python -m bench.wakeup SECONDS PRIORITY` prints one JSON line.

A tail of the safety latency that this process shows too belongs to the machine (a hypervisor, other
processes, interrupts), not to the control loop.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

from hal.sim.bench import percentile

PERIOD_S = 0.001
PICK = {"p50_ms": 0.5, "p99_ms": 0.99, "p999_ms": 0.999}


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p99/p99.9/max of `values` (seconds) in milliseconds (the latency scenarios' own `percentile`)."""
    s = sorted(values)
    if not s:
        return {}
    out = {k: round(float(percentile(s, q) or 0.0) * 1000.0, 3) for k, q in PICK.items()}
    out["max_ms"] = round(s[-1] * 1000.0, 3)
    return out


def measure(seconds: float, priority: int) -> dict[str, float]:
    """Sleep to 1 ms deadlines for `seconds` (or until SIGTERM); the overshoot of each wake-up."""
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    if priority > 0:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    late: list[float] = []
    end = time.monotonic() + seconds
    deadline = time.monotonic()
    while deadline < end and not stop:
        deadline += PERIOD_S
        wait = deadline - time.monotonic()
        if wait > 0:
            try:
                select.select([], [], [], wait)
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                pass
        now = time.monotonic()
        late.append(max(0.0, now - deadline))
        if now > deadline:
            deadline = now
    return {"n": len(late), **percentiles(late)}


if __name__ == "__main__":
    print(json.dumps(measure(float(sys.argv[1]), int(sys.argv[2]))), flush=True)
