"""Frames a hostile back office sends that no well-behaved one would (issue 9): oversized frames, duplicate
message ids and out-of-order replies. Each asserts on the frames: one CALL of the charge point outstanding at a
time, every id the charge point uses unique, and the link back (online, answering) within a bound on the fake
clock."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from controller.clock import FakeClock
from tests.hostile.office import NO_REPLY, HostileOffice, Incoming, result
from tests.hostile.support import advance_until, remote_session, station_at

LINK_LIMIT = 2**20  # the websocket frame limit of the charge point (controller/ocpp/connect.py)
RECOVERY_S = 10.0  # clock seconds a dropped link may take to be back (reconnect backoff starts at 1 s)


def assert_unique_ids(office: HostileOffice) -> None:
    ids = [c.uid for c in office.calls()]
    assert len(ids) == len(set(ids)), f"the charge point reused a message id:\n{office.dump()}"


async def answered_again(office: HostileOffice) -> None:
    """The link answers calls (the station is back in business, not just connected)."""
    res = await office.result("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert res["configurationKey"][0]["key"] == "HeartbeatInterval"


# -- oversized frames ---------------------------------------------------------------------------------------------
async def test_an_oversized_call_costs_the_connection_and_the_link_is_back_within_the_bound(
    tmp_path: Path, office: HostileOffice
) -> None:
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock) as rig:
        link = rig.station.link
        huge = {"vendorId": "hostile", "data": "x" * (LINK_LIMIT + 1024)}
        await office.send_raw(json.dumps([2, "huge-1", "DataTransfer", huge]))
        await office.wait(lambda: office.connections == 1 and not office.connected, what="the oversized frame refused")
        took = await advance_until(clock, office, lambda: office.connected and link.online, RECOVERY_S,
                                   "back after the oversized frame", 0.5)
        assert took <= RECOVERY_S and office.connections == 2
        assert not [f for f in office.frames if f.direction == "in" and "huge-1" in f.raw]  # never answered
        await answered_again(office)
        office.assert_one_call_outstanding()
        assert_unique_ids(office)


async def test_an_oversized_reply_fails_that_call_only_and_the_link_comes_back(tmp_path: Path, office: HostileOffice) -> None:
    pad = "y" * (LINK_LIMIT + 1024)
    office.answer = lambda inc: [result(inc.uid, {"currentTime": "2026-01-01T00:00:00Z", "pad": pad})] \
        if inc.action == "Heartbeat" and inc.nth == 0 else None
    office.heartbeat_interval = 60
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock) as rig:
        link = rig.station.link
        await advance_until(clock, office, lambda: office.connections == 2 and link.online, 60 + RECOVERY_S,
                            "reconnected after the oversized Heartbeat.conf", 2.0)
        await advance_until(clock, office, lambda: len(office.calls("Heartbeat")) >= 2, 60 + RECOVERY_S,
                            "heartbeats go on", 2.0)
        await answered_again(office)
        office.assert_one_call_outstanding()
        assert_unique_ids(office)


async def test_a_large_frame_within_the_limit_is_answered_and_keeps_the_connection(
    tmp_path: Path, office: HostileOffice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "ocpp")  # as `chargepoint run --verbose`: every frame goes through redaction
    async with station_at(tmp_path, office):
        big = {"vendorId": "hostile", "data": "z" * (LINK_LIMIT - 4096)}
        reply = await office.call("DataTransfer", big)
        assert reply[0] == 3 and reply[2]["status"] in ("UnknownVendorId", "Rejected")
        assert office.connections == 1 and office.connected
        await answered_again(office)


async def test_a_large_garbage_frame_and_a_large_callerror_are_traced_and_the_link_answers(
    tmp_path: Path, office: HostileOffice, caplog: pytest.LogCaptureFixture
) -> None:
    """Frames the trace and the log redact in full before cutting them short: 1 MiB of letters (not JSON) and a
    CALLERROR whose description is a URL-like run of letters. Redacting them was quadratic (the main process
    stalled for minutes, and the control loop then stops charging for a silent main process)."""
    caplog.set_level(logging.INFO, "ocpp")
    async with station_at(tmp_path, office):
        await office.send_raw("ws" + "z" * (LINK_LIMIT - 4096))
        await office.send_raw(json.dumps([4, "no-such-call", "GenericError", "http" + "a" * (LINK_LIMIT - 8192), {}]))
        await answered_again(office)
        assert office.connections == 1


# -- duplicate message ids ----------------------------------------------------------------------------------------
async def test_two_calls_with_one_id_each_get_one_answer(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office):
        frame = json.dumps([2, "dup-1", "GetConfiguration", {"key": ["HeartbeatInterval"]}])
        await office.send_raw(frame)
        await office.send_raw(frame)

        def answers() -> list[Any]:
            return [f.msg for f in office.frames if f.direction == "in" and f.msg[0] in (3, 4) and f.msg[1] == "dup-1"]

        await office.wait(lambda: len(answers()) >= 2, what="both answered")
        await asyncio.sleep(0.2)
        assert len(answers()) == 2 and all(a[0] == 3 for a in answers())
        assert office.connections == 1
        await answered_again(office)


async def test_a_second_answer_to_one_call_is_ignored(tmp_path: Path, office: HostileOffice) -> None:
    """A StartTransaction answered twice with different transactionIds: the first answer counts, the second
    changes nothing (not the transaction, not the next call's answer)."""

    def answer(inc: Incoming) -> list[str] | None:
        if inc.action == "StartTransaction":
            return [result(inc.uid, {"transactionId": 501, "idTagInfo": {"status": "Accepted"}}),
                    result(inc.uid, {"transactionId": 999, "idTagInfo": {"status": "Blocked"}})]
        return None

    office.answer = answer
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock) as rig:
        await remote_session(rig, office, "DUP")
        await advance_until(clock, office, lambda: rig.station.sender.sent >= 1, 20, "StartTransaction confirmed", 0.5)
        await advance_until(clock, office, lambda: rig.conn(1)["ocpp_status"] == "Charging", 20, "charging", 0.5)
        assert rig.conn(1)["transaction_id"] == 501
        assert (await office.result("RemoteStopTransaction", {"transactionId": 501}))["status"] == "Accepted"
        stop = await office.wait_call("StopTransaction")
        assert stop.payload["transactionId"] == 501 and len(office.calls("StartTransaction")) == 1
        office.assert_one_call_outstanding()
        assert_unique_ids(office)


