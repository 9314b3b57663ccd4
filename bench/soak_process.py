"""The controller process of the soak run (`bench/soak.py`): `chargepoint run` on the simulated double board with
its output drained from a pipe, its sim control API reached over one JSON-lines connection that survives
restarts, and the reaping of a killed main process's children (this process is their subreaper, so their
/proc/PID/io counts are added to its own)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from board.loader import builtin_board
from hil.rig import VirtualRig

BOARD = "sim-double"
IDENTITY = "SOAK"
PR_SET_CHILD_SUBREAPER = 36


class Controller(VirtualRig):
    """The controller process (`chargepoint run` on the simulated board) whose output goes to a pipe drained
    into a short ring of lines (shown when the soak fails) instead of a file."""

    def __init__(self, backoffice_url: str, state_dir: Path) -> None:
        super().__init__(backoffice_url, identity=IDENTITY, board=str(builtin_board(BOARD)), state_dir=state_dir)
        self.tail: collections.deque[str] = collections.deque(maxlen=200)
        self.output_bytes = 0
        self.started_at = 0.0
        self._lock = asyncio.Lock()
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def start(self) -> None:
        cmd = [sys.executable, "-m", "controller", "run", "--state-dir", str(self.state_dir),
               "--backoffice", self.backoffice_url, "--identity", self.identity,
               "--sim-control", f"127.0.0.1:{self.port}", "--board", str(self.board)]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.started_at = time.monotonic()
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        await self._open(timeout=20.0)

    def _drain(self, pipe: Any) -> None:
        for line in pipe:
            self.output_bytes += len(line)
            self.tail.append(line.decode(errors="replace").rstrip())

    async def _open(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while True:
            try:
                self._conn = await asyncio.open_connection(self.host, self.port)
                return
            except OSError:
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.1)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        """A sim control API request; a dead or restarting controller is an error reply, not an exception. A
        request cancelled half-way drops the connection, so no later request reads its reply."""
        async with self._lock:
            try:
                if self._conn is None:
                    await self._open(timeout=1.0)
                assert self._conn is not None
                reader, writer = self._conn
                writer.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), 10)
                if not line:
                    raise ConnectionError("the controller closed the connection")
                return dict(json.loads(line))
            except asyncio.CancelledError:
                self._drop()
                raise
            except (OSError, TimeoutError, ValueError) as exc:
                self._drop()
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    async def close(self) -> None:
        self._drop()
        await super().close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def reap(pids: list[int], bound_s: float = 10.0) -> None:
    """Wait for the killed main process's children, which this process inherited as their subreaper (their
    write_bytes are then added to ours). They leave by themselves when their channel closes; one still there
    after `bound_s` is killed, as systemd's KillMode=mixed would."""
    end = time.monotonic() + bound_s
    left = list(pids)
    while left:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child (no subreaper): its parent is init now
                done = pid
            if done:
                left.remove(pid)
        if left and time.monotonic() > end:
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            end = float("inf")
            print(f"children {left} still there {bound_s:g} s after the main process: SIGKILLed", flush=True)
        if left:
            time.sleep(0.05)


def become_subreaper() -> None:
    """Become the subreaper of the controller's process tree (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("prctl(PR_SET_CHILD_SUBREAPER) failed: children of a killed main process are not counted", flush=True)
