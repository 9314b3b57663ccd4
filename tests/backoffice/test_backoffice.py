"""Integration tests of the bench back office, with the ocpp library's client side as the charge point."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from datetime import datetime

import pytest
import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from controller.backoffice.server import BackOffice, Record, run_forever

OCPP16 = [Subprotocol("ocpp1.6")]


class FakeChargePoint(ChargePoint):
    """Client side: answers the back office's calls."""

    remote_start_status = "Accepted"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.remote_starts: list[dict] = []

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_):
        self.remote_starts.append({"id_tag": id_tag, "connector_id": connector_id})
        return call_result.RemoteStartTransaction(status=self.remote_start_status)


class Client:
    def __init__(self, cp: FakeChargePoint, ws, task: asyncio.Task) -> None:
        self.cp, self.ws, self.task = cp, ws, task

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        await self.ws.close()


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
async def office(lines: list[str]):
    bo = BackOffice(log=lines.append)
    await bo.start()
    yield bo
    await bo.stop()


@pytest.fixture
async def connect():
    clients: list[Client] = []

    async def _connect(bo: BackOffice, cp_id: str = "CP1", **kwargs) -> Client:
        ws = await websockets.connect(f"{bo.url}/{cp_id}", subprotocols=OCPP16, **kwargs)
        cp = FakeChargePoint(cp_id, ws)
        client = Client(cp, ws, asyncio.create_task(cp.start()))
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


def boot() -> call.BootNotification:
    return call.BootNotification(charge_point_model="Eve Single", charge_point_vendor="Test")


async def test_url_and_port(office: BackOffice) -> None:
    assert office.port > 0
    assert office.url == f"ws://127.0.0.1:{office.port}"


async def test_boot_accepted(office: BackOffice, connect, lines: list[str]) -> None:
    c = await connect(office)
    await office.wait_connected("CP1")
    assert office.connected("CP1")
    result = await c.cp.call(boot())
    assert result.status == "Accepted"
    assert result.interval == 300
    datetime.fromisoformat(result.current_time.replace("Z", "+00:00"))
    rec = await office.wait_for("BootNotification", "CP1")
    assert isinstance(rec, Record)
    assert rec.direction == "in" and rec.cp_id == "CP1"
    assert rec.payload == {"chargePointModel": "Eve Single", "chargePointVendor": "Test"}
    assert rec.response is not None and rec.response["status"] == "Accepted"
    assert any(line.startswith('CP1 -> BootNotification {"chargePointModel"') for line in lines)
    assert any(line.startswith('CP1 <- BootNotification.conf {"currentTime"') for line in lines)


async def test_boot_rejected_then_accepted_at_runtime(office: BackOffice, connect) -> None:
    office.boot_status = "Rejected"
    office.heartbeat_interval = 7
    c = await connect(office)
    result = await c.cp.call(boot())
    assert (result.status, result.interval) == ("Rejected", 7)
    office.boot_status = "Accepted"
    office.heartbeat_interval = 60
    result = await c.cp.call(boot())
    assert (result.status, result.interval) == ("Accepted", 60)


async def test_boot_pending_from_constructor(connect) -> None:
    bo = BackOffice(boot_status="Pending", heartbeat_interval=15)
    await bo.start()
    try:
        c = await connect(bo)
        result = await c.cp.call(boot())
        assert (result.status, result.interval) == ("Pending", 15)
    finally:
        await bo.stop()


async def test_heartbeat(office: BackOffice, connect) -> None:
    c = await connect(office)
    result = await c.cp.call(call.Heartbeat())
    datetime.fromisoformat(result.current_time.replace("Z", "+00:00"))


