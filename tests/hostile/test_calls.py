"""Calls from a hostile back office: unknown and unsupported actions (item 8), invalid values (item 13),
calls while Rejected (item 6) and Pending (item 7), RemoteStartTransaction for connector 0 (item 11)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from controller.clock import FakeClock
from tests.hostile.office import HostileOffice, Incoming, result
from tests.hostile.support import advance_until, station_at


@pytest.mark.parametrize(("action", "payload", "code"), [
    ("MakeCoffee", {}, "NotImplemented"),  # not an OCPP 1.6 action
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}, "NotSupported"),
    ("ChangeAvailability", {"connectorId": 1, "type": "Sometimes"}, "PropertyConstraintViolation"),
    ("TriggerMessage", {"requestedMessage": "Coffee"}, "PropertyConstraintViolation"),
    ("ChangeAvailability", {"connectorId": "one", "type": "Operative"}, "TypeConstraintViolation"),
    ("ChangeAvailability", {"type": "Operative"}, "ProtocolError"),
    ("Reset", {"type": "Hard", "extra": 1}, "FormationViolation"),
])
async def test_error_codes(tmp_path: Path, office: HostileOffice, action: str, payload: dict[str, Any],
                           code: str) -> None:
    async with station_at(tmp_path, office):
        assert await office.error_code(action, payload) == code


async def test_remote_start_on_connector_zero_is_rejected(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office) as rig:
        assert (await office.result("RemoteStartTransaction", {"idTag": "Z", "connectorId": 0}))["status"] == "Rejected"
        await rig.cmd("plug", connector=1)
        await asyncio.sleep(0.5)
        assert not office.calls("StartTransaction")


def boots(*statuses: tuple[str, int]) -> Any:
    def answer(inc: Incoming) -> list[str] | None:
        if inc.action == "BootNotification" and inc.nth < len(statuses):
            status, interval = statuses[inc.nth]
            return [result(inc.uid, {"status": status, "interval": interval, "currentTime": "2026-01-01T12:00:00Z"})]
        return None
    return answer


async def test_rejected_charge_point_answers_nothing(tmp_path: Path, office: HostileOffice) -> None:
    office.answer = boots(("Rejected", 60))
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, online=False) as rig:
        await office.wait_call("BootNotification")
        await office.wait(lambda: rig.station.link.registration == "Rejected", what="Rejected")
        with pytest.raises(TimeoutError):
            await office.call("GetConfiguration", {"key": ["HeartbeatInterval"]}, timeout=1.0)
        await advance_until(clock, office, lambda: rig.station.link.online, 61, "accepted after the interval")
        assert (await office.result("GetConfiguration", {"key": ["HeartbeatInterval"]}))["configurationKey"]
        answers = [f.msg[1] for f in office.frames if f.direction == "in" and f.msg[0] in (3, 4)]
        assert answers == ["bo-2"]  # only the call after the accepted boot was answered


async def test_pending_rejects_remote_start_and_sends_a_triggered_heartbeat(tmp_path: Path, office: HostileOffice) -> None:
    office.answer = boots(("Pending", 300))
    clock = FakeClock()
    async with station_at(tmp_path, office, clock=clock, online=False) as rig:
        await office.wait(lambda: rig.station.link.registration == "Pending", what="Pending")
        res = await office.result("RemoteStartTransaction", {"idTag": "EARLY", "connectorId": 1})
        assert res == {"status": "Rejected"}
        assert (await office.result("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await office.wait_call("Heartbeat")
        await rig.cmd("plug", connector=1)
        await asyncio.sleep(0.3)
        assert not office.calls("StartTransaction") and not office.calls("Authorize")
        assert all(json.loads(f.raw)[2] != "StatusNotification" for f in office.frames
                   if f.direction == "in" and f.raw.startswith("[2"))
        office.assert_one_call_outstanding()
