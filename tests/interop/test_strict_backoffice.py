"""The controller (a real process, on the simulated board) against a second, independent OCPP
implementation in strict schema mode: a whole session and the back office's calls, with no schema
violation in either direction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hil.rig import VirtualRig
from hil.scenarios import until
from tests.interop.strict import StrictBackOffice, strict_session, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[tuple[StrictBackOffice, VirtualRig]]:
    async with strict_session(tmp_path / "state", "STRICT1") as session:
        yield session


async def test_session_against_strict_backoffice(strict: tuple[StrictBackOffice, VirtualRig]) -> None:
    bo, rig = strict
    hs = await bo.wait(lambda m: m.get("dir") == "handshake", 15, "handshake")
    assert hs["identity"] == "STRICT1" and "ocpp1.6" in hs["protocols"]
    await bo.wait_in("BootNotification", 15)
    await bo.wait_in("StatusNotification", 10, lambda p: p["connectorId"] == 1 and p["status"] == "Available")
    assert (await bo.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "2"}))["status"] == "Accepted"
    assert (await rig.command("plug", connector=1, ev={"max_current": 16}))["ok"]
    assert (await rig.command("tag", uid="STRICTCARD"))["ok"]
    await bo.wait_in("Authorize", 10, lambda p: p["idTag"] == "STRICTCARD")
    start = await bo.wait_in("StartTransaction", 10)
    assert start["params"]["connectorId"] == 1
    await bo.wait_in("StatusNotification", 10, lambda p: p["status"] == "Charging")
    # the transaction's own (a central meter value, connectorId 0, may come first at a quarter hour)
    mv = await bo.wait_in("MeterValues", 10, lambda p: "transactionId" in p)
    assert mv["params"]["transactionId"] == 1000  # the strict back office's first transactionId
    assert (await rig.command("tag", uid="STRICTCARD"))["ok"]
    stop = await bo.wait_in("StopTransaction", 10)
    assert stop["params"]["transactionId"] == 1000
    assert stop["params"]["meterStop"] >= start["params"]["meterStart"]
    await until(rig, lambda c: c["contactor"] == "open", 8, "contactor open")
    assert (await rig.command("unplug", connector=1))["ok"]
    await bo.wait_in("StatusNotification", 10, lambda p: p["connectorId"] == 1 and p["status"] == "Available",
                     after=bo.lines.index(stop))


async def test_backoffice_calls_against_strict_backoffice(strict: tuple[StrictBackOffice, VirtualRig]) -> None:
    bo, rig = strict
    await bo.wait_in("StatusNotification", 15)
    conf = await bo.call("GetConfiguration", {})
    keys = {k["key"]: k for k in conf["configurationKey"]}
    assert len(keys) > 150 and keys["NumberOfConnectors"]["readonly"] is True
    some = await bo.call("GetConfiguration", {"key": ["HeartbeatInterval", "Bogus"]})
    assert some["unknownKey"] == ["Bogus"]
    assert (await bo.call("ChangeConfiguration", {"key": "LightIntensity", "value": "101"}))["status"] == "Rejected"
    assert (await bo.call("ChangeConfiguration", {"key": "Bogus", "value": "1"}))["status"] == "NotSupported"
    assert (await bo.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
    await bo.wait_in("Heartbeat", 10)
    assert (await rig.command("plug", connector=1))["ok"]
    await bo.wait_in("StatusNotification", 10, lambda p: p["status"] == "Preparing")
    assert (await bo.call("RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 1}))["status"] == "Accepted"
    start = await bo.wait_in("StartTransaction", 10)
    assert start["params"]["idTag"] == "REMOTE"
    assert (await bo.call("RemoteStopTransaction", {"transactionId": 1000}))["status"] == "Accepted"
    stop = await bo.wait_in("StopTransaction", 10)
    assert stop["params"]["reason"] == "Remote"
