"""Main-process side of the simulated plant (`hal.sim.plant`): starts it before the control process, sends it
sim-control commands and waits for their replies, tells it which control process drives its coils (`attach`).

The plant and the control process share the register file (`SimBus`) this side creates; the main process keeps
its descriptor open, so the file outlives both children.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from controller.evse.socketlink import SocketLink
from hal.sim.bus import SimBus

log = logging.getLogger(__name__)


class PlantError(Exception):
    pass


class PlantLink:
    def __init__(self, board_path: Path, sockets: int, max_on_s: float, env: dict[str, str]) -> None:
        self.board_path = board_path
        self.bus = SimBus.create(sockets)
        self.max_on_s = max_on_s
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._link: SocketLink | None = None
        self._buf = b""
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def start(self, timeout: float = 10.0) -> None:
        parent, child = socket.socketpair()
        cmd = [
            sys.executable, "-m", "hal.sim.plant",
            "--board", str(self.board_path),
            "--bus-fd", str(self.bus.fd),
            "--fd", str(child.fileno()),
            "--max-on", str(self.max_on_s),
        ]
        self.proc = subprocess.Popen(cmd, pass_fds=[child.fileno(), self.bus.fd], env=self.env, start_new_session=True)
        child.close()
        self._buf = b""
        self._link = SocketLink(parent, self._on_data, self._on_eof)
        end = time.monotonic() + timeout
        while not self.bus.plant_ready:
            if self.proc.poll() is not None:
                raise PlantError(f"the simulated plant exited at start (exit {self.proc.returncode})")
            if time.monotonic() > end:
                raise PlantError(f"the simulated plant did not start within {timeout} s")
            await asyncio.sleep(0.005)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _on_data(self, data: bytes) -> None:
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            try:
                reply = json.loads(line)
            except ValueError:
                log.error("the simulated plant sent a line that is not JSON: %r", line[:200])
                continue
            fut = self._pending.pop(reply.pop("id", None), None) if isinstance(reply, dict) else None
            if fut is not None and not fut.done():
                fut.set_result(reply)

    def _on_eof(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(PlantError("the simulated plant went away"))
        self._pending.clear()

    def send_nowait(self, cmd: str, args: dict[str, Any]) -> None:
        if self._link is not None:
            self._link.send(json.dumps({"id": 0, "cmd": cmd, "args": args}).encode() + b"\n")

    async def request(self, cmd: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        if self._link is None or not self.alive:
            raise PlantError("the simulated plant is not running")
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._link.send(json.dumps({"id": rid, "cmd": cmd, "args": args}).encode() + b"\n")
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    def attach(self, pid: int) -> None:
        """From now on the coils follow this control process (and fall to their pull-downs when it dies)."""
        self.send_nowait("attach", {"pid": pid})

    async def stop(self) -> None:
        if self._link is not None:
            self._link.close()  # the plant exits on EOF
            self._link = None
        self._on_eof()
        if self.proc is not None and self.proc.poll() is None:
            try:
                await asyncio.to_thread(self.proc.wait, 2.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)

    def close(self) -> None:
        self.bus.close()
        try:
            os.close(self.bus.fd)
        except OSError:
            pass
