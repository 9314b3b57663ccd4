"""Fail-safe pieces: the dead-man watchdog (edges on a fake clock, then a real thread) and the simulated
contactor's maximum on-time without a fresh command."""

from __future__ import annotations

import threading
import time

from controller.evse.watchdog import DeadMan
from hal.sim.devices import SimContactor


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Output:
    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    def to_safe_state(self) -> None:
        self.log.append(self.name)
        if self.fail:
            raise RuntimeError("driver broke")


def test_deadman_edges_and_order() -> None:
    clock = Clock()
    log: list[str] = []
    outs = [Output("contactor1", log, fail=True), Output("contactor2", log), Output("pilot1", log)]
    d = DeadMan(outs, timeout_s=0.25, now=clock)
    d.kick(100.0)
    clock.t = 100.25
    assert not d.check() and log == []  # at the edge: not yet
    clock.t = 100.251
    assert d.check()
    assert log == ["contactor1", "contactor2", "pilot1"]  # contactors first; a failing one stops nobody
    assert d.tripped and d.trips == 1
    clock.t = 101.0
    assert not d.check()  # forced once per stall
    assert d.take_trip() == 100.251
    assert d.take_trip() is None and not d.tripped
    d.kick(101.0)
    clock.t = 101.2
    assert not d.check()


class Coil:
    """A contactor output that tells when it was forced."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.forced = threading.Event()

    def to_safe_state(self) -> None:
        self.log.append("open")
        self.forced.set()


def test_deadman_forces_even_if_the_loop_holds_the_lock_and_again_when_it_lets_go() -> None:
    """Defect 11: a loop stuck inside a write finished it after the forced open, closing again (stale)."""
    clock = Clock()
    log: list[str] = []
    coil = Coil(log)
    d = DeadMan([coil], timeout_s=0.1, lock_wait_s=0.01, now=clock)
    d.lock.acquire()  # the loop is stuck inside a write
    clock.t = 100.2
    result: list[bool] = []
    watchdog = threading.Thread(target=lambda: result.append(d.check()))
    watchdog.start()
    assert coil.forced.wait(5)  # forced without the lock
    assert d.tripped
    log.append("stale close")  # the loop finishes the write it was in (the runner's may_close stops this)
    d.lock.release()
    watchdog.join(5)
    assert result == [True]
    assert log == ["open", "stale close", "open"]  # forced again as soon as the loop let go


def test_no_close_is_written_once_the_watchdog_tripped() -> None:
    from controller.evse.connector import ConnectorOutputs
    from controller.evse.devio import write_outputs
    from hal.interfaces import PilotOutput
    from tests.evse.harness import Harness

    h = Harness()
    out = {1: ConnectorOutputs(PilotOutput.pwm(26.66), True, True)}
    write_outputs(h.pp, out, {}, may_close=lambda: False)
    assert not h.sock().contactor.commanded  # the close was not written
    write_outputs(h.pp, out, {}, may_close=lambda: True)
    assert h.sock().contactor.commanded


def test_the_tick_that_learns_of_a_trip_closes_nothing() -> None:
    from tests.evse.harness import Harness

    h = Harness()
    h.charge()
    h.sock().contactor.to_safe_state()
    h.loop.note_stall(h.now)
    h.loop.station.stall_until = h.now  # even without the LOOP_STALL hold (a mutant could drop it)
    h.tick()
    assert not h.closed()
    pre = h.ctl().last_preconditions
    assert pre is not None and not pre.healthy_tick


def test_deadman_skips_when_the_loop_comes_back_while_it_waits() -> None:
    clock = Clock()
    log: list[str] = []
    d = DeadMan([Output("contactor", log)], timeout_s=0.1, lock_wait_s=0.5, now=clock)
    d.lock.acquire()
    clock.t = 100.2

    def loop_comes_back() -> None:
        time.sleep(0.05)
        d.kick(100.2)
        d.lock.release()

    threading.Thread(target=loop_comes_back).start()
    assert not d.check() and log == []


def test_deadman_thread() -> None:
    log: list[str] = []
    d = DeadMan([Output("contactor", log)], timeout_s=0.05, period_s=0.005)
    d.kick(time.monotonic())
    d.start()
    try:
        for _ in range(10):
            d.kick(time.monotonic())
            time.sleep(0.01)
        assert log == []  # a healthy loop is left alone
        time.sleep(0.2)  # a stalled one is not
        assert log == ["contactor"]
    finally:
        d.stop()


def test_sim_contactor_max_on_time() -> None:
    clock = Clock()
    c = SimContactor(clock, feedback_delay_s=0.02)
    c.max_on_s = 0.5
    c.set_closed(True)
    for _ in range(10):  # re-commanded every tick: stays closed
        clock.t += 0.1
        c.set_closed(True)
    assert c.contacts_closed and c.expired == 0
    clock.t += 0.5
    assert c.contacts_closed  # exactly at the max on-time
    clock.t += 0.01
    assert not c.commanded and c.expired == 1
    t_open, value = c.recorder.history[-1]
    assert value is False and abs(t_open - 101.5) < 1e-9  # opened at the last refresh + max on-time
    clock.t += 0.1
    assert not c.contacts_closed and c.feedback_closed() is False
