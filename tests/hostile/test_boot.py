"""Boot under a hostile back office: CALLERRORs, invalid replies and no reply to BootNotification (item 1),
odd intervals (item 4), Rejected/Pending behaviour (items 6, 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.clock import FakeClock
from tests.hostile.office import HostileOffice, Incoming, callerror, result
from tests.hostile.support import advance_until, station_at


@pytest.fixture
async def office() -> HostileOffice:
    o = HostileOffice()
    await o.start()
    yield o  # type: ignore[misc]
    await o.stop()


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
