"""The supervised-task runner: an exception is logged with its traceback and the task restarts after a backoff
on the fake clock; a task that keeps failing gives up (the process ends); stopping is clean."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap

import pytest

from controller.clock import FakeClock
from controller.supervise import EXIT_TASK_FAILED, RestartPolicy, Supervisor, TaskGaveUp


class Flaky:
    """A long-lived task that fails `fails` times (raising), then runs for ever."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.runs = 0
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        await asyncio.sleep(0)
        if self.runs <= self.fails:
            raise ValueError(f"boom {self.runs}")
        self.running.set()
        await asyncio.Event().wait()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_failure_is_logged_with_its_traceback_and_restarted_after_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    sup = Supervisor(clock, RestartPolicy(initial_backoff_s=1.0, max_backoff_s=8.0, max_failures=10))
    flaky = Flaky(fails=3)
    with caplog.at_level(logging.WARNING, logger="controller.supervise"):
        task = sup.start("flaky", flaky.run)
        await settle()
        assert flaky.runs == 1 and sup.tasks["flaky"].failures == 1
        failed = [r for r in caplog.records if r.getMessage() == "task flaky failed"]
        assert failed and failed[0].exc_info and "boom 1" in str(failed[0].exc_info[1])
        await clock.advance(0.99)
        assert flaky.runs == 1  # not before the backoff
        await clock.advance(0.01)
        await settle()
        assert flaky.runs == 2
        await clock.advance(1.99)
        await settle()
        assert flaky.runs == 2  # the backoff doubled: 2 s
        await clock.advance(0.01)
        await settle()
        assert flaky.runs == 3
        await clock.advance(4.0)
        await settle()
        assert flaky.runs == 4 and flaky.running.is_set()
    assert sup.tasks["flaky"].restarts == 3 and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sup.tasks["flaky"].inner is not None and sup.tasks["flaky"].inner.cancelled()


async def test_a_task_that_keeps_failing_gives_up() -> None:
    clock = FakeClock()
    gave_up: list[tuple[str, str]] = []
    sup = Supervisor(clock, RestartPolicy(initial_backoff_s=1.0, max_failures=3, window_s=60.0),
                     give_up=lambda name, err: gave_up.append((name, str(err))))
    flaky = Flaky(fails=100)
    task = sup.start("doomed", flaky.run)
    for _ in range(10):
        await settle()
        await clock.advance(5.0)
    assert task.done() and isinstance(task.exception(), TaskGaveUp)
    assert gave_up == [("doomed", "boom 3")] and flaky.runs == 3


async def test_failures_spread_out_beyond_the_window_do_not_give_up() -> None:
    clock = FakeClock()
    sup = Supervisor(clock, RestartPolicy(initial_backoff_s=1.0, max_failures=3, window_s=60.0,
                                          healthy_after_s=30.0), give_up=lambda n, e: None)
    state = {"runs": 0}

    async def fails_after_a_while() -> None:
        state["runs"] += 1
        await clock.sleep(100.0)  # runs well, then fails
        raise OSError("disk full")

    task = sup.start("spread", fails_after_a_while)
    for _ in range(12):
        await settle()
        await clock.advance(101.0)
    assert state["runs"] >= 6 and not task.done()
    task.cancel()


async def test_a_task_that_returns_or_is_cancelled_from_outside_is_restarted() -> None:
    clock = FakeClock()
    sup = Supervisor(clock, RestartPolicy(initial_backoff_s=1.0, max_failures=10))
    calls = {"n": 0}

    async def returns_once() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            return
        await asyncio.Event().wait()

    task = sup.start("returner", returns_once)
    await settle()
    await clock.advance(1.0)
    await settle()
    assert calls["n"] == 2 and sup.tasks["returner"].restarts == 1
    sup.tasks["returner"].kill()
    await settle()
    await clock.advance(2.0)
    await settle()
    assert calls["n"] == 3 and sup.tasks["returner"].restarts == 2
    task.cancel()
    await settle()
    assert task.cancelled()


def test_giving_up_ends_the_process_with_a_failure_status() -> None:
    script = textwrap.dedent("""
        import asyncio
        from controller.clock import SystemClock
        from controller.supervise import RestartPolicy, Supervisor

        async def bad() -> None:
            raise RuntimeError("always")

        async def main() -> None:
            Supervisor(SystemClock(), RestartPolicy(initial_backoff_s=0.0, max_failures=2)).start("bad", bad)
            await asyncio.Event().wait()

        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_TASK_FAILED, done.stderr
    assert "task bad failed" in done.stderr and "RuntimeError: always" in done.stderr
    assert "giving up" in done.stderr
