"""Main-process side of the control process: starts it, talks to it, restarts it when it dies.

The main process only *asks*: `set_limits()` publishes per-connector limits (re-sent every 0.5 s, which is
also the heartbeat the loop watches), `send_config()` forwards evse-owned keys, `sim()` forwards simulator
commands and waits for the reply. Messages from the loop go to `on_message`. Sending never blocks: bytes
wait in a buffer until the socket takes them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.evse.messages import PROTOCOL_VERSION, Decoder, encode

log = logging.getLogger(__name__)

LIMITS_RESEND_S = 0.5
ONE_SHOT_KEYS = frozenset({"CalibrateTilt"})


class ControlProcessError(Exception):
    pass


class ControlProcess:
    def __init__(
        self,
        board_path: Path,
        on_message: Callable[[dict[str, Any]], None],
        *,
        tick_s: float = 0.01,
        main_silence_s: float = 3.0,
        restart_delay_s: float = 0.5,
        hang_timeout_s: float = 5.0,
        watchdog_s: float | None = None,
        rt_priority: int = 0,
    ) -> None:
        self.board_path = board_path
        self.on_message = on_message
        self.tick_s = tick_s
        self.main_silence_s = main_silence_s
        self.restart_delay_s = restart_delay_s
        self.hang_timeout_s = hang_timeout_s
        self.watchdog_s = watchdog_s  # the control process's dead-man timeout; None: its default
        self.rt_priority = rt_priority  # > 0: the control process asks for SCHED_FIFO at this priority
        self._last_heard = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.restarts = 0
        self.hello: dict[str, Any] | None = None
        self.last_stats: dict[str, Any] = {}
        self._limits: dict[str, Any] = {}
        self._config: dict[str, Any] = {}
        self._decoder = Decoder()
        self._out = bytearray()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._hello_event = asyncio.Event()

    # -- life cycle ------------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        parent, child = socket.socketpair()
        parent.setblocking(False)
        cmd = [
            sys.executable,
            "-m",
            "controller.evse.process",
            "--board",
            str(self.board_path),
            "--fd",
            str(child.fileno()),
            "--tick",
            str(self.tick_s),
            "--main-silence",
            str(self.main_silence_s),
        ]
        if self.watchdog_s is not None:
            cmd += ["--watchdog", str(self.watchdog_s)]
        if self.rt_priority > 0:
            cmd += ["--rt-priority", str(self.rt_priority)]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(cmd, pass_fds=[child.fileno()], env=env, start_new_session=True)
        child.close()
        self.sock = parent
        self._decoder = Decoder()
        self._out = bytearray()
        self._hello_event.clear()
        self._last_heard = time.monotonic()
        loop = asyncio.get_running_loop()
        loop.add_reader(parent.fileno(), self._on_readable)
        # the new process starts with what we asked of the old one
        if self._config:
            self._send({"t": "config", "values": self._config})
        self._send({"t": "limits", "connectors": self._limits})

    async def start(self, timeout: float = 10.0) -> None:
        self._stopping = False
        self._spawn()
        self._tasks = [
            asyncio.create_task(self._watch(), name="control-watch"),
            asyncio.create_task(self._heartbeat(), name="control-heartbeat"),
        ]
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self._hello_event.wait(), timeout)
        except TimeoutError as exc:
            raise ControlProcessError(f"the control process did not start within {timeout} s") from exc

    async def stop(self) -> None:
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._tasks = []
        if self.proc and self.proc.poll() is None:
            self._send({"t": "shutdown"})
            for _ in range(50):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    await asyncio.to_thread(self.proc.wait, 2.0)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
        self._close_sock()

    def _close_sock(self) -> None:
        if self.sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
                asyncio.get_running_loop().remove_writer(self.sock.fileno())
            except (ValueError, RuntimeError):
                pass
            self.sock.close()
            self.sock = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ControlProcessError("the control process went away"))
        self._pending.clear()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.1)
            if (
                self.proc is not None
                and self.proc.poll() is None
                and time.monotonic() - self._last_heard > self.hang_timeout_s
            ):
                log.error("control process silent for %.1f s: killing it", self.hang_timeout_s)
                self.on_message({"t": "hung", "silent_s": round(time.monotonic() - self._last_heard, 1)})
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
            if self.proc is not None and self.proc.poll() is not None and not self._stopping:
                code = self.proc.returncode
                log.error("control process died (exit %s); restarting", code)
                self._close_sock()
                self.on_message({"t": "died", "returncode": code})
                await asyncio.sleep(self.restart_delay_s)
                self.restarts += 1
                self._spawn()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(LIMITS_RESEND_S)
            self._send({"t": "limits", "connectors": self._limits})

    # -- messages --------------------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            return
        self._last_heard = time.monotonic()
        for msg in self._decoder.feed(data):
            t = msg["t"]
            if t == "hello":
                if msg.get("v") != PROTOCOL_VERSION:
                    log.error("control process speaks protocol %s, we speak %s", msg.get("v"), PROTOCOL_VERSION)
                self.hello = msg
                self._hello_event.set()
            elif t == "sim_reply":
                fut = self._pending.pop(msg.get("id", -1), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                continue
            elif t == "stats":
                self.last_stats = msg
            self.on_message(msg)

    def _send(self, msg: dict[str, Any]) -> None:
        if self.sock is None:
            return
        self._out += encode(msg)
        self._flush()

    def _flush(self) -> None:
        if self.sock is None:
            return
        loop = asyncio.get_running_loop()
        while self._out:
            try:
                n = self.sock.send(self._out)
            except BlockingIOError:
                loop.add_writer(self.sock.fileno(), self._flush)
                return
            except OSError:
                self._out.clear()
                return
            del self._out[:n]
        try:
            loop.remove_writer(self.sock.fileno())
        except (ValueError, RuntimeError):
            pass

    def set_limits(self, connectors: dict[int, dict[str, Any]]) -> None:
        """Publish the limits now (and keep re-sending them as the heartbeat)."""
        self._limits = {str(k): v for k, v in connectors.items()}
        self._send({"t": "limits", "connectors": self._limits})

    def send_config(self, values: dict[str, Any]) -> None:
        # one-shot actions (CalibrateTilt) are not replayed to a restarted control process
        self._config.update({k: v for k, v in values.items() if k not in ONE_SHOT_KEYS})
        self._send({"t": "config", "values": values})

    def clear_faults(self) -> None:
        self._send({"t": "clear_faults"})

    def sim_nowait(self, cmd: str, args: dict[str, Any]) -> None:
        """Forward a simulator command without waiting for its reply."""
        self._send({"t": "sim", "id": 0, "cmd": cmd, "args": args})

    async def sim(self, cmd: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Forward a simulator command to the control process and return its reply."""
        if self.sock is None:
            raise ControlProcessError("the control process is not running")
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._send({"t": "sim", "id": rid, "cmd": cmd, "args": args})
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)
