"""OCTT TC_037/038/039 (offline start, offline stop, whole transaction offline) and the delivery faults:
back office unreachable for a whole session, the connection dropped mid-StartTransaction and
mid-StopTransaction (the back office processed it but its answer was lost: the resend is deduplicated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.backoffice.server import BackOffice
from tests.ocpp.link.support import Rig, Script, start_station, stop_station, until

OFFLINE_OK = {"AllowOfflineTxForUnknownId": "true", "MeterValueSampleInterval": "2"}


async def _rig(tmp_path: Path, online: bool = True, **config: str) -> tuple[BackOffice, Rig, Script]:
    bo = BackOffice()
    await bo.start()
    if not online:
        await bo.stop()
    rig = await start_station(tmp_path, bo, config={**OFFLINE_OK, **config}, wait_online=online)
    return bo, rig, Script(bo, rig.identity)


async def _go_offline(bo: BackOffice, rig: Rig) -> None:
    await bo.stop()
    await until(lambda: not rig.station.link.online, 10, "offline")


async def _charge(rig: Rig, uid: str, wh: float = 3.0) -> None:
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid=uid)
    await until(lambda: rig.conn()["contactor"] == "closed", 10, "charging")
    start = rig.conn()["energy_wh"]
    await until(lambda: rig.conn()["energy_wh"] > start + wh, 10, "energy")


async def test_tc037_offline_start_transaction(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await _go_offline(bo, rig)
        await _charge(rig, "TC037")
        offline_start = rig.station.journal.transactions()[-1].start_time
        s.mark()
        await bo.start()
        start = await s.expect("StartTransaction", connectorId=1, idTag="TC037", timestamp=offline_start)
        tid = start.response["transactionId"]  # type: ignore[index]
        await s.expect("StatusNotification", connectorId=1, status="Charging")
        await until(lambda: rig.conn()["transaction_id"] == tid, 5, "mapped transaction id")
        await rig.cmd("tag", uid="TC037")
        await s.expect("StopTransaction", transactionId=tid, reason="Local")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc038_offline_stop_transaction(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="TC038")
        start = await s.expect("StartTransaction", idTag="TC038")
        tid = start.response["transactionId"]  # type: ignore[index]
        await until(lambda: rig.conn()["energy_wh"] > 3, 10, "energy")
        await _go_offline(bo, rig)
        await rig.cmd("tag", uid="TC038")
        await until(lambda: rig.conn()["transaction_id"] is None, 5, "stopped offline")
        stopped = rig.station.journal.transactions()[-1]
        await rig.cmd("unplug", connector=1)
        s.mark()
        await bo.start()
        stop = await s.expect("StopTransaction", transactionId=tid, reason="Local", timestamp=stopped.stop_time)
        assert stop.payload["meterStop"] == stopped.meter_stop
        await s.expect("StatusNotification", connectorId=1, status="Available")
        assert bo.transactions[tid]["meter_stop"] == stopped.meter_stop
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc039_offline_transaction(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await _go_offline(bo, rig)
        await _charge(rig, "TC039", wh=6)
        await until(lambda: rig.station.journal.pending_count() >= 2, 10, "a meter value journalled")
        await rig.cmd("tag", uid="TC039")
        await rig.cmd("unplug", connector=1)
        await until(lambda: rig.conn()["ocpp_status"] == "Available", 10, "Available")
        s.mark()
        await bo.start()
        start = await s.expect("StartTransaction", idTag="TC039")
        tid = start.response["transactionId"]  # type: ignore[index]
        await s.expect("MeterValues", transactionId=tid, connectorId=1)
        stop = await s.expect("StopTransaction", transactionId=tid, reason="Local")
        assert stop.payload["meterStop"] > start.payload["meterStart"]
        tx = bo.transactions[tid]
        energies = [float(mv["sampledValue"][0]["value"]) for mv in tx["meter_values"]]
        assert energies == sorted(energies) and tx["meter_start"] <= energies[0] <= tx["meter_stop"]
        await s.expect("StatusNotification", connectorId=1, status="Available")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_back_office_unreachable_for_the_whole_session(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path, online=False)
    try:
        for n in range(2):
            await _charge(rig, f"AWAY{n}", wh=5)
            await rig.cmd("tag", uid=f"AWAY{n}")
            await rig.cmd("unplug", connector=1)
            await until(lambda: rig.conn()["ocpp_status"] == "Available", 10, "Available")
        journalled = [(i.action, i.local_tx) for i in rig.station.journal.pending()]
        assert [a for a, _ in journalled].count("StartTransaction") == 2
        await bo.start()
        await until(lambda: rig.station.journal.pending_count() == 0, 15, "everything delivered")
        got = [(r.action, r.payload.get("transactionId")) for r in bo.records
               if r.direction == "in" and r.action in ("StartTransaction", "MeterValues", "StopTransaction")]
        tids = [r.response["transactionId"] for r in bo.records  # type: ignore[index]
                if r.direction == "in" and r.action == "StartTransaction"]
        assert len(tids) == 2 and len(bo.transactions) == 2
        # in journal order: each transaction's start, its meter values, its stop, with the real id
        starts = [local for action, local in journalled if action == "StartTransaction"]
        tid_of = dict(zip(starts, tids, strict=True))
        expected = [(a, None if a == "StartTransaction" else tid_of[local]) for a, local in journalled]
        assert got == expected
        for tid in tids:
            tx = bo.transactions[tid]
            assert tx["meter_stop"] >= tx["meter_start"] and tx["reason"] == "Local"
    finally:
        await stop_station(rig)
        await bo.stop()


@pytest.fixture
def lose_answer(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The back office processes the next call of each named action, then the connection dies before its
    answer leaves (set the count per action)."""
    drops: dict[str, int] = {}

    def before_answer(cp_id: str, action: str) -> bool:
        if drops.get(action, 0) > 0:
            drops[action] -= 1
            return False
        return True

    original_init = BackOffice.__init__

    def init(self: BackOffice, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.before_answer = before_answer  # every back office of this test loses the answers asked for

    monkeypatch.setattr(BackOffice, "__init__", init)
    return drops


async def test_connection_dropped_mid_start_transaction(tmp_path: Path, lose_answer: dict[str, int]) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        lose_answer["StartTransaction"] = 1
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="MIDSTART")
        first = await s.expect("StartTransaction", idTag="MIDSTART")
        again = await s.expect("StartTransaction", idTag="MIDSTART")  # resent after the reconnect
        assert again.payload == first.payload
        assert bo.duplicates["StartTransaction"] == 1 and len(bo.transactions) == 1
        tid = again.response["transactionId"]  # type: ignore[index]
        await until(lambda: rig.conn()["transaction_id"] == tid, 5, "mapped id")
        await rig.cmd("tag", uid="MIDSTART")
        await s.expect("StopTransaction", transactionId=tid)
        await until(lambda: rig.station.journal.pending_count() == 0, 5, "delivered")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_connection_dropped_mid_stop_transaction(tmp_path: Path, lose_answer: dict[str, int]) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="MIDSTOP")
        start = await s.expect("StartTransaction")
        tid = start.response["transactionId"]  # type: ignore[index]
        lose_answer["StopTransaction"] = 1
        await rig.cmd("tag", uid="MIDSTOP")
        first = await s.expect("StopTransaction", transactionId=tid)
        again = await s.expect("StopTransaction", transactionId=tid)
        assert again.payload == first.payload and bo.duplicates["StopTransaction"] == 1
        await until(lambda: rig.station.journal.pending_count() == 0, 5, "delivered")
        assert len(bo.transactions) == 1 and bo.transactions[tid]["meter_stop"] == first.payload["meterStop"]
    finally:
        await stop_station(rig)
        await bo.stop()
