"""LocalAuthListManagement and offline/local authorisation against the real back office: TC_008 (local
list), TC_007 (cached id with LocalPreAuthorize), TC_037/038/039 (offline start, stop, invalid id), master
key mode, Plug&Charge and AuthorizeRemoteTxRequests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from tests.conftest import Rig, until
from tests.ocpp.profiles.conftest import calls, go_offline, go_online, restart_after_reset


def entry(tag: str, status: str | None = "Accepted") -> dict[str, Any]:
    return {"id_tag": tag} if status is None else {"id_tag": tag, "id_tag_info": {"status": status}}


async def send_list(rig: Rig, version: int, kind: str, entries: list[dict[str, Any]]) -> str:
    res = await rig.bo.call(
        rig.identity, call.SendLocalList(list_version=version, update_type=kind, local_authorization_list=entries)
    )
    return str(res.status)


async def list_version(rig: Rig) -> int:
    return int((await rig.bo.call(rig.identity, call.GetLocalListVersion())).list_version)


async def test_tc008_local_list_versions_and_offline_start(rig: Rig, tmp_path: Path) -> None:
    bo, cp = rig.bo, rig.identity
    assert await list_version(rig) == 0
    assert await send_list(rig, 1, "Full", [entry("LISTED"), entry("BLOCKED", "Blocked")]) == "Accepted"
    assert await list_version(rig) == 1
    assert await send_list(rig, 1, "Differential", [entry("NEW")]) == "VersionMismatch"
    assert await send_list(rig, 2, "Full", [entry("X", None)]) == "Failed"
    assert await send_list(rig, 3, "Differential", [entry("NEW"), entry("GONE", None)]) == "Accepted"
    assert await list_version(rig) == 3
    assert set(rig.station.auth.store.local_list()) == {"LISTED", "BLOCKED", "NEW"}

    # persisted in SQLite under the state directory
    await bo.call(cp, call.Reset(type="Soft"))
    await restart_after_reset(rig, tmp_path)
    assert await list_version(rig) == 3

    # offline: the listed id starts, the blocked one and an unknown one (AllowOfflineTxForUnknownId off) do not
    rig.station.config.set("AllowOfflineTxForUnknownId", "false")
    await go_offline(rig)
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="BLOCKED")
    await until(lambda: "card BLOCKED: Blocked" in rig.trace, 3, "the blocked card refused")
    await rig.cmd("tag", uid="STRANGER")
    await until(lambda: "card STRANGER: Invalid" in rig.trace, 3, "the unknown card refused")
    await rig.cmd("tag", uid="LISTED")
    await rig.wait_status("Charging")
    after = len(bo.records)
    await go_online(rig)
    start = await bo.wait_for("StartTransaction", cp, after=after, timeout=10)
    assert start.payload["idTag"] == "LISTED"
    assert not [r for r in calls(rig, "Authorize") if r.payload["idTag"] in ("LISTED", "BLOCKED", "STRANGER")]
    # an empty Full list is version 0 again
    assert await send_list(rig, 4, "Full", []) == "Accepted"
    assert await list_version(rig) == 0


async def test_tc007_cached_id_with_local_pre_authorize(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(config={"LocalPreAuthorize": "true"})
    bo, cp = rig.bo, rig.identity
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="CACHED")
    await bo.wait_for("Authorize", cp, timeout=5)
    await bo.wait_for("StartTransaction", cp, timeout=5)
    await rig.cmd("tag", uid="CACHED")
    await bo.wait_for("StopTransaction", cp, timeout=5)
    await rig.cmd("unplug", connector=1)
    await rig.wait_status("Available")
    # the second time the cache authorises it at once: StartTransaction without Authorize
    after = len(bo.records)
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="CACHED")
    start = await bo.wait_for("StartTransaction", cp, after=after, timeout=5)
    assert start.payload["idTag"] == "CACHED"
    assert not calls(rig, "Authorize", after)
    await rig.cmd("tag", uid="CACHED")
    await bo.wait_for("StopTransaction", cp, after=after, timeout=5)
    await until(lambda: rig.station.journal.pending_count() == 0, 3, "StopTransaction.conf handled")
    # ClearCache: asked again
    assert (await bo.call(cp, call.ClearCache())).status == "Accepted"
    after = len(bo.records)
    await rig.cmd("tag", uid="CACHED")
    await bo.wait_for("Authorize", cp, after=after, timeout=5)


async def test_tc037_tc038_offline_start_and_stop(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(config={"AllowOfflineTxForUnknownId": "true"})
    bo, cp = rig.bo, rig.identity
    # TC_038: started online, stopped offline
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="ONLINE")
    first = await bo.wait_for("StartTransaction", cp, timeout=5)
    await rig.wait_status("Charging")
    await go_offline(rig)
    await rig.cmd("tag", uid="ONLINE")
    await rig.wait_status("Finishing")
    # TC_037: started offline (unknown id allowed), stopped offline
    await rig.cmd("unplug", connector=1)
    await rig.wait_status("Available")
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="OFFLINE")
    await rig.wait_status("Charging")
    await until(lambda: rig.conn()["energy_wh"] > 1, 5, "energy")
    await rig.cmd("tag", uid="OFFLINE")
    await rig.wait_status("Finishing")
    after = len(bo.records)
    await go_online(rig)
    await until(lambda: len(calls(rig, "StopTransaction", after)) == 2, 10, "both stops delivered")
    msgs = [(r.action, r.payload.get("idTag")) for r in bo.records[after:] if r.direction == "in"
            and r.action in ("StartTransaction", "StopTransaction")]
    assert msgs == [("StopTransaction", "ONLINE"), ("StartTransaction", "OFFLINE"), ("StopTransaction", "OFFLINE")]
    stops = calls(rig, "StopTransaction", after)
    assert stops[0].payload["transactionId"] == first.response["transactionId"]  # type: ignore[index]
    second = calls(rig, "StartTransaction", after)[0]
    assert stops[1].payload["transactionId"] == second.response["transactionId"]  # type: ignore[index]


async def test_tc039_offline_id_found_invalid_is_deauthorized(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(
        config={"AllowOfflineTxForUnknownId": "true", "StopTransactionOnInvalidId": "true", "MaxEnergyOnInvalidId": "0"}
    )
    bo, cp = rig.bo, rig.identity
    bo.id_tag_status["FORGED"] = "Invalid"
    await go_offline(rig)
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="FORGED")
    await rig.wait_status("Charging")
    after = len(bo.records)
    await go_online(rig)
    start = await bo.wait_for("StartTransaction", cp, after=after, timeout=10)
    assert start.response["idTagInfo"]["status"] == "Invalid"  # type: ignore[index]
    stop = await bo.wait_for("StopTransaction", cp, after=after, timeout=5)
    assert stop.payload["reason"] == "DeAuthorized"
    # the answer went into the cache: offline, the same card is now refused
    await go_offline(rig)
    await rig.wait_status("Finishing")
    await rig.cmd("tag", uid="FORGED")
    await until(lambda: "card FORGED: Invalid" in rig.trace, 3, "the invalid card refused from the cache")


async def test_invalid_id_without_stop_suspends_after_max_energy(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(config={"StopTransactionOnInvalidId": "false", "MaxEnergyOnInvalidId": "5"})
    rig.bo.id_tag_status["LATE"] = "Blocked"
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    rig.station.config.set("LocalPreAuthorize", "true")
    rig.station.auth.store.cache_put("LATE", _info("Accepted"))  # known as Accepted, the back office says Blocked
    await rig.cmd("tag", uid="LATE")
    await rig.bo.wait_for("StartTransaction", rig.identity, timeout=5)
    await until(lambda: rig.station.sessions.sessions[1].suspended, 10, "energy stopped after 5 Wh")
    assert rig.conn()["energy_wh"] >= 5
    await rig.wait_status("SuspendedEVSE")
    assert rig.station.sessions.sessions[1].in_transaction  # the transaction is kept


async def test_master_key_mode_adds_and_removes_tags(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(config={"MasterKey-isEnabled": "true", "MasterKey-Id": "MASTER"})
    await go_offline(rig)
    rig.station.config.set("AllowOfflineTxForUnknownId", "false")
    await rig.cmd("tag", uid="MASTER")
    await until(lambda: "master key mode: present a card to add or remove it" in rig.trace, 3, "master mode")
    await rig.cmd("tag", uid="FAMILY")
    await until(lambda: "master key mode: card FAMILY added" in rig.trace, 3, "the card added")
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="FAMILY")
    await rig.wait_status("Charging")
    await rig.cmd("tag", uid="FAMILY")
    await rig.wait_status("Finishing")
    await rig.cmd("tag", uid="MASTER")
    await until(lambda: rig.trace.count("master key mode: present a card to add or remove it") == 2, 3, "mode")
    await rig.cmd("tag", uid="FAMILY")
    await until(lambda: "master key mode: card FAMILY removed" in rig.trace, 3, "the card removed")
    assert rig.station.auth.store.master_tags() == set()


async def test_plug_and_charge_starts_with_the_identifier(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(config={"AuthorizationMethod": "Plug&Charge", "PlugAndChargeIdentifier": "PNC-1"})
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    start = await rig.bo.wait_for("StartTransaction", rig.identity, timeout=5)
    assert start.payload["idTag"] == "PNC-1"
    await rig.wait_status("Charging")


async def test_authorize_remote_tx_requests(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(config={"AuthorizeRemoteTxRequests": "true"})
    rig.bo.id_tag_status["NOPE"] = "Blocked"
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    # the request is accepted, then the id is authorised like a card: a blocked one starts nothing
    res = await rig.bo.call(rig.identity, call.RemoteStartTransaction(id_tag="NOPE", connector_id=1))
    assert res.status == "Accepted"
    auth = await rig.bo.wait_for("Authorize", rig.identity, timeout=5)
    assert auth.payload["idTag"] == "NOPE"
    await until(lambda: "remote start for NOPE: Blocked" in rig.trace, 3, "the refusal")
    assert not calls(rig, "StartTransaction")
    res = await rig.bo.call(rig.identity, call.RemoteStartTransaction(id_tag="YES", connector_id=1))
    assert res.status == "Accepted"
    start = await rig.bo.wait_for("StartTransaction", rig.identity, timeout=5)
    assert start.payload["idTag"] == "YES"
    assert calls(rig, "Authorize")[-1].payload["idTag"] == "YES"


def _info(status: str) -> Any:
    from controller.auth.decision import IdTagInfo

    return IdTagInfo(status)
