"""Item 1: every cancellation path of the link finishes, whatever state the reader is in: idle in recv(),
inside a handler that never returns, inside a handler that swallows the first cancellation (what
asyncio.wait_for does on Python 3.11 when the awaited thing completes as the cancel arrives), and waiting for a
caller to take its result. The socket drops (the link comes back) and the station stops (the link ends)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.office import HostileOffice
from tests.hostile.support import station_at


async def _forever(*_: Any) -> str:
    await asyncio.Event().wait()
    return "Unlocked"


async def _stubborn(*_: Any) -> str:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        pass  # swallowed once
    await asyncio.Event().wait()
    return "Unlocked"


READER_STATES = ["idle", "handler", "swallowing-handler", "consume-wait"]


async def _put_reader_in(state: str, rig: Any, office: HostileOffice) -> None:
    station = rig.station
    if state in ("handler", "swallowing-handler"):
        station.requests.unlock = _forever if state == "handler" else _stubborn  # what UnlockConnector asks
        asyncio.ensure_future(office.call("UnlockConnector", {"connectorId": 1}, timeout=30))
        await office.wait(lambda: any("UnlockConnector" in f.raw for f in office.frames), what="unlock sent")
        await asyncio.sleep(0.05)
        assert not [f for f in office.frames if f.direction == "in" and f.msg[0] == 3 and f.msg[1] == "bo-1"]
    elif state == "consume-wait":
        # a caller that is never resumed to take its result: the reader waits (CONSUME_WAIT_S) for it
        from ocpp.v16 import call

        import controller.ocpp.link as link_module

        link = station.link
        original = link_module.race  # the link's waits (linkwaits.race), as the link module names it

        await office.wait(lambda: len(office.calls("StatusNotification")) >= 2, what="boot statuses")

        async def frozen(clock: Any, aw: Any, timeout: Any, closed: Any = None) -> Any:
            frame = getattr(aw, "cr_frame", None)
            if frame is not None and isinstance(frame.f_locals.get("payload"), call.Heartbeat):
                await original(clock, aw, timeout, closed)
                await asyncio.Event().wait()  # a caller that has its result and never resumes to take it
            return await original(clock, aw, timeout, closed)

        link_module.race = frozen  # type: ignore[assignment]
        try:
            asyncio.ensure_future(link.call(call.Heartbeat()))
            await office.wait_call("Heartbeat")
            await asyncio.sleep(0.05)
        finally:
            link_module.race = original


@pytest.mark.parametrize("state", READER_STATES)
async def test_socket_drop_in_every_reader_state(tmp_path: Path, office: HostileOffice, state: str) -> None:
    async with station_at(tmp_path, office) as rig:
        link = rig.station.link
        await _put_reader_in(state, rig, office)
        await office.drop()
        await office.wait(lambda: office.connections == 2 and link.online, 20, "back online after the drop")
        office.assert_one_call_outstanding()


@pytest.mark.parametrize("state", READER_STATES)
async def test_stop_in_every_reader_state(tmp_path: Path, state: str) -> None:
    office = HostileOffice()
    await office.start()
    try:
        async with station_at(tmp_path, office) as rig:
            await _put_reader_in(state, rig, office)
            (run,) = [t for t in asyncio.all_tasks() if t.get_name() == "ocpp-link"]
            await asyncio.wait_for(rig.station.link.stop(), 20)
            await asyncio.wait_for(run, 20)  # the connection loop ended: nothing waits for ever

    finally:
        await office.stop()
