"""Where the web interface listens: the board's [web] section with its defaults, the environment override,
and a listen address that cannot be bound (the station goes on; the server binds once it can)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from board.errors import BoardError
from board.loader import builtin_board, load_board
from controller.clock import FakeClock
from controller.web.server import BIND_RETRY_S, WebServer
from controller.web.settings import ENV_LISTEN, WebSettings
from tests.conftest import until
from tests.web.conftest import Web


def test_board_defaults_and_the_simulated_boards() -> None:
    real = load_board(builtin_board("cm4-rev1"))
    assert WebSettings.from_board(real.web, env={}) == WebSettings("0.0.0.0", 8080, False, enabled=True)
    sim = load_board(builtin_board("sim"))
    assert WebSettings.from_board(sim.web, env={}) == WebSettings("127.0.0.1", 0, True)
    assert WebSettings.from_board(sim.web, env={ENV_LISTEN: "0.0.0.0:8099"}) == WebSettings("0.0.0.0", 8099, True)
    assert WebSettings.from_board(sim.web, env={ENV_LISTEN: ":8098"}).listen == "127.0.0.1"
    with pytest.raises(ValueError, match=ENV_LISTEN):
        WebSettings.from_board(sim.web, env={ENV_LISTEN: "localhost"})


@pytest.mark.parametrize("line, problem", [
    ("port = 70000", "port"), ("status_public = 1", "status_public"), ("bogus = 1", "unknown key 'bogus'"),
])
def test_the_board_loader_checks_the_web_section(tmp_path: Path, line: str, problem: str) -> None:
    text = builtin_board("sim").read_text()
    path = tmp_path / "board.toml"
    path.write_text(text[:text.index("[web]")] + f"[web]\n{line}\n")
    with pytest.raises(BoardError, match=problem):
        load_board(path)


async def test_a_port_that_is_taken_is_retried_and_the_server_binds_once_it_is_free(web: Web) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    clock: FakeClock = web.clock
    server = WebServer(WebSettings("127.0.0.1", port, True), web.parts, {1: 1}, clock, web.trace.append)
    task = asyncio.ensure_future(server.run())
    try:
        await until(lambda: any("cannot listen" in line for line in web.trace), 5, "the bind failure")
        assert server.port is None and not task.done()
        await clock.advance(BIND_RETRY_S)
        assert sum("cannot listen" in line for line in web.trace) == 1  # said once, not at every retry
        holder.close()
        await clock.advance(BIND_RETRY_S)
        await until(lambda: server.port == port, 5, "the server to bind")
        assert f"web interface on http://127.0.0.1:{port}/" in web.trace
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        holder.close()


async def test_the_server_serves_again_when_its_task_is_restarted(web: Web) -> None:
    server = WebServer(WebSettings("127.0.0.1", 0, True), web.parts, {1: 1}, web.clock, web.trace.append)
    for _ in range(2):  # as the station's supervisor restarts a task that ended
        task = asyncio.ensure_future(server.run())
        try:
            await until(lambda: server.port is not None, 5, "the server to listen")
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /api/status HTTP/1.0\r\n\r\n")
            assert (await reader.readline()).split()[1] == b"200"
            writer.close()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert server.port is None


def test_without_a_web_interface_aiohttp_is_never_imported(tmp_path: Path) -> None:
    board = tmp_path / "board.toml"
    board.write_text(builtin_board("sim").read_text().replace("[web]\n", "[web]\nenabled = false\n"))
    script = (
        "import sys\n"
        "from board.loader import load_board\n"
        "import controller.app\n"
        "from controller.web.factory import NoWeb, web_server\n"
        "from controller.clock import SystemClock\n"
        f"web = web_server(load_board({str(board)!r}), SystemClock(), print, None)\n"
        "assert isinstance(web, NoWeb) and web.port is None\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "web interface off\n"
    env = {ENV_LISTEN: "off"}
    assert not WebSettings.from_board(load_board(builtin_board("sim")).web, env=env).enabled
