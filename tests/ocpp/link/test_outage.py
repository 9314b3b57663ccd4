"""Power Outage Recovery across a restart of the station (same state directory, a clock that moved on by the
outage): Idle stops with reason PowerLoss at the last alive time and the last committed meter reading; Resume
within Max Allowed Outage Duration continues the same transaction; beyond it, PowerLoss again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from ocpp.v16 import call

from controller.backoffice.server import BackOffice
from controller.clock import FakeClock
from controller.ocpp.aligned import ALIVE_INTERVAL_S
from controller.timefmt import format_time
from tests.ocpp.link.support import Rig, Script, start_station, stop_station, until


async def _session_then_outage(tmp_path: Path, bo: BackOffice, config: dict[str, str]) -> tuple[int, FakeClock, int]:
    """Start a transaction, let it run, stop the station as the power goes; returns (tid, clock, last meter)."""
    clock = FakeClock()
    rig = await start_station(tmp_path, bo, clock=clock, config=config)
    s = Script(bo, rig.identity)
    try:
        await rig.cmd("plug", connector=1)
        await until(lambda: rig.conn()["cp_state"] == "B", 5, "plugged")
        await s.send(call.RemoteStartTransaction(id_tag="OUTAGE", connector_id=1))
        start = await s.expect("StartTransaction")
        await until(lambda: rig.conn()["energy_wh"] > start.payload["meterStart"] + 5, 10, "energy")
        for _ in range(3):
            await clock.advance(ALIVE_INTERVAL_S)
            await asyncio.sleep(0.05)
        alive = rig.station.journal.last_alive()
        assert alive is not None and abs(alive - clock.now().timestamp()) <= ALIVE_INTERVAL_S
        await until(lambda: rig.station.journal.pending_count() == 0, 5, "delivered")
    finally:
        await stop_station(rig)  # the power goes (the last alive time and meter are committed)
    from controller.transactions.journal import Journal

    j = Journal(tmp_path / "state" / "journal.sqlite")
    (rec,) = j.active_transactions()
    j.close()
    return int(start.response["transactionId"]), clock, int(rec.last_meter or 0)  # type: ignore[index]


async def _restart(tmp_path: Path, bo: BackOffice, clock: FakeClock, outage_s: float, **config: str) -> Rig:
    later = FakeClock(wall=clock.now() + timedelta(seconds=outage_s))
    return await start_station(tmp_path, bo, clock=later, config=config or None)


async def test_idle_stops_with_power_loss(tmp_path: Path) -> None:
    bo = BackOffice()
    await bo.start()
    tid, clock, last_meter = await _session_then_outage(tmp_path, bo, {})
    went = clock.now().timestamp()
    s = Script(bo, "CP1")
    s.mark()
    rig = await _restart(tmp_path, bo, clock, 30)
    try:
        stop = await s.expect("StopTransaction", transactionId=tid, reason="PowerLoss")
        assert stop.payload["meterStop"] == last_meter
        assert stop.payload["timestamp"] == format_time(went)
        assert rig.conn()["transaction_id"] is None
        assert any("stopped" in line and "Idle" in line for line in rig.trace)
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_resume_within_the_allowed_outage(tmp_path: Path) -> None:
    bo = BackOffice()
    await bo.start()
    config = {"Power Outage Recovery": "Resume", "Max Allowed Outage Duration (s)": "60",
              "StopTransactionOnEVSideDisconnect": "false", "MeterValueSampleInterval": "10"}
    tid, clock, _ = await _session_then_outage(tmp_path, bo, config)
    s = Script(bo, "CP1")
    s.mark()
    rig = await _restart(tmp_path, bo, clock, 30)
    try:
        await s.expect_none("StopTransaction", within=0.5)
        assert rig.conn()["transaction_id"] == tid  # the same transaction
        await rig.cmd("plug", connector=1)  # the simulated car comes back with the power (a real one stays)
        await until(lambda: rig.conn()["contactor"] == "closed", 8, "charging again")
        await rig.station.clock.advance(10.5)  # type: ignore[attr-defined]
        await s.expect("MeterValues", transactionId=tid)
        await s.send(call.RemoteStopTransaction(transaction_id=tid))
        await s.expect("StopTransaction", transactionId=tid, reason="Remote")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_resumed_transaction_whose_car_left_stops_as_an_unplug(tmp_path: Path) -> None:
    bo = BackOffice()
    await bo.start()
    config = {"Power Outage Recovery": "Resume", "Max Allowed Outage Duration (s)": "0",  # 0: always resume
              "StopTransactionOnEVSideDisconnect": "true"}
    tid, clock, _ = await _session_then_outage(tmp_path, bo, config)
    s = Script(bo, "CP1")
    s.mark()
    rig = await _restart(tmp_path, bo, clock, 86400)
    try:
        await s.expect("StopTransaction", transactionId=tid, reason="EVDisconnected")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_resume_beyond_the_allowed_outage_is_power_loss(tmp_path: Path) -> None:
    bo = BackOffice()
    await bo.start()
    config = {"Power Outage Recovery": "Resume", "Max Allowed Outage Duration (s)": "60"}
    tid, clock, _ = await _session_then_outage(tmp_path, bo, config)
    s = Script(bo, "CP1")
    s.mark()
    rig = await _restart(tmp_path, bo, clock, 120)
    try:
        await s.expect("StopTransaction", transactionId=tid, reason="PowerLoss")
        assert any("longer than allowed" in line for line in rig.trace)
    finally:
        await stop_station(rig)
        await bo.stop()
