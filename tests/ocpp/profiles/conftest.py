"""Helpers of the OCPP feature-profile scenarios: a rig with chosen configuration, restarting the station
after a Reset or a firmware installation, taking the back office away and back, and small local HTTP and
FTP servers (for UpdateFirmware downloads and GetDiagnostics/GetLog uploads)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import Record
from tests.conftest import Rig, start_rig, stop_rig, until

logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pyftpdlib still imports asynchat
    import pyftpdlib.handlers  # noqa: F401


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await make_rig(config={...}, board="sim")`: a rig whose configuration is set before the start."""
    rigs: list[Rig] = []

    async def make(**kw: Any) -> Rig:
        r = await start_rig(tmp_path, **kw)
        rigs.append(r)
        return r

    try:
        yield make
    finally:
        for r in rigs:
            await stop_rig(r)


async def restart_after_reset(rig: Rig, tmp_path: Path, timeout: float = 15.0, board: str = "sim") -> None:
    """Wait until the station has stopped itself (Reset, firmware reboot), then start a new one on the same
    state directory, as the CLI runner does; `rig.station` is the new one afterwards."""
    old = rig.station
    await asyncio.wait_for(old.reset_done.wait(), timeout)
    after = len(rig.bo.records)
    station = Station(
        load_board(builtin_board(board)),
        tmp_path / "state",
        StationOptions(backoffice_url=rig.bo.url, identity=rig.identity),
        trace=rig.trace.append,
    )
    rig.station = station
    rig.sim.station = station
    await station.start()
    await rig.bo.wait_for("BootNotification", rig.identity, after=after, timeout=15)
    await until(lambda: station.link.online, 10, "boot accepted after the restart")


async def go_offline(rig: Rig) -> None:
    """The back office goes away (server stopped, connection cut): the station cannot reconnect."""
    await rig.bo.stop()
    await rig.bo.drop(rig.identity)
    await until(lambda: not rig.station.link.online, 5, "the station to notice it is offline")


async def go_online(rig: Rig) -> None:
    """The back office comes back on the same port; the station reconnects at once (a reconnection sends no
    BootNotification: the registration was accepted before)."""
    await rig.bo.start()
    rig.station.link.reconnect_now()
    await rig.bo.wait_connected(rig.identity, timeout=15)
    await until(lambda: rig.station.link.online, 10, "back online")


def calls(rig: Rig, action: str, after: int = 0) -> list[Record]:
    return [r for r in rig.bo.records[after:] if r.direction == "in" and r.action == action]


def statuses(rig: Rig, action: str, after: int = 0) -> list[str]:
    return [str(r.payload["status"]) for r in calls(rig, action, after)]


async def wait_statuses(rig: Rig, action: str, wanted: list[str], after: int = 0, timeout: float = 15.0) -> None:
    """Wait until the notifications `action` since `after` are exactly `wanted` (in order)."""
    try:
        await until(lambda: statuses(rig, action, after) == wanted or len(statuses(rig, action, after)) > len(wanted),
                    timeout, f"{action} {wanted}")
    finally:
        assert statuses(rig, action, after) == wanted


# -- a small HTTP server: GET serves files, POST/PUT store uploads ---------------------------------------------
@dataclass
class HttpFiles:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)  # path -> content served
    uploads: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, path, body)
    refuse_post: bool = False


@pytest.fixture
def http_files() -> Iterator[HttpFiles]:
    state = HttpFiles("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _store(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if method == "POST" and state.refuse_post:
                self.send_error(405)
                return
            state.uploads.append((method, self.path, body))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            self._store("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._store("PUT")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# -- a small FTP server (pyftpdlib) ------------------------------------------------------------------------------
@dataclass
class FtpServer:
    url: str  # ftp://user:password@127.0.0.1:port
    root: Path


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[FtpServer]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    root = tmp_path / "ftp"
    (root / "upload").mkdir(parents=True)
    authorizer = DummyAuthorizer()
    authorizer.add_user("cp", "secret", str(root), perm="elradfmw")

    class Handler(FTPHandler):
        auth_failed_timeout = 0.05  # pyftpdlib delays a wrong password by 3 s by default

    Handler.authorizer = authorizer
    server = FTPServer(("127.0.0.1", 0), Handler)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.05, "handle_exit": False}, daemon=True)
    thread.start()
    try:
        yield FtpServer(f"ftp://cp:secret@127.0.0.1:{port}", root)
    finally:
        server.close_all()
        with contextlib.suppress(RuntimeError):
            thread.join(2)
