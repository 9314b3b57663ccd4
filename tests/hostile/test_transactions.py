"""Transaction messages under a hostile back office: a CALLERROR with a code OCPP does not define is one
failed attempt under TransactionMessageAttempts/RetryInterval (item 9); a socket dropped while a transaction
message waits for its answer: the message is sent again after the reconnect with identical content."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from controller.clock import FakeClock
from tests.hostile.office import NO_REPLY, HostileOffice, Incoming, callerror
from tests.hostile.support import advance_until, station_at


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("code", ["WeirdVendorCode", "InternalError"])
async def test_any_callerror_is_one_failed_attempt(tmp_path: Path, office: HostileOffice, code: str) -> None:
    office.answer = lambda inc: [callerror(inc.uid, code)] if inc.action == "StartTransaction" and inc.nth < 2 else None
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, config={
        "TransactionMessageAttempts": "3", "TransactionMessageRetryInterval": "10",
    }) as rig:
        assert (await office.result("RemoteStartTransaction", {"idTag": "ERR", "connectorId": 1}))["status"] == "Accepted"
        await rig.cmd("plug", connector=1)
        await advance_until(clock, office, lambda: bool(office.calls("StartTransaction")), 10, "StartTransaction", 0.5)
        first = office.calls("StartTransaction")[0]
        await clock.advance(9)
        await asyncio.sleep(0.3)
        assert len(office.calls("StartTransaction")) == 1  # not before RetryInterval x 1
        await advance_until(clock, office, lambda: len(office.calls("StartTransaction")) >= 2, 3, "second try")
        await clock.advance(19)
        await asyncio.sleep(0.3)
        assert len(office.calls("StartTransaction")) == 2  # not before RetryInterval x 2
        await advance_until(clock, office, lambda: len(office.calls("StartTransaction")) >= 3, 3, "third try")
        await office.wait(lambda: rig.station.sender.sent >= 1, what="confirmed on the third try")
        starts = office.calls("StartTransaction")
        assert len(starts) == 3 and all(same(s.payload, first.payload) for s in starts)
        assert (await office.result("RemoteStopTransaction", {"transactionId": 100}))["status"] == "Accepted"
        stop = await office.wait_call("StopTransaction")
        assert stop.payload["transactionId"] == 100
        office.assert_one_call_outstanding()


async def test_odd_callerror_with_one_attempt_drops_and_does_not_block(tmp_path: Path, office: HostileOffice) -> None:
    office.answer = lambda inc: [callerror(inc.uid, "Nope")] if inc.action == "MeterValues" else None
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, config={
        "TransactionMessageAttempts": "1", "MeterValueSampleInterval": "60",
    }) as rig:
        assert (await office.result("RemoteStartTransaction", {"idTag": "MV", "connectorId": 1}))["status"] == "Accepted"
        await rig.cmd("plug", connector=1)
        await advance_until(clock, office, lambda: bool(office.calls("StartTransaction")), 10, "StartTransaction", 0.5)
        await advance_until(clock, office, lambda: len(office.calls("MeterValues")) >= 1, 70, "a sampled MeterValues")
        await office.wait(lambda: rig.station.sender.dropped >= 1, what="dropped after its one attempt")
        assert (await office.result("RemoteStopTransaction", {"transactionId": 100}))["status"] == "Accepted"
        await advance_until(clock, office, lambda: bool(office.calls("StopTransaction")), 5, "StopTransaction")
        office.assert_one_call_outstanding()


@pytest.mark.parametrize("victim", ["StartTransaction", "StopTransaction"])
async def test_socket_drop_while_a_transaction_message_waits(tmp_path: Path, office: HostileOffice, victim: str) -> None:
    def answer(inc: Incoming) -> list[str] | None:
        if inc.action == victim and inc.nth == 0:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(office.drop()))
            return NO_REPLY
        return None

    office.answer = answer
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock) as rig:
        assert (await office.result("RemoteStartTransaction", {"idTag": "DROP", "connectorId": 1}))["status"] == "Accepted"
        await rig.cmd("plug", connector=1)
        await advance_until(clock, office, lambda: bool(office.calls("StartTransaction")), 10, "StartTransaction", 0.5)
        if victim == "StopTransaction":
            await advance_until(clock, office, lambda: rig.station.sender.sent >= 1, 10, "Start confirmed", 0.5)
            assert (await office.result("RemoteStopTransaction", {"transactionId": 100}))["status"] == "Accepted"
        await advance_until(clock, office, lambda: bool(office.calls(victim)), 10, victim, 0.5)
        await advance_until(clock, office, lambda: office.connections >= 2 and len(office.calls(victim)) >= 2, 30,
                            f"{victim} again after the reconnect")
        sent = office.calls(victim)
        assert len(sent) == 2 and same(sent[0].payload, sent[1].payload) and sent[1].conn == 2
        assert len(office.calls("BootNotification")) == 1  # a reconnect, not a reboot
        office.assert_one_call_outstanding()
