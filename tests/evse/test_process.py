"""The real control process (spawned by `ControlProcess` after the simulated plant), driven over the channel
like the main process does: an RCD trip opens the contactor, a silent main process stops charging, a stalled
loop is caught by the dead-man watchdog (seen in the simulated contactor's record), calibration goes out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from board.loader import builtin_board
from controller.evse.protocol import Calibration, Log, State, StationSample, StationState
from controller.evse.supervisor import ControlProcess


class Main:
    """The main process's side: the supervisor and what it heard (the channel's dataclasses, as they come)."""

    def __init__(self) -> None:
        self.messages: list[object] = []
        self.state: dict[int, State] = {}
        self.station_faults: tuple[str, ...] = ()

    def on_message(self, msg: object) -> None:
        self.messages.append(msg)
        if isinstance(msg, State):
            self.state[msg.connector] = msg
        elif isinstance(msg, StationState):
            self.station_faults = msg.faults

    async def until(self, pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; state {self.state}")
            await asyncio.sleep(0.01)

    def conn(self, cid: int = 1) -> State | None:
        return self.state.get(cid)

    def contactor(self, cid: int = 1) -> str | None:
        st = self.state.get(cid)
        return None if st is None else st.contactor

    def faults(self, cid: int = 1) -> tuple[str, ...]:
        st = self.state.get(cid)
        return () if st is None else st.faults


@pytest.fixture
async def proc() -> AsyncIterator[tuple[ControlProcess, Main]]:
    main = Main()
    cp = ControlProcess(builtin_board("sim"), main.on_message, main_silence_s=1.0, watchdog_s=0.25)
    await cp.start()
    try:
        yield cp, main
    finally:
        await cp.stop()


async def charge(cp: ControlProcess, main: Main) -> None:
    cp.set_limits({1: {"max_current": 16, "authorized": True, "suspended": False}})
    assert (await cp.sim("plug", {"connector": 1, "ev": {"response_delay_s": 0.1}}))["ok"]
    await main.until(lambda: main.contactor() == "closed", 5, "charging")


async def test_rcd_trip_opens_the_contactor(proc: tuple[ControlProcess, Main]) -> None:
    cp, main = proc
    await charge(cp, main)
    t0 = time.monotonic()
    assert (await cp.sim("rcd", {"connector": 1, "trip": True}))["ok"]
    await main.until(lambda: main.contactor() == "open", 2, "open after the trip")
    assert "residual_current" in main.faults()
    log = await cp.sim("contactor_log", {"connector": 1})
    opened = [t for t, v in log["history"] if v is False and t >= t0]
    assert opened and opened[0] - t0 < 0.1


async def test_silent_main_process_stops_charging(proc: tuple[ControlProcess, Main]) -> None:
    cp, main = proc
    await charge(cp, main)
    cp.stop_heartbeat()
    await main.until(lambda: main.contactor() == "open", 3, "charging stopped")
    assert "main_silent" in main.faults()
    assert "main_silent" in main.station_faults


async def test_stalled_loop_is_caught_by_the_watchdog(proc: tuple[ControlProcess, Main]) -> None:
    cp, main = proc
    await charge(cp, main)
    stall = await cp.sim("stall", {"seconds": 1.0}, timeout=5)
    assert stall["ok"]
    started, ended = stall["started_at"], stall["ended_at"]
    log = await cp.sim("contactor_log", {"connector": 1})
    opened = [t for t, v in log["history"] if v is False and started <= t <= ended]
    assert opened, log
    # the watchdog (0.25 s after the last tick, which came up to one 10 ms tick before the stall), not the
    # loop, and long before the stall ended
    assert 0.25 - 0.011 <= opened[0] - started < 0.45
    assert log["safe_state_at"] and started < log["safe_state_at"][0] < ended
    assert log["expired"] == 0  # the device's own max on-time did not have to act
    await main.until(lambda: "loop_stall" in main.faults(), 2, "stall reported")
    assert "loop_stall" in main.station_faults
    await main.until(lambda: main.contactor() == "closed", 15, "a fresh start after the hold")
    await main.until(lambda: cp.last_stats is not None and cp.last_stats.watchdog_trips >= 1, 3, "stats")


async def test_calibration_and_config_over_the_channel(
    proc: tuple[ControlProcess, Main], caplog: pytest.LogCaptureFixture
) -> None:
    cp, main = proc
    assert (await cp.sim("tilt", {"degrees": 4.5}))["ok"]
    caplog.set_level("WARNING")
    cp.send_config({"CalibrateTilt": "1", "TemperatureHigh": "hot"})
    await main.until(lambda: any(isinstance(m, Calibration) for m in main.messages), 2, "calibration")
    cal = next(m for m in main.messages if isinstance(m, Calibration))
    assert cal.tilt_deg == 4.5 and cal.error is None and cal.tilt_vector is not None
    assert cp.tilt_vector == cal.tilt_vector  # kept for a restarted control process
    assert any(isinstance(m, Log) and "TemperatureHigh" in m.text for m in main.messages)
    # the loop's log line reaches the main process's log
    assert any("control process" in r.getMessage() and "TemperatureHigh" in r.getMessage() for r in caplog.records)
    assert "TemperatureHigh" in cp.replayed_config
    assert "CalibrateTilt" not in cp.replayed_config  # never replayed to a restarted process
    await main.until(
        lambda: any(isinstance(m, StationSample) and m.tilt_deg == 0.0 for m in main.messages),
        3,
        "tilt relative to the calibration in the station sample",
    )
