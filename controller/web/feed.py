"""The live feed of the status page: the latest status message, published once a tick, streamed to every open
page as server-sent events (`event: status`); at most `MAX_FEEDS` streams at once. A stream ends when its
client leaves (at its next write), when `still_allowed()` turns false (a logout) or when the feed closes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from aiohttp import web

MAX_FEEDS = 16  # streams open at once (more are refused: a page on the LAN must not eat the station's memory)


class TooManyFeeds(Exception):
    """`MAX_FEEDS` streams are open already."""


class LiveFeed:
    def __init__(self) -> None:
        self.open = 0  # streams open now
        self._latest = ""
        self._version = 0
        self._changed = asyncio.Event()
        self._closing = False

    @property
    def latest(self) -> str:
        return self._latest

    def publish(self, message: str) -> None:
        """A new message for every stream."""
        self._latest = message
        self._wake()

    def reopen(self) -> None:
        self._closing = False

    def close(self) -> None:
        """End every stream (the server stops)."""
        self._closing = True
        self._wake()

    def _wake(self) -> None:
        self._version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def stream(self, request: web.Request, headers: Mapping[str, str],
                     still_allowed: Callable[[], bool]) -> web.StreamResponse:
        """Serve one stream until it ends (`TooManyFeeds` when the limit is reached)."""
        if self.open >= MAX_FEEDS:
            raise TooManyFeeds
        self.open += 1
        response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream",
                                               "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            sent = -1
            while not self._closing and still_allowed():
                changed = self._changed
                if self._version != sent and self._latest:
                    sent = self._version
                    await response.write(f"event: status\ndata: {self._latest}\n\n".encode())
                await changed.wait()
        except ConnectionResetError:
            pass  # the client left
        finally:
            self.open -= 1
        return response
