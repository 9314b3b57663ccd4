"""Each side supervises the other: a dead or hung control process is reported and restarted, the systemd
watchdog is fed only while the loop ticks, and a silent main process makes the loop stop charging."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from controller.evse import supervisor
from tests.conftest import Rig, start_rig, stop_rig, until


async def test_killed_control_process_is_reported_and_restarted(rig: Rig) -> None:
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid="CARD")
    await until(lambda: rig.conn()["contactor"] == "closed", 8, "charging")
    proc = rig.station.control.proc
    assert proc is not None
    old_pid = proc.pid
    os.kill(old_pid, signal.SIGKILL)
    await until(lambda: rig.station.control_events.deaths == 1, 5, "death reported")
    await until(lambda: rig.station.control.proc is not None and rig.station.control.proc.pid != old_pid
                and rig.station.control.alive, 5, "restart")
    await rig.station.control.wait_ready(5)
    assert any("control process died" in line for line in rig.trace)
    assert rig.station.control.restarts == 1


async def test_hung_control_process_is_killed_and_restarted(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path)
    try:
        rig.station.control.hang_timeout_s = 1.0
        proc = rig.station.control.proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGSTOP)  # a hung loop: alive but silent
        await until(lambda: any("silent" in line for line in rig.trace), 5, "hang detected")
        await until(lambda: rig.station.control.restarts == 1 and rig.station.control.alive, 5, "restarted")
    finally:
        await stop_rig(rig)


async def test_watchdog_fed_only_while_the_loop_ticks(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        rig = await start_rig(tmp_path)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    got: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                got.append(sock.recv(100))
            except BlockingIOError:
                return

    try:
        await until(lambda: (drain(), b"WATCHDOG=1" in got)[1], 5, "a watchdog ping")
        assert got[0] == b"READY=1"
        proc = rig.station.control.proc
        assert proc is not None
        rig.station.control.hang_timeout_s = 60  # keep it stopped for the check
        os.kill(proc.pid, signal.SIGSTOP)
        await asyncio.sleep(0.3)
        drain()
        got.clear()
        await asyncio.sleep(2.5)
        drain()
        assert b"WATCHDOG=1" not in got  # no healthy ticks, no pings
        os.kill(proc.pid, signal.SIGCONT)
        await until(lambda: (drain(), b"WATCHDOG=1" in got)[1], 5, "pings again")
    finally:
        await stop_rig(rig)
        sock.close()


async def test_silent_main_process_stops_charging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = await start_rig(tmp_path)
    try:
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="CARD")
        await until(lambda: rig.conn()["contactor"] == "closed", 8, "charging")
        control = rig.station.control
        control.set_limits = lambda connectors: None  # type: ignore[method-assign]  # the main process hangs:
        monkeypatch.setattr(supervisor, "LIMITS_RESEND_S", 1e9)  # no more heartbeat after the one under way
        await until(lambda: rig.conn()["contactor"] == "open", 12, "the loop stops charging on its own")
        assert "main_silent" in rig.station.sockets.station_faults
    finally:
        await stop_rig(rig)


async def test_simulated_meter_keeps_counting_across_a_control_restart(rig: Rig) -> None:
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid="CARD")
    await until(lambda: rig.conn()["energy_wh"] > 3, 10, "some energy")
    before = rig.conn()["energy_wh"]
    proc = rig.station.control.proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGKILL)
    await until(lambda: rig.station.control_events.deaths == 1, 5, "death reported")
    await rig.station.control.wait_ready(5)
    for _ in range(30):  # never below the reading before the restart, sample after sample
        await asyncio.sleep(0.1)
        assert rig.conn()["energy_wh"] >= before


# -- restarts are bounded; the world and the latches outlive them ------------------------------------------------
def test_restarts_are_counted_on_the_injected_clock() -> None:
    from board.loader import builtin_board
    from controller.evse.supervisor import ControlProcess

    t = [1000.0]
    cp = ControlProcess(builtin_board("sim"), lambda m: None, clock=lambda: t[0])
    assert [cp.note_restart() for _ in range(3)] == [True, True, True]
    t[0] += 599.0
    assert not cp.note_restart()  # the 4th within 10 minutes
    t[0] += 1.1  # the first restart is now more than 10 minutes old
    assert cp.note_restart()


async def kill_control(rig: Rig) -> None:
    control = rig.station.control
    proc = control.proc
    assert proc is not None
    deaths = rig.station.control_events.deaths
    os.kill(proc.pid, signal.SIGKILL)
    await until(lambda: rig.station.control_events.deaths == deaths + 1, 5, "death reported")


async def test_more_than_three_restarts_in_ten_minutes_leave_the_station_faulted(tmp_path: Path) -> None:
    from controller.evse.protocol import RestartLimitReached

    rig = await start_rig(tmp_path)
    events: list[object] = []
    control = rig.station.control
    on_message = control.on_message
    control.on_message = lambda m: (events.append(m), on_message(m))  # type: ignore[method-assign]
    control.restart_delay_s = 0.05
    try:
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="CARD")
        await until(lambda: rig.conn()["contactor"] == "closed", 8, "charging")
        t_inject = len(rig.bo.records)
        for n in range(1, 4):
            await kill_control(rig)
            await until(lambda n=n: control.restarts == n and control.alive, 5, f"restart {n}")  # type: ignore[misc]
            await control.wait_ready(5)
        await kill_control(rig)  # the 4th death within 10 minutes
        await until(lambda: any(isinstance(e, RestartLimitReached) for e in events), 5, "restart limit")
        await asyncio.sleep(0.5)
        assert not control.alive and control.restarts == 3  # it stays down
        assert "control_restarts" in rig.station.sockets.station_faults
        await rig.bo.wait_for(
            "StatusNotification", rig.identity,
            lambda p: p["connectorId"] == 0 and p["status"] == "Faulted" and p["errorCode"] == "InternalError",
            timeout=10, after=t_inject,
        )
        assert rig.conn()["ocpp_status"] == "Faulted"
        log = await rig.cmd("contactor_log", connector=1)  # the plant (the hardware) is still there
        assert log["commanded"] is False  # the coil fell to its pull-down when the process died
        st = await rig.cmd("status")
        assert st["control_restarts"] == 3
        assert st["connectors"][0]["contacts"] == "open"
    finally:
        await stop_rig(rig)


async def test_the_car_stays_plugged_and_a_latch_stays_across_a_restart(rig: Rig) -> None:
    await rig.cmd("plug", connector=1)
    await rig.cmd("tag", uid="CARD")
    await until(lambda: rig.conn()["contactor"] == "closed", 8, "charging")
    await rig.cmd("rcd", connector=1, trip=True)
    await until(lambda: "residual_current" in rig.conn()["faults"], 3, "tripped")
    await rig.cmd("rcd", connector=1, trip=False)  # the signal goes; the latch stays (until unplug)
    await kill_control(rig)
    await until(lambda: rig.station.control.alive and rig.station.control.restarts == 1, 5, "restarted")
    await rig.station.control.wait_ready(5)
    await asyncio.sleep(1.0)
    assert "residual_current" in rig.conn()["faults"]  # handed back: still latched
    assert rig.conn()["cp_state"] in ("B", "C")  # the car is still plugged (the plant outlived the process)
    log = await rig.cmd("contactor_log", connector=1)
    died_at = max(t for t, v in log["history"] if v is False)
    assert not any(v for t, v in log["history"] if t > died_at)  # never closed again
    await rig.cmd("unplug", connector=1)
    await until(lambda: rig.conn()["faults"] == [], 3, "cleared by the unplug")
