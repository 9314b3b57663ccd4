"""A station on the simulated board against the hostile office, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from controller.clock import FakeClock
from tests.hostile.office import HostileOffice
from tests.ocpp.link.support import Rig, start_station, stop_station


@asynccontextmanager
async def station_at(
    tmp_path: Path, office: HostileOffice, *, clock: FakeClock | None = None, config: dict[str, str] | None = None,
    online: bool = True, state: str = "state",
) -> AsyncIterator[Rig]:
    rig = await start_station(tmp_path, office, clock=clock, config=config, wait_online=False, state=state)  # type: ignore[arg-type]
    try:
        if online:
            await office.wait(lambda: rig.station.link.online, 15, "boot accepted")
        yield rig
    finally:
        await stop_station(rig)


async def advance_until(clock: FakeClock, office: HostileOffice, pred: Any, limit_s: float, what: str,
                        step: float = 1.0) -> float:
    """Move the fake clock `step` at a time (letting real I/O settle between steps) until `pred()`;
    fails if `limit_s` clock seconds pass first. Returns the clock seconds it took."""
    start = clock.monotonic()
    while not pred():
        if clock.monotonic() - start > limit_s:
            raise AssertionError(f"not within {limit_s} clock seconds: {what}\n{office.dump()}")
        await clock.advance(step)
        await office.wait(lambda: True)
        for _ in range(5):
            await asyncio.sleep(0.005)
    return clock.monotonic() - start


async def remote_session(rig: Rig, office: HostileOffice, tag: str, connector: int = 1) -> None:
    """RemoteStartTransaction (Accepted) for `tag`, then the car plugs in."""
    res = await office.result("RemoteStartTransaction", {"idTag": tag, "connectorId": connector})
    assert res["status"] == "Accepted", res
    await rig.cmd("plug", connector=connector)
