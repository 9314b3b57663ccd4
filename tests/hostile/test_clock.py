"""Item 18: without an NTP fix the station adopts the back office's time (BootNotification.conf and
Heartbeat.conf currentTime) when it is off by more than a few seconds, and says so; with a fix, or within a
few seconds, it keeps its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ocpp.v16 import call

from controller.clock import ADOPT_THRESHOLD_S, FakeClock, SystemClock
from tests.hostile.office import HostileOffice, Incoming, result
from tests.hostile.support import station_at

BUILD_DATE = datetime(2020, 1, 1, tzinfo=UTC)  # where a CM4 without RTC might start
OFFICE_TIME = datetime(2026, 6, 1, 8, 0, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def office_at(t: datetime) -> HostileOffice:
    def answer(inc: Incoming) -> list[str] | None:
        if inc.action == "BootNotification":
            return [result(inc.uid, {"status": "Accepted", "interval": 300, "currentTime": iso(t)})]
        if inc.action == "Heartbeat":
            return [result(inc.uid, {"currentTime": iso(t + timedelta(hours=1))})]
        return None
    return HostileOffice(answer=answer)


@pytest.mark.parametrize(("synchronised", "office_time", "adopted"), [
    (False, OFFICE_TIME, True),
    (True, OFFICE_TIME, False),  # NTP knows better
    (False, BUILD_DATE + timedelta(seconds=ADOPT_THRESHOLD_S - 2), False),  # round-trip noise
])
async def test_back_office_time_without_ntp(tmp_path: Path, synchronised: bool, office_time: datetime,
                                            adopted: bool) -> None:
    office = office_at(office_time)
    await office.start()
    clock = FakeClock(wall=BUILD_DATE, synchronised=synchronised)
    try:
        async with station_at(tmp_path, office, clock=clock) as rig:
            now = clock.now()
            if adopted:
                assert abs((now - office_time).total_seconds()) < 2
                assert any("adopted the back office's time" in line for line in rig.trace)
                await rig.station.link.call(call.Heartbeat())  # a Heartbeat.conf an hour later: taken too
                assert abs((clock.now() - office_time - timedelta(hours=1)).total_seconds()) < 2
            else:
                assert abs((now - BUILD_DATE).total_seconds()) < 2
                assert not any("adopted" in line for line in rig.trace)
    finally:
        await office.stop()


def test_system_clock_adopts_only_without_a_fix() -> None:
    free = SystemClock(synchronised=lambda: False)
    ahead = datetime.now(UTC) + timedelta(days=400)
    assert free.adopt(ahead) is not None and abs((free.now() - ahead).total_seconds()) < 2
    fixed = SystemClock(synchronised=lambda: True)
    assert fixed.adopt(ahead) is None and abs((fixed.now() - datetime.now(UTC)).total_seconds()) < 2
