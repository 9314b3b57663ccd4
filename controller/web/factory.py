"""What the composition root calls: the web interface of a board, built from the station's parts. aiohttp is
imported only when the interface is enabled (a station without one does not pay for it at start-up)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from controller.clock import Clock
from controller.ports import Trace
from controller.web.settings import WebSettings
from controller.web.sources import WebParts

if TYPE_CHECKING:
    from board.loader import Board

__all__ = ["NoWeb", "WebParts", "WebService", "web_server"]


class WebService(Protocol):
    """The web interface as the station runs it (a supervised task) and tells where it is."""

    @property
    def port(self) -> int | None: ...

    @property
    def url(self) -> str: ...

    async def run(self) -> None: ...


class NoWeb:
    """The board (or CHARGEPOINT_WEB_LISTEN=off) says: no web interface."""

    port: int | None = None
    url = ""

    async def run(self) -> None:
        await asyncio.Event().wait()  # a supervised task runs for ever; this one has nothing to do


def web_server(board: Board, clock: Clock, trace: Trace, parts: WebParts) -> WebService:
    """The server for `board`'s [web] section (and the CHARGEPOINT_WEB_LISTEN override); `run()` serves."""
    settings = WebSettings.from_board(board.web)
    if not settings.enabled:
        trace("web interface off")
        return NoWeb()
    from controller.web.server import WebServer  # aiohttp: only when there is a web interface

    return WebServer(settings, parts, {c.id: c.phases for c in board.connectors}, clock, trace)
