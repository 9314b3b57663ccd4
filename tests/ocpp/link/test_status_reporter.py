"""StatusNotification delivery on a fake clock and a fake link: StatusNotificationMode Normal / Timestamp /
Queued (durable across a restart), MinimumStatusDuration, SendStationStatus, the SuspendedEV settle time and
statuses waiting behind the transaction messages journalled before them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from controller.clock import FakeClock
from controller.ocpp.link import NotConnected
from controller.ocpp.status import Status
from controller.ocpp.statusq import StatusReporter
from controller.timefmt import format_time
from controller.transactions.journal import Journal


class Config:
    def __init__(self, **values: str) -> None:
        self.values = {"StatusNotificationMode": "Normal", "MinimumStatusDuration": "0", "SendStationStatus": "true"}
        self.values.update(values)

    def get(self, name: str) -> str:
        return self.values[name]

    def get_int(self, name: str) -> int:
        return int(self.values[name])

    def get_bool(self, name: str) -> bool:
        return self.values[name] == "true"


class FakeLink:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.online = True
        self.sent: list[tuple[int, str, str | None]] = []

    async def call(self, request: Any) -> None:
        if not self.online:
            raise NotConnected("offline")
        self.sent.append((request.connector_id, request.status, request.timestamp))


class FakeSender:
    waiting_retry = False

    def __init__(self) -> None:
        self.progress = asyncio.Event()

    async def wait_progress(self) -> None:
        await self.progress.wait()


async def settle(clock: FakeClock, seconds: float = 0.0) -> None:
    for _ in range(10):
        await asyncio.sleep(0)
    if seconds:
        await clock.advance(seconds)
    for _ in range(20):
        await asyncio.sleep(0)


async def make(tmp_path: Path, **config: str) -> tuple[FakeClock, FakeLink, Journal, StatusReporter, asyncio.Task[None]]:
    clock = FakeClock()
    link = FakeLink(clock)
    journal = Journal(tmp_path / "j.sqlite")
    rep = StatusReporter(Config(**config), clock, journal, link, FakeSender())
    task = asyncio.create_task(rep.run())
    return clock, link, journal, rep, task


AVAILABLE, PREPARING, CHARGING = Status("Available"), Status("Preparing"), Status("Charging")


async def test_normal_mode_no_timestamp_not_queued_current_after_boot(tmp_path: Path) -> None:
    clock, link, _, rep, task = await make(tmp_path)
    rep.update(1, AVAILABLE)
    await settle(clock)
    assert link.sent == [(1, "Available", None)]
    link.online = False
    rep.update(1, PREPARING)
    rep.update(1, CHARGING)
    await settle(clock, 1)
    link.online = True
    rep.on_online()
    await settle(clock)
    assert link.sent[1:] == [(1, "Charging", None)]  # only the current one, after the boot
    task.cancel()


async def test_timestamp_mode_stamps_when_the_status_began(tmp_path: Path) -> None:
    clock, link, _, rep, task = await make(tmp_path, StatusNotificationMode="Timestamp", MinimumStatusDuration="5")
    began = clock.now().timestamp()
    rep.update(1, PREPARING)
    await settle(clock, 5.5)
    assert link.sent == [(1, "Preparing", format_time(began))]
    task.cancel()


async def test_queued_mode_keeps_offline_changes_across_a_restart(tmp_path: Path) -> None:
    clock, link, journal, rep, task = await make(tmp_path, StatusNotificationMode="Queued")
    link.online = False
    for st in (AVAILABLE, PREPARING, CHARGING):
        rep.update(1, st)
        await settle(clock, 2)
    task.cancel()
    assert [q.status for q in journal.queued_statuses()] == ["Available", "Preparing", "Charging"]

    # a restart: a new reporter on the same journal; the queue goes out first, in order, with its timestamps
    rep2 = StatusReporter(Config(StatusNotificationMode="Queued"), clock, Journal(tmp_path / "j.sqlite"), link, FakeSender())
    task2 = asyncio.create_task(rep2.run())
    rep2.update(1, CHARGING)
    link.online = True
    rep2.on_online()
    await settle(clock, 0.1)
    assert [s for _, s, _ in link.sent] == ["Available", "Preparing", "Charging"]
    assert all(ts is not None for _, _, ts in link.sent)
    assert journal.queued_statuses() == []
    task2.cancel()


async def test_minimum_status_duration_hides_short_flickers(tmp_path: Path) -> None:
    clock, link, _, rep, task = await make(tmp_path, MinimumStatusDuration="10")
    rep.update(1, AVAILABLE, force=True)
    await settle(clock)
    assert link.sent == [(1, "Available", None)]  # forced: no wait
    rep.update(1, PREPARING)
    await settle(clock, 4)
    rep.update(1, AVAILABLE)  # back within 10 s: Preparing is never reported
    await settle(clock, 20)
    assert link.sent == [(1, "Available", None)]
    rep.update(1, PREPARING)
    await settle(clock, 9)
    assert len(link.sent) == 1
    await settle(clock, 1.5)
    assert link.sent[-1] == (1, "Preparing", None)
    task.cancel()


async def test_send_station_status_false_leaves_connector_zero_out(tmp_path: Path) -> None:
    clock, link, _, rep, task = await make(tmp_path, SendStationStatus="false")
    rep.update(0, Status("Faulted", "OtherError", "tilt"))
    rep.update(1, AVAILABLE)
    await settle(clock)
    assert link.sent == [(1, "Available", None)]
    task.cancel()


async def test_suspended_ev_needs_to_settle(tmp_path: Path) -> None:
    clock, link, _, rep, task = await make(tmp_path)
    rep.update(1, Status("SuspendedEV"))
    await settle(clock, 1)
    rep.update(1, CHARGING)  # the car answered the PWM within the settle time
    await settle(clock, 5)
    assert [s for _, s, _ in link.sent] == ["Charging"]
    rep.update(1, Status("SuspendedEV"))
    await settle(clock, 3.5)
    assert [s for _, s, _ in link.sent] == ["Charging", "SuspendedEV"]
    task.cancel()


async def test_status_waits_for_the_transaction_message_before_it(tmp_path: Path) -> None:
    clock, link, journal, rep, task = await make(tmp_path)
    local = journal.start_transaction(1, "TAG", 0, format_time(clock.now().timestamp()))
    rep.update(1, CHARGING)
    await settle(clock)
    assert link.sent == []  # StartTransaction goes first
    item = journal.next_pending()
    assert item is not None and item.local_tx == local
    journal.ack(item, {"transactionId": 1})
    rep.sender.progress.set()
    await settle(clock, 0.1)
    assert link.sent == [(1, "Charging", None)]
    task.cancel()
