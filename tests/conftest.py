"""Shared fixtures: a running station on the simulated board against the real back office on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import BackOffice
from controller.clock import Clock
from controller.simcontrol.server import SimControlServer
from hil.rig import VirtualRig


async def until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait (real time) until `pred()` holds."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Rig:
    bo: BackOffice
    station: Station
    sim: SimControlServer
    identity: str
    trace: list[str]

    def conn(self, cid: int = 1) -> dict[str, Any]:
        return dict(self.station.status_snapshot()["connectors"][cid - 1])

    async def cmd(self, name: str, **args: Any) -> dict[str, Any]:
        reply = await self.sim.handle(name, args)
        assert reply["ok"], reply
        return reply

    async def wait_status(self, status: str, cid: int = 1, timeout: float = 10.0) -> None:
        await until(lambda: self.conn(cid)["ocpp_status"] == status, timeout, f"connector {cid} {status}")


async def start_rig(
    tmp_path: Path,
    board: str = "sim",
    identity: str = "CP1",
    config: dict[str, str] | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> Rig:
    """A back office and a Station on the simulated board; `options` go to StationOptions."""
    trace: list[str] = []
    bo = BackOffice()
    await bo.start()
    station = Station(
        load_board(builtin_board(board)),
        tmp_path / "state",
        StationOptions(backoffice_url=bo.url, identity=identity, **options),
        clock=clock,
        trace=trace.append,
    )
    for k, v in (config or {}).items():
        assert station.config.set(k, v) in ("Accepted", "RebootRequired"), (k, v)
    sim = SimControlServer(station)
    await sim.start()
    await station.start()
    await bo.wait_for("BootNotification", identity, timeout=15)
    await until(lambda: station.link.online, 10, "boot accepted")
    return Rig(bo, station, sim, identity, trace)


async def stop_rig(rig: Rig) -> None:
    await rig.sim.stop()
    await rig.station.stop()
    await rig.bo.stop()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await start_rig(tmp_path)
    try:
        yield r
    finally:
        await stop_rig(r)


@contextlib.asynccontextmanager
async def virtual_rig(state_dir: Path, identity: str) -> AsyncIterator[tuple[VirtualRig, BackOffice]]:
    """A real `chargepoint run` on the simulated board (the virtual HIL rig) against the built-in back office,
    once the station has reported its first status."""
    bo = BackOffice()
    await bo.start()
    rig = VirtualRig(bo.url, identity=identity, state_dir=state_dir)
    await rig.start()
    try:
        await bo.wait_for("StatusNotification", identity, timeout=20)
        yield rig, bo
    finally:
        await rig.close()
        await bo.stop()