# -- out-of-order replies -----------------------------------------------------------------------------------------
async def test_a_late_reply_to_an_abandoned_call_is_not_taken_for_the_next_one(tmp_path: Path, office: HostileOffice) -> None:
    """The first StartTransaction gets no answer in time; the charge point tries again (same content, a new id).
    The office then answers the abandoned attempt first (transactionId 111) and the current one second (222):
    the stale answer is ignored, the transaction is 222."""
    held: list[Incoming] = []

    def answer(inc: Incoming) -> list[str] | None:
        if inc.action != "StartTransaction":
            return None
        if inc.nth == 0:
            held.append(inc)
            return NO_REPLY
        return [result(held[0].uid, {"transactionId": 111, "idTagInfo": {"status": "Accepted"}}),
                result(inc.uid, {"transactionId": 222, "idTagInfo": {"status": "Accepted"}})]

    office.answer = answer
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, config={
        "OCPP-reply timeout": "30", "TransactionMessageAttempts": "3", "TransactionMessageRetryInterval": "10",
    }) as rig:
        await remote_session(rig, office, "OOO")
        await advance_until(clock, office, lambda: len(office.calls("StartTransaction")) >= 2, 60,
                            "StartTransaction tried again after the reply timeout", 1.0)
        first, second = office.calls("StartTransaction")[:2]
        assert first.uid != second.uid and first.payload == second.payload
        await advance_until(clock, office, lambda: rig.station.sender.sent >= 1, 20, "confirmed", 0.5)
        assert rig.station.link.online and office.connections == 1
        assert (await office.result("RemoteStopTransaction", {"transactionId": 222}))["status"] == "Accepted"
        stop = await office.wait_call("StopTransaction")
        assert stop.payload["transactionId"] == 222
        office.assert_one_call_outstanding()
        assert_unique_ids(office)


async def test_replies_in_reverse_order_to_calls_the_office_holds(tmp_path: Path, office: HostileOffice) -> None:
    """The office holds the answer to a Heartbeat and, before giving it, sends an answer to a call the charge
    point never made: the stray one is ignored, the Heartbeat is answered, nothing else is outstanding."""
    office.answer = lambda inc: NO_REPLY if inc.action == "Heartbeat" else None
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, config={"OCPP-reply timeout": "30"}) as rig:
        pending = asyncio.ensure_future(rig.station.link.call(_heartbeat()))
        hb = await office.wait_call("Heartbeat")
        await office.send_raw(result("never-sent-by-the-cp", {"currentTime": "2026-01-01T00:00:00Z"}))
        await office.send_raw(json.dumps([4, "also-never-sent", "InternalError", "stray", {}]))
        await asyncio.sleep(0.1)
        assert not pending.done()  # neither stray answer was taken for the Heartbeat
        await office.send_raw(result(hb.uid, {"currentTime": "2026-01-01T00:00:00Z"}))
        await asyncio.wait_for(pending, 5)
        office.abandoned.discard(hb.uid)  # it was answered after all
        assert office.connections == 1 and rig.station.link.online
        await answered_again(office)
        office.assert_one_call_outstanding()
        assert_unique_ids(office)


def _heartbeat() -> Any:
    from ocpp.v16 import call

    return call.Heartbeat()
