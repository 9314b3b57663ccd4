"""OCPP link throughput and the controller's memory after many sessions.

1. MeterValues round trips through `OcppLink.call` against the built-in back office on loopback (schema
   validation on both sides; the library allows one outstanding call per connection, so this is sequential).
2. Transaction messages through the durable journal: journalled (fsync), sent, confirmed, removed (fsync).
3. RSS of a real controller process (`python -m controller run`) after 1 000 charging sessions, each a
   RemoteStart/RemoteStopTransaction from the back office (StartTransaction, StopTransaction, statuses through
   the journal and the link), with the car plugged in and out over the sim control API every 20 sessions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from controller.backoffice.server import BackOffice
from controller.clock import SystemClock
from controller.ocpp.client import OcppClient
from controller.ocpp.link import HeartbeatSettings, LinkSettings, OcppLink
from controller.ocpp.outbox import JournalSender
from controller.timefmt import format_time
from controller.transactions.journal import Journal

SESSIONS = 1000
REPLUG_EVERY = 20  # the car stays plugged between most sessions (a plug/unplug costs the pilot debounce)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class _Config:
    def get_int(self, name: str) -> int:
        return {"TransactionMessageAttempts": 0, "TransactionMessageRetryInterval": 60}[name]


async def _link(bo: BackOffice) -> OcppLink:
    online = asyncio.Event()

    async def on_online() -> None:
        online.set()

    settings = LinkSettings(url=bo.url, identity="BENCH", ping_interval_s=None)
    # the bench only sends: its client answers no call, so it needs no services
    link = OcppLink(lambda: settings, lambda ident, ws: OcppClient(ident, ws, None), SystemClock(), on_online,  # type: ignore[arg-type]
                    lambda: None, lambda i: None, heartbeat=lambda: HeartbeatSettings())
    asyncio.ensure_future(link.run())
    await asyncio.wait_for(online.wait(), 15)
    return link


async def _round_trips(n: int = 2000) -> None:
    bo = BackOffice()
    await bo.start()
    link = await _link(bo)
    sample = [{"timestamp": format_time(time.time()), "sampled_value": [
        {"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "16.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
    ]}]
    times = []
    t_all = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        await link.call(call.MeterValues(connector_id=1, meter_value=sample))
        times.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - t_all
    print(f"   link: {n} MeterValues round trips, {n / elapsed:.0f} msg/s, "
          f"p50 {statistics.median(times):.2f} ms, p99 {_pct(times, 0.99):.2f} ms")

    journal = Journal(Path(tempfile.mkdtemp()) / "journal.sqlite")
    sender = JournalSender(journal, link, SystemClock(), _Config(), lambda *a: None)
    m = 150
    t0 = time.perf_counter()
    for k in range(m):
        local = journal.start_transaction(1, f"T{k}", k * 10, format_time(time.time()))
        journal.add_meter_values(local, 1, [{"timestamp": format_time(time.time()), "sampledValue": [{"value": str(k)}]}])
        journal.stop_transaction(local, k * 10 + 5, format_time(time.time()), "Local")
    t_write = time.perf_counter() - t0
    task = asyncio.ensure_future(sender.run())
    t0 = time.perf_counter()
    while journal.pending_count():
        await asyncio.sleep(0.005)
    t_send = time.perf_counter() - t0
    task.cancel()
    print(f"   journal: {3 * m} transaction messages journalled in {t_write:.2f} s ({3 * m / t_write:.0f}/s, "
          f"fsync each), delivered and confirmed at {3 * m / t_send:.0f} msg/s")
    journal.close()
    await link.stop()
    await bo.stop()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _Sim:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def cmd(self, name: str, **args: Any) -> dict[str, Any]:
        self.writer.write(json.dumps({"cmd": name, **args}).encode() + b"\n")
        await self.writer.drain()
        return dict(json.loads(await self.reader.readline()))


async def _sessions(n: int = SESSIONS) -> None:
    bo = BackOffice()
    await bo.start()
    state = Path(tempfile.mkdtemp())
    (state / "config.json").write_text(json.dumps({"format": 1, "values": {"MeterValueSampleInterval": "0"}}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller", "run", "--state-dir", str(state), "--backoffice", bo.url,
        "--identity", "BENCH", "--sim-control", "127.0.0.1:0", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    port = 0
    while not port:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise RuntimeError("controller exited")
        if "sim control API on" in line:
            port = int(line.rsplit(":", 1)[1])

    async def drain() -> None:
        assert proc.stdout is not None
        while await proc.stdout.readline():
            pass

    drainer = asyncio.ensure_future(drain())
    sim = _Sim(*await asyncio.open_connection("127.0.0.1", port))
    await bo.wait_for("StatusNotification", "BENCH", timeout=15)

    async def state_is(cp: str) -> None:
        for _ in range(500):
            st = await sim.cmd("status")
            if st["connectors"][0]["cp_state"] == cp:
                return
            await asyncio.sleep(0.005)
        raise TimeoutError(f"connector never reached state {cp}")

    rss: dict[int, int] = {}
    t0 = time.perf_counter()
    for k in range(1, n + 1):
        after = len(bo.records)
        if k % REPLUG_EVERY == 1:
            await sim.cmd("plug", connector=1)
            await state_is("B")
        await bo.call("BENCH", call.RemoteStartTransaction(id_tag=f"B{k}", connector_id=1))
        start = await bo.wait_for("StartTransaction", "BENCH", after=after, timeout=10)
        tid = start.response["transactionId"]  # type: ignore[index]
        await bo.call("BENCH", call.RemoteStopTransaction(transaction_id=tid))
        await bo.wait_for("StopTransaction", "BENCH", after=after, timeout=10)
        if k % REPLUG_EVERY == 0:
            await sim.cmd("unplug", connector=1)
            await state_is("A")
        if k in (10, n // 2, n):
            rss[k] = _rss_kb(proc.pid)
        if k % 100 == 0:
            del bo.records[:]  # keep the bench's own memory flat
    elapsed = time.perf_counter() - t0
    print(f"   sessions: {n} in {elapsed:.1f} s ({n / elapsed:.1f}/s); controller main process RSS "
          + ", ".join(f"after {k}: {v / 1024:.1f} MiB" for k, v in rss.items()))
    proc.terminate()
    await proc.wait()
    drainer.cancel()
    await bo.stop()


async def _main() -> None:
    # the back office logs a send to a controller that was just terminated; not a result of the bench
    logging.getLogger("controller.backoffice.server").setLevel(logging.CRITICAL)
    await _round_trips()
    await _sessions()


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
