"""Boot under a hostile back office: CALLERRORs, invalid replies and no reply to BootNotification (item 1),
odd intervals (item 4), Rejected/Pending behaviour (items 6, 7)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.clock import FakeClock
from tests.hostile.office import HostileOffice, Incoming, callerror, now_iso, result
from tests.hostile.support import advance_until, station_at

BAD_BOOT_REPLIES = {
    "callerror": lambda uid: [callerror(uid, "InternalError")],
    "odd-callerror": lambda uid: [callerror(uid, "WeirdVendorCode")],
    "schema-invalid": lambda uid: [result(uid, {"status": "Maybe", "interval": "x"})],
    "missing-fields": lambda uid: [result(uid, {})],
    "not-json-then-nothing": lambda uid: ["{{{"],
}


@pytest.mark.parametrize("bad", list(BAD_BOOT_REPLIES))
async def test_bad_boot_reply_retries_on_the_same_connection(tmp_path: Path, office: HostileOffice, bad: str) -> None:
    """Item 1: whatever the first BootNotification gets back, the next one follows within 60 s on the same
    connection, and the link comes online."""

    def answer(inc: Incoming) -> list[str] | None:
        if inc.action == "BootNotification" and inc.nth == 0:
            return BAD_BOOT_REPLIES[bad](inc.uid)
        return None

    office.answer = answer
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, online=False,
                          config={"OCPP-reply timeout": "30"}) as rig:
        await office.wait_call("BootNotification")
        limit = 30 + 61 if bad.startswith("not-json") else 61  # no usable reply: the reply timeout first
        took = await advance_until(clock, office, lambda: rig.station.link.online, limit, "second boot accepted")
        assert took <= limit
        boots = office.calls("BootNotification")
        assert len(boots) == 2 and {b.conn for b in boots} == {1}
        assert office.connections == 1
        office.assert_one_call_outstanding()


@pytest.mark.parametrize(("given", "taken"), [(5, 30), (45, 45), (10**9, 86400)])
async def test_accepted_interval_is_applied_clamped(tmp_path: Path, office: HostileOffice, given: int, taken: int) -> None:
    """Item 4: the interval of an Accepted boot (and of a triggered one) sets HeartbeatInterval, clamped."""
    office.answer = lambda inc: [result(inc.uid, {"status": "Accepted", "interval": given,
                                                  "currentTime": now_iso()})] \
        if inc.action == "BootNotification" and inc.nth == 0 else None
    office.heartbeat_interval = given
    async with station_at(tmp_path, office) as rig:
        assert rig.station.config.get("HeartbeatInterval") == str(taken)
        office.heartbeat_interval = 77
        assert (await office.result("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
        await office.wait(lambda: rig.station.config.get("HeartbeatInterval") == "77", what="triggered boot's interval")


@pytest.mark.parametrize(("given", "wait"), [(1, 10), (0, 60), (10**9, 3600)])
async def test_pending_interval_is_applied_clamped(tmp_path: Path, office: HostileOffice, given: int, wait: int) -> None:
    """Item 4: Pending with an odd interval: the next BootNotification after the clamped interval."""
    office.answer = lambda inc: [result(inc.uid, {"status": "Pending", "interval": given,
                                                  "currentTime": now_iso()})] \
        if inc.action == "BootNotification" and inc.nth == 0 else None
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, online=False) as rig:
        await office.wait_call("BootNotification")
        await office.wait(lambda: rig.station.link.registration == "Pending", what="Pending")
        await clock.advance(wait - 0.5)
        await asyncio.sleep(0.2)
        assert len(office.calls("BootNotification")) == 1
        await advance_until(clock, office, lambda: rig.station.link.online, 1, "the second boot")
        office.assert_one_call_outstanding()
