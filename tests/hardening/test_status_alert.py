"""An error no status derivation shows (a damaged journal, issue 11 item 3) reaches the back office as a
StatusNotification with that errorCode once online: after the connector's own status, once, on the fake clock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from controller.clock import FakeClock
from controller.ocpp.link import NotConnected
from controller.ocpp.status import Status
from controller.ocpp.statusq import StatusReporter
from controller.transactions.journal import Journal
from tests.ocpp.link.test_status_reporter import Config, FakeSender, settle


class Link:
    def __init__(self) -> None:
        self.online = False
        self.sent: list[dict[str, Any]] = []

    async def call(self, request: Any) -> None:
        if not self.online:
            raise NotConnected("offline")
        self.sent.append({"cid": request.connector_id, "status": request.status, "error": request.error_code,
                          "info": request.info, "vendor": request.vendor_error_code})


async def test_an_alert_waits_for_the_link_and_follows_the_connectors_own_status(tmp_path: Path) -> None:
    clock, link = FakeClock(), Link()
    rep = StatusReporter(Config(SendStationStatus="false"), clock, Journal(tmp_path / "j.sqlite"), link, FakeSender())
    task = asyncio.create_task(rep.run())
    try:
        rep.update(0, Status("Available"))
        rep.alert(0, "InternalError", "journal damaged, kept aside", "JournalDamaged")
        await settle(clock, 5)
        assert link.sent == []  # offline: nothing lost, nothing sent
        link.online = True
        rep.on_online()
        await settle(clock, 1)
        await settle(clock, 1)
        # SendStationStatus=false keeps the station status quiet, but not the alert (an event)
        assert link.sent == [{"cid": 0, "status": "Available", "error": "InternalError",
                              "info": "journal damaged, kept aside", "vendor": "JournalDamaged"}]
        await settle(clock, 60)
        assert len(link.sent) == 1  # once
    finally:
        task.cancel()


async def test_the_alert_comes_after_the_status_the_boot_sends(tmp_path: Path) -> None:
    clock, link = FakeClock(), Link()
    rep = StatusReporter(Config(), clock, Journal(tmp_path / "j.sqlite"), link, FakeSender())
    task = asyncio.create_task(rep.run())
    try:
        rep.update(0, Status("Unavailable"))
        rep.alert(0, "InternalError", "journal in memory, not durable")
        link.online = True
        rep.on_online()
        await settle(clock, 1)
        await settle(clock, 1)
        assert [(s["status"], s["error"]) for s in link.sent] == [("Unavailable", "NoError"),
                                                                   ("Unavailable", "InternalError")]
        rep.update(0, Status("Available"))  # the next change is reported as usual
        await settle(clock, 1)
        assert link.sent[-1]["status"] == "Available" and link.sent[-1]["error"] == "NoError"
    finally:
        task.cancel()
