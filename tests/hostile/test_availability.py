"""Item 12: ChangeAvailability of connector 0 while a transaction runs answers Scheduled and applies after the
transaction ends: the station reports Unavailable then, not at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.clock import FakeClock
from tests.hostile.office import HostileOffice
from tests.hostile.support import advance_until, station_at


def station_statuses(office: HostileOffice) -> list[str]:
    return [c.payload["status"] for c in office.calls("StatusNotification") if c.payload["connectorId"] == 0]


async def test_station_inoperative_is_scheduled_after_the_transaction(tmp_path: Path) -> None:
    office = HostileOffice()
    await office.start()
    clock = FakeClock()
    try:
        async with station_at(tmp_path, office, clock=clock) as rig:
            assert (await office.result("RemoteStartTransaction", {"idTag": "AV", "connectorId": 1}))["status"] == "Accepted"
            await rig.cmd("plug", connector=1)
            await advance_until(clock, office, lambda: rig.station.sender.sent >= 1, 10, "transaction started", 0.5)
            res = await office.result("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
            assert res == {"status": "Scheduled"}
            await clock.advance(5)
            await asyncio.sleep(0.3)
            assert "Unavailable" not in station_statuses(office)  # not while the transaction runs
            assert rig.station.status_snapshot()["connectors"][0]["ocpp_status"] != "Unavailable"
            assert (await office.result("RemoteStopTransaction", {"transactionId": 100}))["status"] == "Accepted"
            await advance_until(clock, office, lambda: "Unavailable" in station_statuses(office), 30,
                                "the station Unavailable after the transaction", 0.5)
            assert bool(office.calls("StopTransaction"))
    finally:
        await office.stop()
