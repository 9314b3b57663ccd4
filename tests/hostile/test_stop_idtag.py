"""Item 17: StopTransaction's idTag is the identifier that requested the stop: the card presented for a Local
stop (here another card of the same group would do too), absent for Remote and EVDisconnected."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.clock import FakeClock
from tests.hostile.office import HostileOffice
from tests.hostile.support import advance_until, station_at


@pytest.mark.parametrize("how", ["Local", "Remote", "EVDisconnected"])
async def test_stop_transaction_id_tag(tmp_path: Path, office: HostileOffice, how: str) -> None:
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, config={"StopTransactionOnEVSideDisconnect": "true"}) as rig:
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="STARTER")
        await advance_until(clock, office, lambda: bool(office.calls("StartTransaction")), 10, "StartTransaction", 0.5)
        await advance_until(clock, office, lambda: rig.station.sender.sent >= 1, 10, "confirmed", 0.5)
        if how == "Local":
            await rig.cmd("tag", uid="STARTER")
        elif how == "Remote":
            assert (await office.result("RemoteStopTransaction", {"transactionId": 100}))["status"] == "Accepted"
        else:
            await rig.cmd("unplug", connector=1)
        await advance_until(clock, office, lambda: bool(office.calls("StopTransaction")), 10, "StopTransaction", 0.5)
        stop = office.calls("StopTransaction")[0].payload
        assert stop["reason"] == how
        if how == "Local":
            assert stop["idTag"] == "STARTER"
        else:
            assert "idTag" not in stop
