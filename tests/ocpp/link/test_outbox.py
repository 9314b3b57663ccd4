"""The journal sender's retry rule (TransactionMessageAttempts / TransactionMessageRetryInterval) on a fake
clock and a scripted link: the waits, the drop, Attempts=0 (retry indefinitely), offline is not a try."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call_result

from controller.clock import FakeClock
from controller.ocpp.link import NotConnected
from controller.ocpp.outbox import INDEFINITE_RETRY_CAP_S, JournalSender, retry_decision
from controller.timefmt import format_time
from controller.transactions.journal import Journal


class Config:
    def __init__(self, **values: int) -> None:
        self.values = {"TransactionMessageAttempts": 3, "TransactionMessageRetryInterval": 60, **values}

    def get_int(self, name: str) -> int:
        return self.values[name]


class ScriptedLink:
    """`outcomes`: per call, an exception to raise or a result; calls are recorded with their clock time."""

    def __init__(self, clock: FakeClock, outcomes: list[Any]) -> None:
        self.clock = clock
        self.outcomes = outcomes
        self.calls: list[tuple[float, str, dict[str, Any]]] = []
        self.online = True
        self.generation = 1
        self._online = asyncio.Event()
        self._online.set()

    async def call(self, request: Any, on_result: Any = None) -> Any:
        from dataclasses import asdict

        self.calls.append((self.clock.monotonic(), type(request).__name__, asdict(request)))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            if isinstance(outcome, NotConnected):
                self.online = False
                self._online.clear()
            raise outcome
        if on_result is not None:
            on_result(outcome)
        return outcome

    def reconnect(self) -> None:
        self.online = True
        self.generation += 1
        self._online.set()

    async def wait_online(self) -> None:
        await self._online.wait()

    async def wait_generation_after(self, generation: int) -> None:
        while self.generation <= generation:
            await asyncio.sleep(0.001)


def test_retry_rule() -> None:
    assert [retry_decision(n, 3, 60) for n in (1, 2, 3)] == [60, 120, None]
    assert retry_decision(1, 1, 60) is None
    assert retry_decision(2, 0, 60) == 120  # 0 = retry indefinitely
    assert retry_decision(10**6, 0, 60) == INDEFINITE_RETRY_CAP_S


def StartConf(tid: int) -> call_result.StartTransaction:  # noqa: N802 - reads like the message
    return call_result.StartTransaction(transaction_id=tid, id_tag_info={"status": "Accepted"})


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "j.sqlite")
    local = j.start_transaction(1, "TAG", 0, format_time(1.767e9))
    j.stop_transaction(local, 10, format_time(1.767e9 + 5), "Local")
    return j


async def test_three_attempts_wait_60_then_120_then_drop(journal: Journal) -> None:
    clock = FakeClock()
    link = ScriptedLink(clock, [InternalError(), InternalError(), InternalError()])
    dropped: list[str] = []
    sender = JournalSender(journal, link, clock, Config(), lambda *a: None, dropped.append)  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run())
    await _settle()
    await clock.advance(59)
    await _settle()
    assert len(link.calls) == 1
    await clock.advance(1)
    await _settle()
    assert len(link.calls) == 2
    await clock.advance(119)
    await _settle()
    assert len(link.calls) == 2
    await clock.advance(1)
    await _settle()
    assert [round(t - link.calls[0][0]) for t, _, _ in link.calls] == [0, 60, 180]
    assert sender.dropped >= 1 and any("dropped" in line for line in dropped)
    task.cancel()


async def test_attempts_zero_retries_indefinitely(journal: Journal) -> None:
    clock = FakeClock()
    link = ScriptedLink(clock, [InternalError()] * 6 + [StartConf(7)])
    sender = JournalSender(journal, link, clock, Config(TransactionMessageAttempts=0), lambda *a: None)  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run())
    for _ in range(8):
        await _settle()
        await clock.advance(400)
    await _settle()
    starts = [c for c in link.calls if c[1] == "StartTransaction"]
    assert len(starts) == 7  # six failures, then accepted
    assert [c[1] for c in link.calls][-1] == "StopTransaction"
    assert link.calls[-1][2]["transaction_id"] == 7
    task.cancel()


async def test_offline_is_not_a_failed_try(journal: Journal) -> None:
    clock = FakeClock()
    link = ScriptedLink(clock, [NotConnected("gone"), StartConf(9), call_result.StopTransaction()])
    sender = JournalSender(journal, link, clock, Config(TransactionMessageAttempts=1), lambda *a: None)  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run())
    await _settle()
    assert len(link.calls) == 1 and journal.pending()[0].attempts == 0
    link.reconnect()
    await asyncio.sleep(0.05)
    assert [c[1] for c in link.calls] == ["StartTransaction", "StartTransaction", "StopTransaction"]
    assert journal.pending_count() == 0
    task.cancel()


async def test_meter_values_wait_for_their_randomised_time(tmp_path: Path) -> None:
    clock = FakeClock()
    j = Journal(tmp_path / "j.sqlite")
    local = j.start_transaction(1, "TAG", 0, format_time(clock.now().timestamp()))
    j.add_meter_values(local, 1, [{"timestamp": format_time(clock.now().timestamp()), "sampledValue": [{"value": "1"}]}],
                       not_before=clock.now().timestamp() + 30)
    link = ScriptedLink(clock, [StartConf(3), call_result.MeterValues()])
    sender = JournalSender(j, link, clock, Config(), lambda *a: None)  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run())
    await _settle()
    assert [c[1] for c in link.calls] == ["StartTransaction"]
    await clock.advance(29)
    await _settle()
    assert len(link.calls) == 1
    await clock.advance(1.5)
    await _settle()
    assert [c[1] for c in link.calls] == ["StartTransaction", "MeterValues"]
    task.cancel()
