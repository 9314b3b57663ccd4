"""GetConfiguration of every key over a loopback websocket with schema validation on, and
ChangeConfiguration round trips (each one fsyncs the store before answering)."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from ocpp.v16 import call

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import BackOffice


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _run(n: int = 200) -> None:
    bo = BackOffice()
    await bo.start()
    station = Station(load_board(builtin_board("sim")), Path(tempfile.mkdtemp()), StationOptions(bo.url, "BENCH"))
    await station.start()
    try:
        await bo.wait_for("BootNotification", "BENCH", timeout=15)
        await bo.wait_for("StatusNotification", "BENCH", timeout=15)
        await asyncio.sleep(0.5)
        times = []
        keys = 0
        for _ in range(n):
            t0 = time.perf_counter()
            res = await bo.call("BENCH", call.GetConfiguration())
            times.append((time.perf_counter() - t0) * 1000)
            keys = len(res.configuration_key)
        print(
            f"GetConfiguration all keys ({keys} keys, {n} calls): p50 {statistics.median(times):.1f} ms "
            f"p99 {_pct(times, 0.99):.1f} ms max {max(times):.1f} ms (target < 50 ms)"
        )
        times = []
        for i in range(n // 2):
            t0 = time.perf_counter()
            await bo.call("BENCH", call.ChangeConfiguration(key="LightIntensity", value=str(i % 100)))
            times.append((time.perf_counter() - t0) * 1000)
        print(
            f"ChangeConfiguration (persisted + fsync before the answer, {n // 2} calls): "
            f"p50 {statistics.median(times):.1f} ms p99 {_pct(times, 0.99):.1f} ms max {max(times):.1f} ms"
        )
    finally:
        await station.stop()
        await bo.stop()


def main() -> None:
    asyncio.run(_run())
