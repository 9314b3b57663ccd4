"""The sim control API: JSON lines over TCP for tests, the demo and the virtual HIL rig.

Each request `{"cmd": ...}` gets one reply `{"ok": true, ...}` or `{"ok": false, "error": "..."}`; a bad
request (not JSON, wrong types, absurd numbers) gets an error reply and the connection stays. Commands for the
power-path devices (plug, unplug, ev_*, temperature, tilt, rcd, socket meter, lock) are forwarded to the
simulated plant, where the simulated world lives (it outlives the control process); `stall` goes to the control
process; the card reader and the grid meter belong to the main process and are handled here. `status` reports
what the station knows, and per connector what the plant shows physically: `lock`, `contacts` (the mirror
contact, null without one) and `cable_a`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Protocol

from controller.evse.supervisor import ControlProcessError
from controller.ports import ControlPort
from hal.factory import StationDevices
from hal.sim.devices import SimGridMeter, SimRfid

log = logging.getLogger(__name__)

FORWARDED = frozenset(
    {"plug", "unplug", "ev_pause", "ev_resume", "ev_draw", "ev_misbehave", "temperature", "tilt", "rcd", "suspend", "pe", "stall",
     "contactor_log", "lock", "meter_override", "meter_energy", "phase_relay"}
)
MAX_LINE = 65536
MAX_CLIENTS = 16  # more open connections are refused with an error line (a test API, not a public service)


class SimTarget(Protocol):
    """The station as the sim control API drives it: the main process's simulated devices, the control
    process (where the power-path devices live) and the status."""

    @property
    def devices(self) -> StationDevices: ...

    @property
    def control(self) -> ControlPort: ...

    def status_snapshot(self) -> dict[str, Any]: ...


class SimControlServer:
    def __init__(self, station: SimTarget, host: str = "127.0.0.1", port: int = 0) -> None:
        self.station = station
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self.clients = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_CLIENTS:
            writer.write(b'{"ok": false, "error": "too many connections"}\n')
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        self.clients += 1
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(b'{"ok": false, "error": "request line too long"}\n')
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                reply = await self.handle_line(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self.clients -= 1
            writer.close()

    async def handle_line(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "not JSON"}
        except RecursionError:  # a hostile line of thousands of nested brackets: refused, never a crash
            return {"ok": False, "error": "not JSON (nested too deeply)"}
        if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
            return {"ok": False, "error": 'a request is an object with "cmd"'}
        try:
            return await self.handle(req["cmd"], {k: v for k, v in req.items() if k != "cmd"})
        except (TypeError, ValueError, KeyError) as exc:
            return {"ok": False, "error": f"bad arguments for {req['cmd']}: {exc}"}

    async def handle(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        st = self.station
        if cmd == "status":
            return {"ok": True, **(await self._status())}
        if cmd == "tag":
            uid = args["uid"]
            if not isinstance(uid, str) or not uid or len(uid) > 20:
                return {"ok": False, "error": "uid must be a string of 1..20 characters"}
            rfid = st.devices.rfid
            if not isinstance(rfid, SimRfid):
                return {"ok": False, "error": "this board has no card reader"}
            rfid.present(uid)
            return {"ok": True}
        if cmd == "grid":
            currents = args["currents"]
            if not (isinstance(currents, list) and len(currents) == 3 and all(isinstance(c, int | float) for c in currents)):
                return {"ok": False, "error": "currents must be a list of 3 numbers (A)"}
            grid = st.devices.grid_meter
            if not isinstance(grid, SimGridMeter):
                return {"ok": False, "error": "this board has no simulated grid meter"}
            grid.house = (float(currents[0]), float(currents[1]), float(currents[2]))
            return {"ok": True}
        if cmd == "meter_offline":
            which = args.get("which", "socket")
            offline = args.get("offline")
            if not isinstance(offline, bool):
                return {"ok": False, "error": "offline must be true or false"}
            if which == "grid":
                grid = st.devices.grid_meter
                if not isinstance(grid, SimGridMeter):
                    return {"ok": False, "error": "this board has no simulated grid meter"}
                grid.offline = offline
                return {"ok": True}
            if which != "socket":
                return {"ok": False, "error": 'which must be "grid" or "socket"'}
            return await self._forward("meter_offline", {"connector": args.get("connector", 1), "offline": offline})
        if cmd in FORWARDED:
            return await self._forward(cmd, args)
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    async def _status(self) -> dict[str, Any]:
        snap = self.station.status_snapshot()
        try:
            plant = await self.station.control.sim("plant_status", {})
        except (ControlProcessError, TimeoutError):
            plant = {}
        physical = {c["id"]: c for c in plant.get("connectors", [])} if plant.get("ok") else {}
        for conn in snap["connectors"]:
            p = physical.get(conn["id"], {})
            conn.update(lock=p.get("lock"), contacts=p.get("contacts"), cable_a=p.get("cable_a"))
        return snap

    async def _forward(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self.station.control.sim(cmd, args)
        except (ControlProcessError, TimeoutError) as exc:
            return {"ok": False, "error": f"control process: {exc}"}
        reply = {k: v for k, v in reply.items() if k not in ("t", "id")}
        return reply
