"""Safety latency of the real control process: from a safety input edge to the contactor-open command, for
the car unplugged while charging (cp_to_a), a 6 mA DC residual current trip (rcd, Immediate mode) and a car
drawing 120 % of its offer (overcurrent), >= 10 000 events each, while the main asyncio process is kept busy.

How it is measured (inside the control process, `hal.sim.bench`): each socket of a three-socket simulated
board charges, then gets one edge at a random instant between two ticks; the edge is stamped with the time it
happens physically (time.monotonic()), the simulated contactor stamps the open command. The latency is the
wait for the next tick plus the loop's processing. To reach 10 000 events per kind in about a minute the
control process runs with a 1 ms tick (production: 10 ms, which adds up to 9 ms of polling wait) and the
benchmarked sockets' B->C debounce is 0 (the paths measured, to A / to an error / overcurrent, are never
debounced). Meanwhile the main process runs a JSON encode/decode churn and a loopback websocket echo at full
speed, so its event loop always has ready work.

Each socket is offered 26 A and Station-MaxCurrent is its maximum (160 A), so the six sockets never share
current (6 x 26 = 156 A): a share that moves as cars come and go would change what the measurement means.

Two runs by default: the control process as it runs today (normal scheduling), then with SCHED_FIFO priority
20 (`ControlProcess(rt_priority=...)`, `--rt-priority` of the process), which keeps the tail short when the
machine is loaded by other processes too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from controller.evse.supervisor import ControlProcess

BOARD = Path(__file__).with_name("latency-board.toml")
KIND_ORDER = ("cp_to_a", "rcd", "overcurrent")
KINDS = {str(cid): KIND_ORDER[(cid - 1) % 3] for cid in range(1, 7)}  # two sockets per kind
OFFER_A = 26.0  # x 6 sockets stays within Station-MaxCurrent's maximum (160 A)
FRAME = [2, "1234", "MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [
    {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1234.5", "measurand": "Current.Import",
                                                            "phase": f"L{i}", "unit": "A"} for i in (1, 2, 3)]}]}]


class Flood:
    """Keeps the main process's event loop busy: JSON churn and a loopback websocket echo, at full speed."""

    def __init__(self) -> None:
        self.frames = 0
        self.echoes = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._server: Any = None

    async def start(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.asyncio.server import serve

        async def echo(ws: Any) -> None:
            async for msg in ws:
                await ws.send(msg)

        self._server = await serve(echo, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}")
        self._tasks = [asyncio.create_task(self._churn()), asyncio.create_task(self._echo(ws))]

    async def _churn(self) -> None:
        text = json.dumps(FRAME)
        while True:
            for _ in range(50):
                text = json.dumps(json.loads(text))
                self.frames += 1
            await asyncio.sleep(0)

    async def _echo(self, ws: Any) -> None:
        text = json.dumps(FRAME)
        try:
            while True:
                await ws.send(text)
                json.loads(await ws.recv())
                self.echoes += 1
        finally:
            await ws.close()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _wakeup_result(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """The baseline's figures, or {} when it did not finish (then the line is left out, and said so)."""
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 10.0)
        return dict(json.loads(out.decode().strip().splitlines()[-1]))
    except (TimeoutError, ValueError, IndexError):
        if proc.returncode is None:
            proc.kill()
        print("(machine wake-up baseline did not finish: not shown)", flush=True)
        return {}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f} ms"


