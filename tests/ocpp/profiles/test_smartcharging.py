"""SmartCharging scenarios against the real back office: TC_056/057 (profiles while charging: the PWM offer
drops), TC_058 (TxProfile without a transaction), TC_066 (GetCompositeSchedule), TC_067
(ClearChargingProfile), TC_072 (stacking), and a period boundary re-allocating on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from controller.evse.pwm import duty_for_current
from tests.conftest import Rig, until
from tests.ocpp.profiles.conftest import restart_after_reset


def profile(
    pid: int, purpose: str, level: int, periods: list[tuple[int, float]], *, kind: str = "Absolute",
    duration: int | None = None, unit: str = "A", start: datetime | None = None,
) -> dict[str, Any]:
    sched: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods],
    }
    if kind != "Relative":
        sched["startSchedule"] = (start or datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    if duration is not None:
        sched["duration"] = duration
    return {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": sched,
    }


async def set_profile(rig: Rig, connector: int, p: dict[str, Any]) -> str:
    res = await rig.bo.call(rig.identity, call.SetChargingProfile(connector_id=connector, cs_charging_profiles=p))
    return str(res.status)


async def charging(rig: Rig, tag: str = "CARD1") -> int:
    await rig.cmd("plug", connector=1, ev={"max_current": 32, "phases": 3, "response_delay_s": 0.2})
    await rig.cmd("tag", uid=tag)
    start = await rig.bo.wait_for("StartTransaction", rig.identity, timeout=5)
    await rig.wait_status("Charging")
    return int(start.response["transactionId"])  # type: ignore[index]


async def offered(rig: Rig, amps: float, timeout: float = 8.0) -> None:
    await until(lambda: abs(rig.conn()["offered_a"] - amps) < 0.05, timeout, f"{amps} A offered")


async def test_tc058_txprofile_without_transaction_and_validation(rig: Rig) -> None:
    # TC_058: a TxProfile needs a running transaction on its connector
    assert await set_profile(rig, 1, profile(1, "TxProfile", 0, [(0, 10)])) == "Rejected"
    # ChargePointMaxProfile only on connector 0; stack level and periods within the keys
    assert await set_profile(rig, 1, profile(2, "ChargePointMaxProfile", 0, [(0, 10)])) == "Rejected"
    assert await set_profile(rig, 0, profile(3, "TxDefaultProfile", 6, [(0, 10)])) == "Rejected"
    too_many = [(i * 60, 10.0) for i in range(11)]
    assert await set_profile(rig, 0, profile(4, "TxDefaultProfile", 0, too_many)) == "Rejected"
    assert await set_profile(rig, 0, profile(5, "TxDefaultProfile", 0, [(0, 10)])) == "Accepted"
    # nothing installed for a missing connector
    assert await set_profile(rig, 7, profile(6, "TxDefaultProfile", 0, [(0, 10)])) == "Rejected"


async def test_tc056_tc057_tc067_profiles_while_charging(rig: Rig) -> None:
    tid = await charging(rig)
    await offered(rig, 32.0)
    # TC_056: a TxDefaultProfile for all connectors lowers the PWM offer at once
    assert await set_profile(rig, 0, profile(10, "TxDefaultProfile", 0, [(0, 16)])) == "Accepted"
    await offered(rig, 16.0, 3)
    assert rig.conn()["pwm_duty"] == duty_for_current(16)
    # TC_057: a TxProfile for the running transaction overrides it
    tx_profile = profile(11, "TxProfile", 0, [(0, 8)])
    tx_profile["transactionId"] = tid
    assert await set_profile(rig, 1, tx_profile) == "Accepted"
    await offered(rig, 8.0, 3)
    await rig.wait_status("Charging")
    # TC_067: clearing the TxProfile falls back to the TxDefaultProfile (a raise follows within 5 s)
    res = await rig.bo.call(rig.identity, call.ClearChargingProfile(id=11))
    assert res.status == "Accepted"
    await offered(rig, 16.0, 8)
    res = await rig.bo.call(rig.identity, call.ClearChargingProfile(id=11))
    assert res.status == "Unknown"
    res = await rig.bo.call(rig.identity, call.ClearChargingProfile(charging_profile_purpose="TxDefaultProfile"))
    assert res.status == "Accepted"
    assert rig.station.smart.profiles == []


async def test_period_boundary_reallocates_and_txprofile_ends_with_the_transaction(rig: Rig) -> None:
    tid = await charging(rig)
    p = profile(20, "TxProfile", 0, [(0, 12), (3, 6)], kind="Relative")
    p["transactionId"] = tid
    started = rig.station.smart.now()
    assert await set_profile(rig, 1, p) == "Accepted"
    await offered(rig, 12.0, 3)
    # Relative to the transaction start: the 6 A period begins 3 s after it, the station wakes up for it
    await offered(rig, 6.0, 6)
    assert rig.station.smart.now() - started < 8
    await rig.cmd("tag", uid="CARD1")
    await rig.bo.wait_for("StopTransaction", rig.identity, timeout=5)
    await until(lambda: rig.station.smart.profiles == [], 3, "the TxProfile to go with its transaction")


async def test_tc066_composite_schedule_and_tc072_stacking(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    assert await set_profile(rig, 0, profile(30, "TxDefaultProfile", 0, [(0, 16), (1200, 20)])) == "Accepted"
    assert await set_profile(rig, 0, profile(31, "TxDefaultProfile", 1, [(0, 10)], duration=600)) == "Accepted"
    assert await set_profile(rig, 0, profile(32, "ChargePointMaxProfile", 0, [(0, 18)])) == "Accepted"
    res = await bo.call(cp, call.GetCompositeSchedule(connector_id=1, duration=1800, charging_rate_unit="A"))
    assert res.status == "Accepted" and res.connector_id == 1
    periods = [(p["start_period"], p["limit"]) for p in res.charging_schedule["charging_schedule_period"]]
    # TC_072: level 1 (10 A) for its 600 s, then level 0 (16 A, then 20 A capped by ChargePointMax 18 A)
    assert periods[0] == (0, 10.0)
    assert [lim for _, lim in periods] == [10.0, 16.0, 18.0]
    assert 598 <= periods[1][0] <= 600 and 1198 <= periods[2][0] <= 1200
    # the same in W (230 V x 3 phases)
    res = await bo.call(cp, call.GetCompositeSchedule(connector_id=1, duration=300, charging_rate_unit="W"))
    assert [p["limit"] for p in res.charging_schedule["charging_schedule_period"]] == [6900.0]
    # connector 0: the station (ChargePointMax)
    res = await bo.call(cp, call.GetCompositeSchedule(connector_id=0, duration=300))
    assert [p["limit"] for p in res.charging_schedule["charging_schedule_period"]] == [18.0]
    res = await bo.call(cp, call.GetCompositeSchedule(connector_id=5, duration=300))
    assert res.status == "Rejected"
    # a profile with the same purpose and stack level replaces the old one
    assert await set_profile(rig, 0, profile(33, "TxDefaultProfile", 1, [(0, 6)], duration=600)) == "Accepted"
    assert {p.id for p in rig.station.smart.profiles} == {30, 32, 33}


async def test_profiles_survive_a_restart(rig: Rig, tmp_path: Path) -> None:
    assert await set_profile(rig, 0, profile(40, "TxDefaultProfile", 0, [(0, 13)])) == "Accepted"
    res = await rig.bo.call(rig.identity, call.Reset(type="Soft"))
    assert res.status == "Accepted"
    await restart_after_reset(rig, tmp_path)
    assert [p.id for p in rig.station.smart.profiles] == [40]
    res = await rig.bo.call(rig.identity, call.GetCompositeSchedule(connector_id=1, duration=60))
    assert [p["limit"] for p in res.charging_schedule["charging_schedule_period"]] == [13.0]


async def test_remote_start_with_a_tx_profile(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    await rig.cmd("plug", connector=1, ev={"max_current": 32, "phases": 3, "response_delay_s": 0.2})
    wrong = profile(50, "TxDefaultProfile", 0, [(0, 10)])
    res = await bo.call(cp, call.RemoteStartTransaction(id_tag="R1", connector_id=1, charging_profile=wrong))
    assert res.status == "Rejected"  # only a TxProfile may come with it
    res = await bo.call(
        cp, call.RemoteStartTransaction(id_tag="R1", connector_id=1,
                                        charging_profile=profile(51, "TxProfile", 0, [(0, 10)], kind="Relative")),
    )
    assert res.status == "Accepted"
    await bo.wait_for("StartTransaction", cp, timeout=5)
    await offered(rig, 10.0, 5)
    assert [p.id for p in rig.station.smart.profiles] == [51]
