"""The link comes back quickly after a connection that worked (a lead note on issue 9): a back office that closes
cleanly (code 1000) over and over gets each reconnect after the first, shortest backoff step, not a growing one;
`reconnect_now()` (a changed security profile or key) connects again at once, whether it comes while connected
or during a backoff wait. All on the fake clock, with the real backoff (1 s doubling to 60 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

import controller.ocpp.conn_settings as conn_settings
from controller.clock import FakeClock
from tests.hostile.office import HostileOffice
from tests.hostile.support import advance_until, station_at

FIRST_STEP_S = 1.0 * 1.25  # the first backoff step with its largest jitter


@pytest.fixture(autouse=True)
def real_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conn_settings, "BACKOFF_INITIAL_S", 1.0)
    monkeypatch.setattr(conn_settings, "BACKOFF_MAX_S", 60.0)


async def test_clean_closes_of_a_working_connection_reconnect_after_the_first_step(
    tmp_path: Path, office: HostileOffice
) -> None:
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock) as rig:
        link = rig.station.link
        for n in range(5):
            before = office.connections
            await office.close_cleanly()
            took = await advance_until(clock, office, lambda: office.connections > before and link.online,  # noqa: B023
                                       30, f"reconnect {n + 1}", step=0.05)
            assert took <= FIRST_STEP_S + 0.05, f"reconnect {n + 1} after {took:.2f} clock seconds"
        office.assert_one_call_outstanding()


async def test_reconnect_now_while_connected_does_not_wait_a_backoff_step(tmp_path: Path, office: HostileOffice) -> None:
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock) as rig:
        link = rig.station.link
        for n in range(3):
            before, at = office.connections, clock.monotonic()
            link.reconnect_now()
            await office.wait(lambda: office.connections > before and link.online, 5,  # noqa: B023
                              f"reconnected at once ({n + 1})")
            assert clock.monotonic() == at  # the clock never moved


async def test_reconnect_now_during_a_backoff_wait_connects_without_waiting(tmp_path: Path, office: HostileOffice) -> None:
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock) as rig:
        link = rig.station.link
        await office.stop()
        await advance_until(clock, office, lambda: link.failures >= 4, 60, "failed attempts, growing backoff", 0.25)
        await office.start()  # back, on the same port; the link sits in a backoff wait of several seconds
        before, at = office.connections, clock.monotonic()
        link.reconnect_now()
        await office.wait(lambda: office.connections > before and link.online, 5, "connected at once")
        assert clock.monotonic() == at
