"""Driver for the project's strict, independent OCPP back office (`csms.js` beside this file, built on
ocpp-rpc in strict schema mode): starts it under node, reads its JSON lines, sends it commands.

Skips must be visible and honest: once `make test` has installed the back office (`npm ci` succeeded and left
`node_modules/.installed`), nothing may skip these tests; a missing node or package is then a failure."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hil.rig import VirtualRig

HERE = Path(__file__).resolve().parent
CSMS = HERE / "csms.js"
NODE_MODULES = HERE / "node_modules"
INSTALLED = NODE_MODULES / ".installed"  # written by `make test` after a successful `npm ci`


def unavailable_reason() -> str | None:
    """Why the interop tests cannot run, or None. None whenever `make test` installed the back office."""
    if INSTALLED.exists():
        return None  # installed: run, and fail loudly if node or ocpp-rpc is missing after all
    if shutil.which("npm") is None:
        return "npm is not installed, so make test could not install the strict back office"
    return "the strict back office is not installed (make test runs npm ci in tests/interop)"


class StrictBackOffice:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
        self.proc = await asyncio.create_subprocess_exec(
            "node", str(CSMS), str(self.port), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait(lambda m: m.get("dir") == "listening", 15, "listening")
        return self.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append({"dir": "unparsed", "raw": line.decode(errors="replace")})

    async def wait(self, pred: Any, timeout: float = 10.0, what: str = "", after: int = 0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            for m in self.lines[after:]:
                if pred(m):
                    return m
            if time.monotonic() > end:
                raise AssertionError(f"strict back office: no {what} within {timeout} s; saw {self.lines[-8:]}")
            await asyncio.sleep(0.02)

    async def wait_in(self, action: str, timeout: float = 10.0, pred: Any = None, after: int = 0) -> dict[str, Any]:
        return await self.wait(
            lambda m: m.get("dir") == "in" and m.get("action") == action and (pred is None or pred(m["params"])),
            timeout, action, after,
        )

    async def command(self, cmd: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        cid = next(self._ids)
        self.proc.stdin.write(json.dumps({"id": cid, **cmd}).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.wait(lambda m: m.get("id") == cid and m.get("dir") in ("result", "error"), timeout, f"reply {cid}")

    async def call(self, action: str, params: dict[str, Any], to: str | None = None) -> dict[str, Any]:
        reply = await self.command({"call": action, "params": params, **({"to": to} if to else {})})
        if reply["dir"] == "error":
            raise AssertionError(f"{action} failed at the strict back office: {reply}")
        return dict(reply["result"])

    def violations(self) -> list[dict[str, Any]]:
        return [m for m in self.lines if m.get("dir") in ("invalid", "bad", "unparsed")]

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


@contextlib.asynccontextmanager
async def strict_session(state_dir: Path, identity: str) -> AsyncIterator[tuple[StrictBackOffice, VirtualRig]]:
    """The strict back office and the controller as a real process (the virtual rig) connected to it; on leaving,
    both are stopped and no frame may have broken the schema in either direction."""
    bo = StrictBackOffice()
    await bo.start()
    rig = VirtualRig(bo.url, identity=identity, state_dir=state_dir)
    await rig.start()
    try:
        yield bo, rig
    finally:
        await rig.close()
        await bo.stop()
        assert bo.violations() == []