async def test_authorize_default_and_overridden(office: BackOffice, connect) -> None:
    office.id_tag_status.update({"BLOCKED1": "Blocked", "BAD": "Invalid"})
    c = await connect(office)
    assert (await c.cp.call(call.Authorize(id_tag="ANY"))).id_tag_info["status"] == "Accepted"
    assert (await c.cp.call(call.Authorize(id_tag="BLOCKED1"))).id_tag_info["status"] == "Blocked"
    assert (await c.cp.call(call.Authorize(id_tag="BAD"))).id_tag_info["status"] == "Invalid"
    rec = await office.wait_for("Authorize", predicate=lambda p: p["idTag"] == "BAD")
    assert rec.response == {"idTagInfo": {"status": "Invalid"}}


async def test_transactions_and_meter_values(office: BackOffice, connect) -> None:
    office.id_tag_status["BLOCKED1"] = "Blocked"
    c = await connect(office)
    ts = "2024-05-01T10:00:00Z"
    r1 = await c.cp.call(call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=ts))
    r2 = await c.cp.call(
        call.StartTransaction(connector_id=2, id_tag="BLOCKED1", meter_start=50, timestamp=ts)
    )
    assert (r1.transaction_id, r2.transaction_id) == (1, 2)
    assert r1.id_tag_info["status"] == "Accepted"
    assert r2.id_tag_info["status"] == "Blocked"

    sample = {
        "timestamp": ts,
        "sampledValue": [{"value": "1500", "measurand": "Energy.Active.Import.Register"}],
    }
    await c.cp.call(call.MeterValues(connector_id=1, transaction_id=1, meter_value=[sample]))
    rec = await office.wait_for("MeterValues", "CP1")
    assert rec.payload["meterValue"] == [sample]

    stop = await c.cp.call(
        call.StopTransaction(meter_stop=2500, timestamp=ts, transaction_id=1, id_tag="TAG1", reason="Local")
    )
    assert stop.id_tag_info["status"] == "Accepted"
    tx = office.transactions[1]
    assert tx["cp_id"] == "CP1" and tx["connector_id"] == 1 and tx["id_tag"] == "TAG1"
    assert (tx["meter_start"], tx["meter_stop"], tx["reason"]) == (1000, 2500, "Local")
    assert tx["timestamp"] == ts
    assert tx["meter_values"] == [sample]
    assert "meter_stop" not in office.transactions[2]
    assert office.transactions[2]["meter_start"] == 50

    # ids keep increasing
    r3 = await c.cp.call(call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=2500, timestamp=ts))
    assert r3.transaction_id == 3


async def test_status_notification(office: BackOffice, connect) -> None:
    c = await connect(office)
    await c.cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
    rec = await office.wait_for("StatusNotification", predicate=lambda p: p["status"] == "Charging")
    assert rec.payload["connectorId"] == 1
    assert office.connector_status[("CP1", 1)] == "Charging"


async def test_data_transfer_vendor(office: BackOffice, connect) -> None:
    c = await connect(office)
    other = await c.cp.call(call.DataTransfer(vendor_id="com.other", message_id="x"))
    assert other.status == "UnknownVendorId"
    ours = await c.cp.call(call.DataTransfer(vendor_id="chargepoint-test", data="hello"))
    assert ours.status == "Accepted"


async def test_other_notifications_and_security_extensions(office: BackOffice, connect) -> None:
    c = await connect(office)
    await c.cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    await c.cp.call(call.FirmwareStatusNotification(status="Installed"))
    await c.cp.call(
        call.SecurityEventNotification(
            type="StartupOfTheDevice", timestamp="2024-05-01T10:00:00Z", tech_info=None
        )
    )
    assert (
        await c.cp.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"))
    ).status == "Accepted"
    await c.cp.call(call.LogStatusNotification(status="Idle", request_id=None))
    await c.cp.call(call.SignedFirmwareStatusNotification(status="Installed", request_id=None))
    seen = [r.action for r in office.records if r.direction == "in"]
    assert seen == [
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
    ]
    assert all(r.error is None for r in office.records)


