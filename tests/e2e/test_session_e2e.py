"""A whole charging session through the real control process and the real back office on loopback."""

from __future__ import annotations

from tests.conftest import Rig, until


async def test_full_session_card_start_and_stop(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    await rig.cmd("plug", connector=1, ev={"max_current": 16, "phases": 3})
    await rig.wait_status("Preparing")
    assert rig.conn()["cp_state"] == "B"
    assert rig.conn()["contactor"] == "open"

    await rig.cmd("tag", uid="CARD1")
    auth = await bo.wait_for("Authorize", cp, timeout=5)
    assert auth.payload == {"idTag": "CARD1"}
    start = await bo.wait_for("StartTransaction", cp, timeout=5)
    assert start.payload["connectorId"] == 1 and start.payload["idTag"] == "CARD1"
    await rig.wait_status("Charging")
    await until(lambda: rig.conn()["currents"][0] > 15.5, 5, "the car to draw")
    c = rig.conn()
    assert c["cp_state"] == "C" and c["contactor"] == "closed"
    assert c["pwm_duty"] == 53.33  # 32 A offered: the station and socket maximum
    await until(lambda: rig.conn()["energy_wh"] > 5, 10, "energy")

    await rig.cmd("tag", uid="CARD1")
    stop = await bo.wait_for("StopTransaction", cp, timeout=5)
    assert stop.payload["reason"] == "Local"
    assert stop.payload["transactionId"] == start.response["transactionId"]  # type: ignore[index]
    assert stop.payload["meterStop"] > start.payload["meterStart"]
    await rig.wait_status("Finishing")
    await until(lambda: rig.conn()["contactor"] == "open", 8, "contactor open after PWM off")
    await rig.cmd("unplug", connector=1)
    await rig.wait_status("Available")
    await bo.wait_for(
        "StatusNotification", cp, lambda p: p["status"] == "Available", after=bo.records.index(stop), timeout=5
    )
    statuses = [r.payload["status"] for r in bo.records if r.action == "StatusNotification" and r.payload["connectorId"] == 1]
    assert statuses[0] == "Available" and statuses[-1] == "Available"
    assert statuses.index("Preparing") < statuses.index("Charging") < statuses.index("Finishing")


async def test_remote_start_and_remote_stop(rig: Rig) -> None:
    from ocpp.v16 import call

    bo, cp = rig.bo, rig.identity
    await rig.cmd("plug", connector=1)
    await rig.wait_status("Preparing")
    res = await bo.call(cp, call.RemoteStartTransaction(id_tag="REMOTE1", connector_id=1))
    assert res.status == "Accepted"
    start = await bo.wait_for("StartTransaction", cp, timeout=5)
    await rig.wait_status("Charging")
    tid = start.response["transactionId"]  # type: ignore[index]
    res = await bo.call(cp, call.RemoteStopTransaction(transaction_id=tid + 100))
    assert res.status == "Rejected"
    res = await bo.call(cp, call.RemoteStopTransaction(transaction_id=tid))
    assert res.status == "Accepted"
    stop = await bo.wait_for("StopTransaction", cp, timeout=5)
    assert stop.payload["reason"] == "Remote" and stop.payload["transactionId"] == tid


async def test_meter_values_follow_the_sample_interval(rig: Rig) -> None:
    from ocpp.v16 import call

    bo, cp = rig.bo, rig.identity
    res = await bo.call(cp, call.ChangeConfiguration(key="MeterValueSampleInterval", value="2"))
    assert res.status == "Accepted"
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid="CARD2")
    start = await bo.wait_for("StartTransaction", cp, timeout=5)
    first = await bo.wait_for("MeterValues", cp, timeout=5)
    second = await bo.wait_for("MeterValues", cp, timeout=5, after=bo.records.index(first) + 1)
    assert first.payload["transactionId"] == start.response["transactionId"]  # type: ignore[index]
    v1 = float(first.payload["meterValue"][0]["sampledValue"][0]["value"])
    v2 = float(second.payload["meterValue"][0]["sampledValue"][0]["value"])
    assert 1.5 < second.at - first.at < 3.5
    assert v2 >= v1


async def test_unknown_card_is_refused(rig: Rig) -> None:
    rig.bo.id_tag_status["BLOCKED"] = "Blocked"
    await rig.cmd("plug", connector=1)
    await rig.wait_status("Preparing")
    await rig.cmd("tag", uid="BLOCKED")
    await rig.bo.wait_for("Authorize", rig.identity, timeout=5)
    await until(lambda: "card BLOCKED: Blocked" in rig.trace, 3, "refusal")
    assert not any(r.action == "StartTransaction" for r in rig.bo.records)
    assert rig.conn()["contactor"] == "open"
