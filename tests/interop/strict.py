"""Driver for the strict, independent OCPP back office (`../shared/tools/strict-backoffice/csms.js`, built on
ocpp-rpc in strict schema mode): starts it under node, reads its JSON lines, sends it commands."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CSMS = ROOT.parent / "shared" / "tools" / "strict-backoffice" / "csms.js"
NODE_MODULES = Path(__file__).resolve().parent / "node_modules"


def unavailable_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not CSMS.exists():
        return f"{CSMS} not found"
    if not (NODE_MODULES / "ocpp-rpc").exists():
        return "ocpp-rpc is not installed (make test installs it with npm)"
    return None


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
