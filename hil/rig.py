"""The rig abstraction of the hardware-in-the-loop suite: the same scenario bodies run against the virtual
rig (the controller as a real process on the simulated board, driven through the sim control API; in CI) and
against the real rig (a real board whose car side is emulated by the rig's own hardware).

A rig answers `command(cmd, **args) -> dict` with the sim control API's vocabulary (plug, unplug, tag, rcd,
temperature, tilt, status ...). `VirtualRig` starts `python -m controller run ... --sim-control` itself; it can
also kill the controller's control process alone (`kill_control`), as a crash of it would.
A real rig implements the same `command` against its relays, load bank, tilt stage and card presenter
(`RealRig`, hil/real.py, driven with gpiozero from the rig's own Raspberry Pi; docs/hil-rig.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol


class Rig(Protocol):
    identity: str

    async def command(self, cmd: str, **args: Any) -> dict[str, Any]: ...
    async def close(self) -> None: ...


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JsonLinesRig:
    """A rig reached over the sim control API's JSON lines."""

    identity = "HIL"

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._r: asyncio.StreamReader | None = None
        self._w: asyncio.StreamWriter | None = None

    async def connect(self, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while True:
            try:
                self._r, self._w = await asyncio.open_connection(self.host, self.port)
                return
            except OSError:
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.1)

    async def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self._r is not None and self._w is not None, "connect() first"
        self._w.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await self._w.drain()
        line = await asyncio.wait_for(self._r.readline(), 10)
        if not line:
            raise ConnectionError("the rig closed the connection")
        return dict(json.loads(line))

    async def close(self) -> None:
        if self._w is not None:
            self._w.close()


class VirtualRig(JsonLinesRig):
    """The controller as a real process on the simulated board."""

    def __init__(self, backoffice_url: str, identity: str = "HIL", board: str | None = None,
                 state_dir: Path | None = None, extra_args: list[str] | None = None) -> None:
        super().__init__("127.0.0.1", free_port())
        self.identity = identity
        self.backoffice_url = backoffice_url
        self.board = board
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="hil-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.state_dir / "controller.log"
        self.extra_args = list(extra_args or [])  # more `chargepoint run` options (e.g. --modbus-port)

    async def start(self) -> None:
        cmd = [sys.executable, "-m", "controller", "run", "--state-dir", str(self.state_dir),
               "--backoffice", self.backoffice_url, "--identity", self.identity,
               "--sim-control", f"127.0.0.1:{self.port}"]
        if self.board:
            cmd += ["--board", self.board]
        cmd += self.extra_args
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        await self.connect()

    async def close(self) -> None:
        await super().close()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def child_pid(self, module: str) -> int | None:
        """The pid of the controller's child process running `module` (e.g. "controller.evse.process")."""
        if self.proc is None:
            return None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and module.encode() in cmdline:
                return int(entry.name)
        return None

    def kill_control(self) -> int:
        """SIGKILL the control process only (the main process restarts it); returns its pid."""
        pid = self.child_pid("controller.evse.process")
        if pid is None:
            raise RuntimeError("no control process found")
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self) -> None:
        """SIGKILL: a power cut of the controller."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


from hil.real import RealRig, RigWiring  # noqa: E402 - the physical rig, re-exported beside the virtual one

__all__ = ["JsonLinesRig", "RealRig", "Rig", "RigWiring", "VirtualRig", "free_port"]
