"""The remaining Core actions' full behaviour: ChangeAvailability (incl. Scheduled while charging, persisted),
Reset (transactions stopped with SoftReset/HardReset, then the station restarts), UnlockConnector,
DataTransfer, ClearCache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from tests.conftest import Rig, until
from tests.ocpp.profiles.conftest import calls, restart_after_reset


async def start_charging(rig: Rig, tag: str = "CARD1") -> Any:
    after = len(rig.bo.records)
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid=tag)
    start = await rig.bo.wait_for("StartTransaction", rig.identity, after=after, timeout=5)
    await rig.wait_status("Charging")
    return start


async def test_change_availability_scheduled_while_charging_and_persisted(rig: Rig, tmp_path: Path) -> None:
    bo, cp = rig.bo, rig.identity
    res = await bo.call(cp, call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert res.status == "Accepted"
    await rig.wait_status("Unavailable")
    await bo.wait_for("StatusNotification", cp, lambda p: p["connectorId"] == 1 and p["status"] == "Unavailable")
    # an unavailable connector starts nothing
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid="CARD1")
    await until(lambda: any("no free connector" in line for line in rig.trace), 3, "the card to be refused")
    assert not calls(rig, "StartTransaction")
    res = await bo.call(cp, call.ChangeAvailability(connector_id=2, type="Inoperative"))
    assert res.status == "Rejected"
    res = await bo.call(cp, call.ChangeAvailability(connector_id=0, type="Operative"))
    assert res.status == "Accepted"
    await rig.wait_status("Preparing")

    # while charging: Scheduled, applied when the transaction ends
    await rig.cmd("tag", uid="CARD1")
    await bo.wait_for("StartTransaction", cp, timeout=5)
    await rig.wait_status("Charging")
    res = await bo.call(cp, call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert res.status == "Scheduled"
    assert rig.conn()["ocpp_status"] == "Charging"
    await rig.cmd("tag", uid="CARD1")
    await bo.wait_for("StopTransaction", cp, timeout=5)
    await rig.wait_status("Unavailable")
    await until(lambda: bo.connector_status.get((cp, 0)) == "Unavailable", 3, "station Unavailable")

    # persisted: still Inoperative after a restart
    res = await bo.call(cp, call.Reset(type="Hard"))
    assert res.status == "Accepted"
    await restart_after_reset(rig, tmp_path)
    await rig.wait_status("Unavailable")
    res = await bo.call(cp, call.ChangeAvailability(connector_id=0, type="Operative"))
    assert res.status == "Accepted"
    await until(lambda: rig.conn()["ocpp_status"] != "Unavailable", 3, "connector back in service")


@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_stops_transactions_then_restarts(rig: Rig, tmp_path: Path, kind: str) -> None:
    bo, cp = rig.bo, rig.identity
    start = await start_charging(rig)
    boots = len(calls(rig, "BootNotification"))
    res = await bo.call(cp, call.Reset(type=kind))
    assert res.status == "Accepted"
    stop = await bo.wait_for("StopTransaction", cp, timeout=5)
    assert stop.payload["reason"] == f"{kind}Reset"
    assert stop.payload["transactionId"] == start.response["transactionId"]
    await restart_after_reset(rig, tmp_path)
    assert len(calls(rig, "BootNotification")) == boots + 1
    assert rig.station.reset_kind is None and not rig.station.sessions.sessions[1].in_transaction
    events = [r.payload["type"] for r in calls(rig, "SecurityEventNotification")]
    assert "ResetOrReboot" in events


async def test_unlock_connector(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    start = await start_charging(rig)
    res = await bo.call(cp, call.UnlockConnector(connector_id=1))
    assert res.status == "Unlocked"
    stop = await bo.wait_for("StopTransaction", cp, timeout=5)
    assert stop.payload["reason"] == "UnlockCommand"
    assert stop.payload["transactionId"] == start.response["transactionId"]
    res = await bo.call(cp, call.UnlockConnector(connector_id=3))
    assert res.status == "NotSupported"


async def test_unlock_failed_when_the_lock_is_jammed(rig: Rig) -> None:
    await start_charging(rig)
    reply = await rig.sim.handle("lock", {"connector": 1, "jammed": True})
    assert reply == {"ok": True}
    res = await rig.bo.call(rig.identity, call.UnlockConnector(connector_id=1))
    assert res.status == "UnlockFailed"


async def test_unlock_not_supported_with_a_fixed_cable(rig: Rig) -> None:
    object.__setattr__(rig.station.board, "fixed_cable", True)  # the board file says so on such a station
    res = await rig.bo.call(rig.identity, call.UnlockConnector(connector_id=1))
    assert res.status == "NotSupported"


async def test_data_transfer_and_clear_cache(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    res = await bo.call(cp, call.DataTransfer(vendor_id="com.example.unknown", message_id="x", data="y"))
    assert res.status == "UnknownVendorId"
    rig.station.auth.store.cache_put("CACHED", rig.station.auth.store.cache_get("X") or _accepted())
    assert rig.station.auth.store.cache_count() == 1
    res = await bo.call(cp, call.ClearCache())
    assert res.status == "Accepted"
    assert rig.station.auth.store.cache_count() == 0


def _accepted() -> Any:
    from controller.auth.decision import IdTagInfo

    return IdTagInfo("Accepted")