async def run(events: int, tick_s: float, limit_s: float, rt_priority: int = 0) -> list[str]:
    """One measurement; the lines to print."""
    cp = ControlProcess(
        BOARD, lambda msg: None, tick_s=tick_s, main_silence_s=10.0, hang_timeout_s=30.0, rt_priority=rt_priority
    )
    await cp.start()
    flood = Flood()
    lines: list[str] = []
    label = ""
    if rt_priority > 0:
        if cp.hello is None or not cp.hello.realtime:
            await cp.stop()
            return [f"(SCHED_FIFO {rt_priority} not permitted here: skipped)"]
        label = f" [SCHED_FIFO {rt_priority}]"
    try:
        cp.set_limits({int(c): {"max_current": OFFER_A, "authorized": True, "suspended": False} for c in KINDS})
        cp.send_config({"6mADetectResponse": "Immediate", "ContactorProtect": "60", "Station-MaxCurrent": "160"})
        await flood.start()
        reply = await cp.sim(
            "bench_start", {"connectors": KINDS, "max_delay_s": tick_s, "feedback_delay_s": 0.0, "seed": 7}
        )
        assert reply["ok"], reply
        wake = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.wakeup", str(limit_s), str(rt_priority), stdout=asyncio.subprocess.PIPE
        )
        t0 = time.monotonic()
        frames0, echoes0 = flood.frames, flood.echoes
        while time.monotonic() - t0 < limit_s:
            await asyncio.sleep(1.0)
            st = (await cp.sim("bench_status", {}))["scenarios"]
            counts = {k: sum(s["events"] for s in st.values() if s["kind"] == k) for k in KIND_ORDER}
            if all(n >= events for n in counts.values()):
                break
        elapsed = time.monotonic() - t0
        res = (await cp.sim("bench_results", {}, timeout=30))["results"]
        if wake.returncode is None:
            wake.send_signal(signal.SIGTERM)  # it stops measuring and prints what it has
        baseline = await _wakeup_result(wake)
        fps = (flood.frames - frames0) / elapsed
        eps = (flood.echoes - echoes0) / elapsed
        sched = f"SCHED_FIFO {rt_priority}" if rt_priority > 0 else "normal scheduling (SCHED_OTHER)"
        lines.append(
            f"control process: tick {tick_s * 1000:.1f} ms (production 10 ms adds up to "
            f"{10 - tick_s * 1000:.0f} ms of polling wait), {sched}; edge at a random instant between ticks -> "
            f"contactor-open command; main process busy: {fps:,.0f} JSON frames/s + {eps:,.0f} websocket echoes/s"
        )
        for kind in KIND_ORDER:
            r = res[kind]
            lines.append(
                f"safety latency {r['kind']}{label}: p50 {_fmt(r['p50_ms'])} p99 {_fmt(r['p99_ms'])} "
                f"p99.9 {_fmt(r['p999_ms'])} max {_fmt(r['max_ms'])} "
                f"(n={r['events']} on {r['sockets']} sockets, missed {r['misses']}, restarted {r['stuck']})"
            )
        if baseline:
            lines.append(
                f"machine wake-up lateness [{'SCHED_FIFO ' + str(rt_priority) if rt_priority > 0 else 'SCHED_OTHER'}]"
                f" (bench.wakeup: a bare process sleeping to 1 ms deadlines beside it): p50 "
                f"{_fmt(baseline['p50_ms'])} p99 {_fmt(baseline['p99_ms'])} p99.9 {_fmt(baseline['p999_ms'])} "
                f"max {_fmt(baseline['max_ms'])} (n={baseline['n']}): the share of the tail that is the machine's"
            )
        stats = cp.last_stats  # the control process's last `Stats`
        ticks, overruns = (stats.ticks, stats.overruns) if stats is not None else (0, 0)
        share = f" ({100 * overruns / ticks:.2f} %)" if ticks else ""
        lines.append(
            f"control process: {ticks} ticks, {overruns} took longer than the tick{share}, "
            f"watchdog trips {stats.watchdog_trips if stats is not None else '?'}; measured for {elapsed:.1f} s"
        )
    finally:
        await flood.stop()
        await cp.stop()
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench.bench_safety_latency")
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--tick", type=float, default=0.001)
    ap.add_argument("--limit", type=float, default=150.0, help="stop measuring after this many seconds")
    ap.add_argument(
        "--rt-priority",
        type=int,
        nargs="*",
        default=[0, 20],
        help="one run per value: 0 = normal scheduling, N = SCHED_FIFO priority N (default: 0 20)",
    )
    args = ap.parse_args(argv if argv is not None else [])
    t0 = time.monotonic()
    for prio in args.rt_priority:
        for line in asyncio.run(run(args.events, args.tick, args.limit, prio)):
            print(line, flush=True)
    print(f"safety latency run time {time.monotonic() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
