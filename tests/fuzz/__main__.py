"""`make fuzz SECONDS=N`: each target of tests/fuzz/targets.py for N / 5 seconds of random examples
(hypothesis), then its example count, crashes and resident memory (VmRSS) before and after. Exits 1 on a crash
or when a target's memory grows by more than MAX_GROWTH_MIB."""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.fuzz.targets import TARGETS

MAX_GROWTH_MIB = 64.0
BATCH = settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                 print_blob=True)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _counting(target: Callable[[Any], None], counted: list[int]) -> Callable[[Any], None]:
    def run(value: Any) -> None:
        counted[0] += 1
        target(value)

    return run


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 60.0
    per_target = seconds / len(TARGETS)
    logging.disable(logging.CRITICAL)  # the targets provoke warnings by design
    failed = 0
    for name, (target, strategy) in sorted(TARGETS.items()):
        counted = [0]
        test = given(strategy)(BATCH(_counting(target, counted)))
        start_rss: float | None = None  # after the first batch (imports, caches)
        end = time.monotonic() + per_target
        crash = None
        while time.monotonic() < end or start_rss is None:
            try:
                test()
            except Exception:  # noqa: BLE001 - a crash is the finding
                crash = traceback.format_exc(limit=8)
                break
            finally:
                start_rss = rss_mib() if start_rss is None else start_rss
        examples = counted[0]
        growth = rss_mib() - start_rss
        verdict = "crash" if crash else ("memory grows" if growth > MAX_GROWTH_MIB else "ok")
        print(f"{name:14s} {examples:8d} examples  rss {start_rss:6.1f} -> {start_rss + growth:6.1f} MiB  {verdict}",
              flush=True)
        if crash:
            print(crash, flush=True)
        failed += verdict != "ok"
    print(f"fuzz: {failed} target(s) failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
