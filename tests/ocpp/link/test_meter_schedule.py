"""Meter values of a running station on a fake clock against the real back office: sampled values relative
to the transaction start (measurands, phases, randomisation), clock-aligned values (with and without a
transaction), central (grid) meter values in each transmission mode, StopTxnSampledData."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from controller.backoffice.server import BackOffice
from controller.clock import FakeClock
from controller.timefmt import format_time, parse_time_or_none
from tests.ocpp.link.support import Rig, Script, in_records, start_station, stop_station, until


async def _start(tmp_path: Path, wall: datetime, config: dict[str, str]) -> tuple[BackOffice, Rig, FakeClock, Script]:
    bo = BackOffice()
    await bo.start()
    clock = FakeClock(wall=wall)
    rig = await start_station(tmp_path, bo, clock=clock, config=config)
    return bo, rig, clock, Script(bo, rig.identity)


async def _remote_start(rig: Rig, s: Script, tag: str = "MV") -> int:
    await rig.cmd("plug", connector=1)
    await until(lambda: rig.conn()["cp_state"] == "B", 5, "plugged")
    res = await s.send(call.RemoteStartTransaction(id_tag=tag, connector_id=1))
    assert res.status == "Accepted"
    start = await s.expect("StartTransaction", idTag=tag)
    await until(lambda: rig.conn()["contactor"] == "closed", 8, "charging")
    await asyncio.sleep(1.2)  # a fresh sample from the control loop
    return int(start.response["transactionId"])  # type: ignore[index]


async def _advance(clock: FakeClock, seconds: float, step: float = 5.0) -> None:
    left = seconds
    while left > 0:
        d = min(step, left)
        await clock.advance(d)
        left -= d
        await asyncio.sleep(0.01)


def _measurands(mv: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(sv["measurand"], sv.get("phase")) for sv in mv["sampledValue"]]


async def test_sampled_values_from_the_transaction_start(tmp_path: Path) -> None:
    bo, rig, clock, s = await _start(
        tmp_path, datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC),
        {"MeterValueSampleInterval": "10", "RegisterMeterValuesIncludePhases": "true",
         "MeterValuesSampledData": "Energy.Active.Import.Register,Current.Import,Voltage.L1-N,Current.Offered"},
    )
    try:
        tid = await _remote_start(rig, s)
        start_ts = parse_time_or_none(in_records(bo, "CP1", "StartTransaction")[0].payload["timestamp"]) or 0.0
        await _advance(clock, 10.5)
        mv = await s.expect("MeterValues", transactionId=tid, connectorId=1)
        value = mv.payload["meterValue"][0]
        assert value["timestamp"] == format_time(start_ts + 10)
        assert _measurands(value) == [
            ("Energy.Active.Import.Register", None),
            ("Current.Import", None), ("Current.Import", "L1"), ("Current.Import", "L2"), ("Current.Import", "L3"),
            ("Voltage", "L1-N"), ("Current.Offered", None),
        ]
        assert {sv["context"] for sv in value["sampledValue"]} == {"Sample.Periodic"}
        offered = next(sv for sv in value["sampledValue"] if sv["measurand"] == "Current.Offered")
        assert float(offered["value"]) == 32.0
        await _advance(clock, 10)
        mv2 = await s.expect("MeterValues", transactionId=tid)
        assert mv2.payload["meterValue"][0]["timestamp"] == format_time(start_ts + 20)
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_randomised_sending_keeps_the_sample_time(tmp_path: Path) -> None:
    bo, rig, clock, s = await _start(
        tmp_path, datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC),
        {"MeterValueSampleInterval": "10", "MaxTxMeterValueRandomisationTime": "60"},
    )
    try:
        await _remote_start(rig, s)
        await _advance(clock, 10.5)
        await until(lambda: any(i.action == "MeterValues" for i in rig.station.journal.pending()), 5, "journalled")
        item = next(i for i in rig.station.journal.pending() if i.action == "MeterValues")
        sampled_at = parse_time_or_none(item.payload["meterValue"][0]["timestamp"]) or 0.0
        assert sampled_at <= item.not_before <= sampled_at + 60
        wait = item.not_before - clock.now().timestamp()
        if wait > 1:
            await asyncio.sleep(0.3)
            assert not in_records(bo, "CP1", "MeterValues")
        await _advance(clock, max(0.0, wait) + 1)
        mv = await s.expect("MeterValues")
        assert mv.payload["meterValue"][0]["timestamp"] == format_time(sampled_at)
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_clock_aligned_values_with_and_without_a_transaction(tmp_path: Path) -> None:
    bo, rig, clock, s = await _start(
        tmp_path, datetime(2026, 1, 1, 12, 14, 50, tzinfo=UTC),
        {"ClockAlignedDataInterval": "900", "MeterValuesAlignedData": "Energy.Active.Import.Register,Current.Import.L1",
         "MeterValueSampleInterval": "0"},
    )
    try:
        await asyncio.sleep(1.2)
        await _advance(clock, 11)
        mv = await s.expect("MeterValues", connectorId=1)
        assert "transactionId" not in mv.payload  # no transaction: a plain clock-aligned reading
        value = mv.payload["meterValue"][0]
        assert value["timestamp"] == "2026-01-01T12:15:00Z"
        assert _measurands(value) == [("Energy.Active.Import.Register", None), ("Current.Import", "L1")]
        assert {sv["context"] for sv in value["sampledValue"]} == {"Sample.Clock"}
        tid = await _remote_start(rig, s)
        await _advance(clock, 900, step=30)
        mv = await s.expect("MeterValues", transactionId=tid)
        assert mv.payload["meterValue"][0]["timestamp"] == "2026-01-01T12:30:00Z"
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_central_meter_values_in_each_mode(tmp_path: Path) -> None:
    bo, rig, clock, s = await _start(
        tmp_path, datetime(2026, 1, 1, 12, 14, 50, tzinfo=UTC),
        {"CentralMeterValueSampleInterval": "60", "CentralMeterValueAlignment": "Clock",
         "CentralMeterValueTransmissionMode": "Always", "MeterValueSampleInterval": "0"},
    )
    try:
        await rig.cmd("grid", currents=[10.0, 11.0, 12.0])
        await _advance(clock, 11)
        mv = await s.expect("MeterValues", connectorId=0)
        value = mv.payload["meterValue"][0]
        assert value["timestamp"] == "2026-01-01T12:15:00Z"
        currents = {sv.get("phase"): float(sv["value"]) for sv in value["sampledValue"]
                    if sv["measurand"] == "Current.Import"}
        assert currents == {"L1": 10.0, "L2": 11.0, "L3": 12.0}
        assert {sv["location"] for sv in value["sampledValue"]} == {"Inlet"}

        res = await s.send(call.ChangeConfiguration(key="CentralMeterValueTransmissionMode", value="During"))
        assert res.status == "Accepted"
        s.mark()
        await _advance(clock, 60)
        await s.expect_none("MeterValues", within=0.3, connectorId=0)  # no transaction running
        tid = await _remote_start(rig, s)
        await _advance(clock, 60)
        await s.expect("MeterValues", connectorId=0)

        res = await s.send(call.ChangeConfiguration(key="CentralMeterValueTransmissionMode", value="End"))
        assert res.status == "Accepted"
        s.mark()
        await _advance(clock, 120)
        await s.expect_none("MeterValues", within=0.3, connectorId=0)
        res = await s.send(call.RemoteStopTransaction(transaction_id=tid))
        await s.expect("StopTransaction", transactionId=tid)
        await _advance(clock, 2, step=1)
        end = await s.expect("MeterValues", connectorId=0)
        assert {sv["context"] for sv in end.payload["meterValue"][0]["sampledValue"]} == {"Transaction.End"}
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_stop_txn_sampled_data_goes_into_the_stop_transaction(tmp_path: Path) -> None:
    bo, rig, clock, s = await _start(
        tmp_path, datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC), {"MeterValueSampleInterval": "10"},
    )
    # StopTxnSampledData is read-only and empty on Alfen firmware (and in our key table); a board could set it.
    config = rig.station.config
    original = config.get_list
    config.get_list = lambda name: (  # type: ignore[method-assign]
        ["Energy.Active.Import.Register"] if name == "StopTxnSampledData" else original(name)
    )
    try:
        tid = await _remote_start(rig, s)
        await _advance(clock, 1.5, step=0.5)
        await _advance(clock, 10)
        res = await s.send(call.RemoteStopTransaction(transaction_id=tid))
        assert res.status == "Accepted"
        stop = await s.expect("StopTransaction", transactionId=tid)
        data = stop.payload["transactionData"]
        contexts = [mv["sampledValue"][0]["context"] for mv in data]
        assert contexts == ["Transaction.Begin", "Sample.Periodic", "Transaction.End"]
        energies = [float(mv["sampledValue"][0]["value"]) for mv in data]
        assert energies == sorted(energies) and energies[-1] == stop.payload["meterStop"]
    finally:
        await stop_station(rig)
        await bo.stop()
