"""What the composition root calls: the web interface of a board, built from the station's parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.clock import Clock
from controller.ports import Trace
from controller.web.server import WebServer
from controller.web.settings import WebSettings
from controller.web.sources import WebParts

if TYPE_CHECKING:
    from board.loader import Board


def web_server(board: Board, clock: Clock, trace: Trace, parts: WebParts) -> WebServer:
    """The server for `board`'s [web] section (and the CHARGEPOINT_WEB_LISTEN override); `run()` serves."""
    phases = {c.id: c.phases for c in board.connectors}
    return WebServer(WebSettings.from_board(board.web), parts, phases, clock, trace)
