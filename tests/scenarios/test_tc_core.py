"""OCTT 1.6 core cases as send/expect scripts against the real back office on loopback:
TC_001 cold boot (Rejected, then Accepted after the interval), TC_002 Pending, TC_003 plug first,
TC_004 identification first (and its ConnectionTimeOut variant), TC_012 remote stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp.v16 import call

from controller.backoffice.server import BackOffice
from controller.clock import FakeClock
from tests.ocpp.link.support import Script, start_station, stop_station, until


def statuses(s: Script, cid: int = 1) -> list[str]:
    return [p["status"] for p in s.received("StatusNotification") if p["connectorId"] == cid]


async def test_tc001_cold_boot_rejected_then_accepted_after_the_interval(tmp_path: Path) -> None:
    bo = BackOffice(boot_status="Rejected", heartbeat_interval=60)
    await bo.start()
    clock = FakeClock()
    rig = await start_station(tmp_path, bo, clock=clock, wait_online=False)
    s = Script(bo, rig.identity)
    try:
        boot = await s.expect("BootNotification", chargePointVendor="OpenChargePoint", chargePointModel="CM4-AC")
        assert boot.response is not None and boot.response["status"] == "Rejected"
        t0 = clock.monotonic()
        await until(lambda: t0 + 60 in clock.deadlines(), 10, "the retry after the interval set on the fake clock")
        await clock.advance(59)
        await s.expect_none("BootNotification", within=0.5)  # not before the interval
        assert [r.action for r in bo.records if r.direction == "in"] == ["BootNotification"]  # nothing else
        bo.boot_status = "Accepted"
        await clock.advance(1.5)
        boot = await s.expect("BootNotification")
        assert boot.response is not None and boot.response["status"] == "Accepted"
        await s.expect("StatusNotification", connectorId=0, status="Available")
        await s.expect("StatusNotification", connectorId=1, status="Available")
        assert rig.station.config.get("HeartbeatInterval") == "60"
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc002_pending_answers_calls_sends_nothing_then_boots(tmp_path: Path) -> None:
    bo = BackOffice(boot_status="Pending", heartbeat_interval=30)
    await bo.start()
    clock = FakeClock()
    rig = await start_station(tmp_path, bo, clock=clock, wait_online=False)
    s = Script(bo, rig.identity)
    try:
        boot = await s.expect("BootNotification")
        assert boot.response is not None and boot.response["status"] == "Pending"
        res = await s.send(call.GetConfiguration(key=["HeartbeatInterval"]))
        assert res.configuration_key[0]["key"] == "HeartbeatInterval"
        res = await s.send(call.ChangeConfiguration(key="MeterValueSampleInterval", value="60"))
        assert res.status == "Accepted"
        await s.expect_none("StatusNotification", within=0.3)  # no requests of our own while Pending
        await clock.advance(30.5)
        boot = await s.expect("BootNotification")
        assert boot.response is not None and boot.response["status"] == "Pending"
        bo.boot_status = "Accepted"
        res = await s.send(call.TriggerMessage(requested_message="BootNotification"))
        assert res.status == "Accepted"
        boot = await s.expect("BootNotification")  # at once, not after another 30 s
        assert boot.response is not None and boot.response["status"] == "Accepted"
        await s.expect("StatusNotification", connectorId=1, status="Available")
    finally:
        await stop_station(rig)
        await bo.stop()


async def _rig(tmp_path: Path, **config: str):  # type: ignore[no-untyped-def]
    bo = BackOffice()
    await bo.start()
    rig = await start_station(tmp_path, bo, config=config or None)
    return bo, rig, Script(bo, rig.identity)


async def test_tc003_regular_session_plug_first(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await s.expect("StatusNotification", connectorId=1, status="Available")
        await rig.cmd("plug", connector=1)
        await s.expect("StatusNotification", connectorId=1, status="Preparing")
        await rig.cmd("tag", uid="TC003")
        await s.expect("Authorize", idTag="TC003")
        start = await s.expect("StartTransaction", connectorId=1, idTag="TC003")
        await s.expect("StatusNotification", connectorId=1, status="Charging")
        tid = start.response["transactionId"]  # type: ignore[index]
        await until(lambda: rig.conn()["energy_wh"] > 2, 10, "energy")
        await rig.cmd("tag", uid="TC003")
        stop = await s.expect("StopTransaction", transactionId=tid, reason="Local", idTag="TC003")
        assert stop.payload["meterStop"] >= start.payload["meterStart"]
        await s.expect("StatusNotification", connectorId=1, status="Finishing")
        await rig.cmd("unplug", connector=1)
        await s.expect("StatusNotification", connectorId=1, status="Available")
        # nothing but the expected states: no false SuspendedEVSE/SuspendedEV right after the start
        assert statuses(s) == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc004_identification_first(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await s.expect("StatusNotification", connectorId=1, status="Available")
        await rig.cmd("tag", uid="TC004")
        await s.expect("Authorize", idTag="TC004")
        await s.expect("StatusNotification", connectorId=1, status="Preparing")
        await rig.cmd("plug", connector=1)
        await s.expect("StartTransaction", connectorId=1, idTag="TC004")
        await s.expect("StatusNotification", connectorId=1, status="Charging")
        assert statuses(s) == ["Available", "Preparing", "Charging"]
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc004_2_connection_timeout_without_a_car(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path, ConnectionTimeOut="2")
    try:
        await rig.cmd("tag", uid="TC004")
        await s.expect("StatusNotification", connectorId=1, status="Preparing")
        await s.expect("StatusNotification", connectorId=1, status="Available", timeout=6)
        await rig.cmd("plug", connector=1)
        await s.expect_none("StartTransaction", within=1.0)
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc012_remote_stop(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="TC012")
        start = await s.expect("StartTransaction")
        await s.expect("StatusNotification", connectorId=1, status="Charging")
        tid = start.response["transactionId"]  # type: ignore[index]
        res = await s.send(call.RemoteStopTransaction(transaction_id=tid))
        assert res.status == "Accepted"
        await s.expect("StopTransaction", transactionId=tid, reason="Remote")
        await s.expect("StatusNotification", connectorId=1, status="Finishing")
        await until(lambda: rig.conn()["contactor"] == "open", 8, "contactor open")
        await rig.cmd("unplug", connector=1)
        await s.expect("StatusNotification", connectorId=1, status="Available")
        await asyncio.sleep(0)
    finally:
        await stop_station(rig)
        await bo.stop()
