"""A member's side of the Smart Charging Network: its energy management obeys the station setpoints and, once
they run out (the coordinator is lost), holds each socket to SCN-SocketSafeCurrent, at the instant they run
out (its poll task wakes at the expiry, not at its next second)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.energy.test_manager import Bench

KEYS = {"MbsSlaveTCPIP": "On", "MbsSlaveTCPIPMode": "SCN", "MbsSlaveTCPIPValidityTime": "2",
        "Safe-MaxCurrent": "32", "SCN-SocketSafeCurrent": "8", "Station-MaxCurrent": "32"}


def test_expired_station_setpoints_hold_each_socket_to_the_scn_socket_safe_current(tmp_path: Path) -> None:
    b = Bench(tmp_path, KEYS)
    b.em.modbus_enabled = True
    for p in range(3):
        b.em.write_phase_setpoint(p, 12.0)
    assert b.offers([1, 2]) == {1: 6.0, 2: 6.0}  # the coordinator's 12 A per phase, shared
    b.clock.jump(1.9)
    assert b.offers([1, 2]) == {1: 6.0, 2: 6.0}
    b.clock.jump(0.2)  # MbsSlaveTCPIPValidityTime (2 s) has passed
    assert b.offers([1, 2]) == {1: 8.0, 2: 8.0}, "Safe-MaxCurrent (32) alone would give 16 + 16"
    b.config.set("MbsSlaveTCPIPMode", "Socket")  # the SCN safe current applies only in SCN mode
    assert b.offers([1, 2])[1] > 8.0


def test_before_the_first_setpoint_a_member_is_on_its_scn_safe_current(tmp_path: Path) -> None:
    b = Bench(tmp_path, KEYS)
    b.em.modbus_enabled = True
    assert b.offers([1]) == {1: 8.0, 2: 8.0}  # also what an idle socket would get


async def test_the_poll_task_wakes_when_a_setpoint_runs_out(tmp_path: Path) -> None:
    b = Bench(tmp_path, KEYS)
    b.em.modbus_enabled = True
    for p in range(3):
        b.em.write_phase_setpoint(p, 20.0)
    task = asyncio.ensure_future(b.em.run())
    try:
        await b.clock.advance(0.5)
        before = b.changes
        await b.clock.advance(1.45)  # the poll at +1.0 s; the expiry at +2.0 s is still ahead
        assert b.changes == before + 1
        await b.clock.advance(0.06)  # the setpoints ran out at +2.0 s: a re-allocation then, not at +3.0 s
        assert b.changes == before + 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
