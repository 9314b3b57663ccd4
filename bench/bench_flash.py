"""Flash wear: bytes the controller process writes per day, at default settings, while every socket of the
simulated station charges (issue 11: at most 50 MB/day per socket).

The station runs on a FakeClock, so `HOURS` of station time (meter samples, last-alive commits, heartbeats,
the journal's deliveries and confirmations) pass in seconds; the bytes come from /proc/self/io
`write_bytes` (what this process made the kernel write to storage, page-granular, counted again each time
an fsynced page is dirtied again) and are scaled to a day. The state directory is on a real disk (not tmpfs,
which counts nothing).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ocpp.v16 import call

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import BackOffice
from controller.clock import FakeClock
from controller.simcontrol.server import SimControlServer

HOURS = 2.0
STEP_S = 5.0
BOARD = "sim-double"


def write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/self/io")


async def _until(pred: Callable[[], bool], timeout: float, what: str, clock: FakeClock | None = None) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(f"bench: no {what} within {timeout} s")
        await asyncio.sleep(0.02)
        if clock is not None:
            await clock.advance(0.5)


async def measure(hours: float = HOURS) -> tuple[float, int]:
    """(MB per day per socket, sockets)."""
    state = Path(tempfile.mkdtemp(prefix="bench-flash-", dir="/var/tmp"))
    bo = BackOffice()
    await bo.start()
    clock = FakeClock()
    board = load_board(builtin_board(BOARD))
    station = Station(board, state / "state", StationOptions(backoffice_url=bo.url, identity="FLASH"), clock=clock)
    sim = SimControlServer(station)
    await sim.start()
    await station.start()
    try:
        await _until(lambda: station.link.online, 20, "boot", clock)
        sockets = [c.id for c in board.connectors]
        for cid in sockets:
            await sim.handle("plug", {"connector": cid})
            await bo.call("FLASH", call.RemoteStartTransaction(id_tag=f"FLASH{cid}", connector_id=cid))
        await _until(lambda: all(station.sessions.sessions[c].in_transaction for c in sockets), 20, "charging", clock)
        await _until(lambda: station.journal.pending_count() == 0, 20, "delivery", clock)
        before = write_bytes()
        steps = int(hours * 3600 / STEP_S)
        for _ in range(steps):
            await clock.advance(STEP_S)
            await asyncio.sleep(0)
        await _until(lambda: station.journal.pending_count() == 0, 20, "delivery", clock)
        written = write_bytes() - before
    finally:
        await sim.stop()
        await station.stop()
        await bo.stop()
        shutil.rmtree(state, ignore_errors=True)
    per_day = written * 24 / hours
    return per_day / len(sockets) / 1e6, len(sockets)


def main() -> None:
    logging.disable(logging.WARNING)
    mb, sockets = asyncio.run(measure())
    print(f"flash wear at default settings, {sockets} sockets charging, {HOURS:g} h of station time: "
          f"{mb:.1f} MB/day per socket (target < 50)")


if __name__ == "__main__":
    main()