async def test_wait_for_waits_for_a_later_message(office: BackOffice, connect) -> None:
    c = await connect(office)
    await c.cp.call(call.Heartbeat())
    after = len(office.records)
    waiter = asyncio.create_task(office.wait_for("Heartbeat", "CP1", after=after, timeout=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await c.cp.call(call.Heartbeat())
    rec = await waiter
    assert office.records.index(rec) >= after


async def test_wait_for_timeout_message(office: BackOffice, connect) -> None:
    c = await connect(office)
    await c.cp.call(call.Heartbeat())
    await c.cp.call(call.Authorize(id_tag="TAG1"))
    with pytest.raises(TimeoutError) as info:
        await office.wait_for("StartTransaction", "CP1", timeout=0.2)
    text = str(info.value)
    assert "no StartTransaction from CP1 within 0.2s" in text
    assert "seen: CP1 -> Heartbeat {}" in text
    assert 'seen: CP1 -> Authorize {"idTag": "TAG1"}' in text
    assert "connected: ['CP1']" in text

    with pytest.raises(TimeoutError, match="matching the predicate"):
        await office.wait_for("Authorize", predicate=lambda p: p["idTag"] == "OTHER", timeout=0.1)
    with pytest.raises(TimeoutError, match="nothing received"):
        await office.wait_for("Heartbeat", after=len(office.records), timeout=0.1)


async def test_wait_connected_timeout(office: BackOffice) -> None:
    with pytest.raises(TimeoutError, match="CP9 did not connect within 0.1s"):
        await office.wait_connected("CP9", timeout=0.1)


async def test_call_remote_start(office: BackOffice, connect, lines: list[str]) -> None:
    c = await connect(office)
    await office.wait_connected("CP1")
    result = await office.call("CP1", call.RemoteStartTransaction(id_tag="TAG7", connector_id=1))
    assert isinstance(result, call_result.RemoteStartTransaction)
    assert result.status == "Accepted"
    assert c.cp.remote_starts == [{"id_tag": "TAG7", "connector_id": 1}]
    out = [r for r in office.records if r.direction == "out"]
    res = [r for r in office.records if r.direction == "result"]
    assert out[0].action == "RemoteStartTransaction" and out[0].payload == {"idTag": "TAG7", "connectorId": 1}
    assert res[0].action == "RemoteStartTransaction" and res[0].payload == {"status": "Accepted"}
    assert res[0].unique_id == out[0].unique_id
    assert 'CP1 <- RemoteStartTransaction {"idTag": "TAG7", "connectorId": 1}' in lines
    assert 'CP1 -> RemoteStartTransaction.conf {"status": "Accepted"}' in lines

    c.cp.remote_start_status = "Rejected"
    result = await office.call("CP1", call.RemoteStartTransaction(id_tag="TAG8"))
    assert result.status == "Rejected"


async def test_call_error_and_timeout(office: BackOffice, connect) -> None:
    await connect(office)
    await office.wait_connected("CP1")
    # FakeChargePoint has no Reset handler: the library answers NotImplemented
    with pytest.raises(OCPPError):
        await office.call("CP1", call.Reset(type="Soft"))
    res = [r for r in office.records if r.direction == "result"]
    assert res[-1].action == "Reset" and res[-1].error == "NotImplemented"
    with pytest.raises(ConnectionError, match="CP2 is not connected"):
        await office.call("CP2", call.Reset(type="Soft"))


async def test_call_timeout(office: BackOffice) -> None:
    # A raw client that never answers.
    async with websockets.connect(f"{office.url}/CP1", subprotocols=OCPP16):
        await office.wait_connected("CP1")
        with pytest.raises(TimeoutError, match="CP1 did not answer Reset within 0.2s"):
            await office.call("CP1", call.Reset(type="Soft"), timeout=0.2)


async def test_drop_closes_socket(office: BackOffice, connect) -> None:
    c = await connect(office)
    await office.wait_connected("CP1")
    await office.drop("CP1")
    assert not office.connected("CP1")
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(c.task, 5)
    # it may connect again
    c2 = await connect(office)
    await office.wait_connected("CP1")
    assert (await c2.cp.call(call.Heartbeat())).current_time


async def test_reconnect_replaces_old_connection(office: BackOffice, connect) -> None:
    old = await connect(office)
    await office.wait_connected("CP1")
    new = await connect(office)
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(old.task, 5)
    assert office.connected("CP1")
    await office.call("CP1", call.RemoteStartTransaction(id_tag="T"))
    assert new.cp.remote_starts and not old.cp.remote_starts


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_basic_auth(connect) -> None:
    bo = BackOffice(basic_auth={"CP1": "s3cret"})
    await bo.start()
    try:
        c = await connect(bo, "CP1", additional_headers=basic("CP1", "s3cret"))
        assert (await c.cp.call(boot())).status == "Accepted"
        assert bo.auth_headers["CP1"] == basic("CP1", "s3cret")["Authorization"]
        await c.close()

        with pytest.raises(InvalidStatus) as info:
            await connect(bo, "CP1")
        assert info.value.response.status_code == 401
        assert bo.auth_headers["CP1"] is None

        with pytest.raises(InvalidStatus):
            await connect(bo, "CP1", additional_headers=basic("CP1", "wrong"))
        with pytest.raises(InvalidStatus):
            await connect(bo, "CP1", additional_headers=basic("CP2", "s3cret"))

        # no password configured for CP2: accepted, header still recorded
        await connect(bo, "CP2")
        await bo.wait_connected("CP2")
        assert bo.auth_headers["CP2"] is None
    finally:
        await bo.stop()


async def test_missing_subprotocol_refused(office: BackOffice) -> None:
    with pytest.raises(InvalidStatus):
        await websockets.connect(f"{office.url}/CP1")


async def test_malformed_frames_do_not_kill_the_server(office: BackOffice) -> None:
    async with websockets.connect(f"{office.url}/CP1", subprotocols=OCPP16) as ws:
        await ws.send('[2,"1","Foo",{}]')
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer[:3] == [4, "1", "NotSupported"]

        await ws.send("not json")
        await ws.send("[2]")
        # schema validation is on: a StartTransaction without meterStart is refused
        await ws.send(
            '[2,"2","StartTransaction",{"connectorId":1,"idTag":"T","timestamp":"2024-05-01T10:00:00Z"}]'
        )
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer[0] == 4 and answer[1] == "2"
        assert office.transactions == {}

        await ws.send('[2,"3","Heartbeat",{}]')
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer[:2] == [3, "3"] and "currentTime" in answer[2]

    assert [r.direction for r in office.records] == ["in", "invalid", "invalid", "in", "in"]
    foo = office.records[0]
    assert (foo.action, foo.error) == ("Foo", "NotSupported")
    assert office.records[1].payload == {"raw": "not json"}
    assert office.records[3].error is not None
    # and a new connection works too
    async with websockets.connect(f"{office.url}/CP2", subprotocols=OCPP16) as ws:
        await ws.send('[2,"9","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3


async def test_run_forever_prints_lines(capsys) -> None:
    # find a free port first, as run_forever takes a fixed one
    probe = BackOffice()
    port = await probe.start()
    await probe.stop()
    task = asyncio.create_task(run_forever("127.0.0.1", port))
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                ws = await websockets.connect(f"ws://127.0.0.1:{port}/DEMO", subprotocols=OCPP16)
                break
            await asyncio.sleep(0.02)
        async with ws:
            await ws.send('[2,"1","Heartbeat",{}]')
            await asyncio.wait_for(ws.recv(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    out = capsys.readouterr().out
    assert f"listening on ws://127.0.0.1:{port}" in out
    assert "DEMO -> Heartbeat {}" in out
    assert "DEMO <- Heartbeat.conf {" in out
