"""The sim control API over a real TCP socket: JSON lines in, one reply per request; bad input answered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conftest import Rig, until


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def raw(self, line: bytes) -> dict[str, Any]:
        self.writer.write(line + b"\n")
        await self.writer.drain()
        return json.loads(await asyncio.wait_for(self.reader.readline(), 5))

    async def __call__(self, **req: Any) -> dict[str, Any]:
        return await self.raw(json.dumps(req).encode())


async def connect(rig: Rig) -> Client:
    r, w = await asyncio.open_connection("127.0.0.1", rig.sim.port)
    return Client(r, w)


async def test_status_plug_and_charge_over_tcp(rig: Rig) -> None:
    c = await connect(rig)
    st = await c(cmd="status")
    assert st["ok"] and st["connectors"][0]["cp_state"] == "A" and st["connectors"][0]["ocpp_status"] == "Available"
    assert set(st["connectors"][0]) >= {"id", "cp_state", "pwm_duty", "offered_a", "contactor", "currents", "energy_wh", "ocpp_status"}
    assert await c(cmd="plug", connector=1, ev={"max_current": 10, "phases": 1}) == {"ok": True}
    assert await c(cmd="tag", uid="AB12") == {"ok": True}
    await until(lambda: rig.conn()["contactor"] == "closed" and rig.conn()["currents"][0] > 9.5, 8, "charging")
    st = await c(cmd="status")
    conn = st["connectors"][0]
    assert conn["cp_state"] == "C" and conn["contactor"] == "closed"
    assert conn["currents"][0] == 10.0 and conn["currents"][1] == 0.0  # a one-phase car at its own 10 A
    assert await c(cmd="ev_pause", connector=1) == {"ok": True}
    await until(lambda: rig.conn()["cp_state"] == "B" and rig.conn()["contactor"] == "open", 5, "pause")
    assert await c(cmd="ev_resume", connector=1) == {"ok": True}
    await until(lambda: rig.conn()["contactor"] == "closed", 5, "resume")


async def test_bad_requests_get_clear_errors(rig: Rig) -> None:
    c = await connect(rig)
    assert (await c.raw(b"not json")) == {"ok": False, "error": "not JSON"}
    assert (await c.raw(b"[1,2]"))["ok"] is False
    assert (await c(cmd="fly"))["error"] == "unknown command 'fly'"
    assert "no connector 9" in (await c(cmd="plug", connector=9))["error"]
    assert "phases" in (await c(cmd="plug", connector=1, ev={"phases": 2}))["error"]
    assert "factor" in (await c(cmd="ev_draw", connector=1))["error"]
    assert "factor" in (await c(cmd="ev_draw", connector=1, factor=9))["error"]
    assert "currents" in (await c(cmd="grid", currents=[1, 2]))["error"]
    assert "which" in (await c(cmd="meter_offline", which="moon", offline=True))["error"]
    assert (await c(cmd="status"))["ok"]  # the connection survived all of it


async def test_grid_and_meter_offline(rig: Rig) -> None:
    c = await connect(rig)
    assert await c(cmd="grid", currents=[10, 11, 12]) == {"ok": True}
    assert rig.station.devices.grid_meter is not None
    assert rig.station.devices.grid_meter.read().currents_a == (10.0, 11.0, 12.0)
    assert await c(cmd="meter_offline", which="grid", offline=True) == {"ok": True}
    assert await c(cmd="meter_offline", which="socket", connector=1, offline=True) == {"ok": True}
    await until(lambda: "meter" in rig.conn()["faults"], 3, "socket meter fault reported")
    assert await c(cmd="meter_offline", which="socket", connector=1, offline=False) == {"ok": True}
    await until(lambda: "meter" not in rig.conn()["faults"], 3, "socket meter back")


async def test_temperature_tilt_rcd_reach_the_loop(rig: Rig) -> None:
    c = await connect(rig)
    assert await c(cmd="rcd", connector=1, trip=True) == {"ok": True}
    await until(lambda: rig.conn()["ocpp_status"] == "Faulted", 3, "faulted on RCD trip")
    await rig.bo.wait_for("StatusNotification", rig.identity, lambda p: p["errorCode"] == "GroundFailure", timeout=5)
    assert await c(cmd="rcd", connector=1, trip=False) == {"ok": True}
    await until(lambda: rig.conn()["ocpp_status"] == "Available", 3, "available again")


async def test_meter_energy_is_forwarded_to_the_plant(rig: Rig) -> None:
    c = await connect(rig)
    assert await c(cmd="meter_energy", connector=1, energy_wh=12345) == {"ok": True}  # "unknown command" before
    await until(lambda: rig.conn()["energy_wh"] >= 12345, 5, "the socket meter's register")
    assert "energy_wh" in (await c(cmd="meter_energy", connector=1, energy_wh="lots"))["error"]


async def test_huge_numbers_are_refused_and_the_loop_lives_on(rig: Rig) -> None:
    c = await connect(rig)
    for line in (b'{"cmd":"temperature","celsius":1e999}', b'{"cmd":"ev_draw","connector":1,"factor":' + b"9" * 400 + b"}",
                 b'{"cmd":"meter_energy","connector":1,"energy_wh":' + b"1" * 400 + b"}"):
        assert (await c.raw(line))["ok"] is False
    assert await c(cmd="plug", connector=1) == {"ok": True}
    await until(lambda: rig.conn()["cp_state"] == "B", 5, "the control loop still reads the car")
    assert (await c(cmd="status"))["control_restarts"] == 0


async def test_connections_are_capped(rig: Rig) -> None:
    from controller.simcontrol.server import MAX_CLIENTS

    clients = [await connect(rig) for _ in range(MAX_CLIENTS)]
    assert all([(await c(cmd="status"))["ok"] for c in clients])
    r, w = await asyncio.open_connection("127.0.0.1", rig.sim.port)
    refused = json.loads(await asyncio.wait_for(r.readline(), 5))
    assert refused == {"ok": False, "error": "too many connections"}
    assert await asyncio.wait_for(r.read(), 5) == b""  # and closed
    clients[0].writer.close()
    await until(lambda: rig.sim.clients < MAX_CLIENTS, 5, "a slot freed")
    again = await connect(rig)
    assert (await again(cmd="status"))["ok"]
    for c in clients[1:] + [again]:
        c.writer.close()
