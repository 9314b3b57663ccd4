"""Item 3: the reply timer starts when the frame is sent, not when the caller queues behind an unanswered
CALL; a StatusNotification that got no answer is not "delivered"."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ocpp.v16 import call

from controller.clock import FakeClock
from tests.hostile.office import NO_REPLY, HostileOffice, Incoming, result
from tests.hostile.support import advance_until, station_at


async def test_transaction_message_behind_an_unanswered_heartbeat_gets_its_full_reply_time(tmp_path: Path) -> None:
    office = HostileOffice()
    office.answer = lambda inc: NO_REPLY if inc.action in ("Heartbeat", "StartTransaction") and inc.nth == 0 else None
    await office.start()
    clock = FakeClock()
    try:
        async with station_at(tmp_path, office, clock=clock, config={
            "OCPP-reply timeout": "30", "TransactionMessageAttempts": "1",
        }) as rig:
            station = rig.station
            await office.wait(lambda: len(office.calls("StatusNotification")) >= 2, what="boot statuses")
            hb = asyncio.ensure_future(station.link.call(call.Heartbeat()))
            await office.wait_call("Heartbeat")
            assert (await office.result("RemoteStartTransaction", {"idTag": "LATE", "connectorId": 1}))["status"] \
                == "Accepted"
            await rig.cmd("plug", connector=1)
            await advance_until(clock, office, lambda: station.journal.next_pending() is not None, 20,
                                "StartTransaction journalled")
            assert not office.calls("StartTransaction")  # queued behind the Heartbeat
            await advance_until(clock, office, lambda: bool(office.calls("StartTransaction")), 35,
                                "StartTransaction sent after the Heartbeat timed out")
            assert hb.done()
            start = office.calls("StartTransaction")[0]
            await clock.advance(20)  # late, but within its own 30 s
            await asyncio.sleep(0.1)
            await office.send_raw(result(start.uid, {"transactionId": 4242, "idTagInfo": {"status": "Accepted"}}))
            await office.wait(lambda: station.sender.sent >= 1, what="StartTransaction confirmed")
            assert station.sender.dropped == 0 and len(office.calls("StartTransaction")) == 1
            assert (await office.result("RemoteStopTransaction", {"transactionId": 4242}))["status"] == "Accepted"
            stop = await office.wait_call("StopTransaction")
            assert stop.payload["transactionId"] == 4242
            office.assert_one_call_outstanding()
    finally:
        await office.stop()


async def test_unanswered_status_notification_is_sent_again(tmp_path: Path) -> None:
    def answer(inc: Incoming) -> list[str] | None:
        return NO_REPLY if inc.action == "StatusNotification" and inc.nth == 0 else None

    office = HostileOffice(answer=answer)
    await office.start()
    clock = FakeClock()
    try:
        async with station_at(tmp_path, office, clock=clock, config={"OCPP-reply timeout": "30"}):
            first = await office.wait_call("StatusNotification")
            await advance_until(clock, office, lambda: sum(
                1 for c in office.calls("StatusNotification") if c.payload["connectorId"] == first.payload["connectorId"]
            ) >= 2, 40, "the unanswered StatusNotification again")
            again = [c for c in office.calls("StatusNotification") if c.payload["connectorId"] == first.payload["connectorId"]]
            assert json.dumps(again[1].payload, sort_keys=True) == json.dumps(first.payload, sort_keys=True)
            office.assert_one_call_outstanding()
    finally:
        await office.stop()
