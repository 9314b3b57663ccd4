"""The OCPP 1.6J link: one websocket to the back office, boot handshake, heartbeat, reconnect.

Owns the connection only. It connects to `<url>/<identity>` with subprotocol `ocpp1.6`, runs the
BootNotification handshake (Rejected/Pending: retry after the interval the back office gives; Accepted:
take its heartbeat interval), then tells the station it is online. When the socket drops it reconnects with
exponential backoff and jitter, all through the injectable clock. Calls go out with `suppress=False` and
schema validation on (the `ocpp` library does that); a CallError or a timeout raises to the caller.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import websockets
from ocpp.v16 import call
from ocpp.v16.enums import RegistrationStatus
from websockets.asyncio.client import ClientConnection, connect

from controller.clock import Clock

log = logging.getLogger(__name__)


class NotConnected(Exception):
    """The back office is not reachable (or has not accepted our boot) right now."""


@dataclass
class LinkSettings:
    url: str  # back office URL without the identity
    identity: str
    vendor: str = "OpenChargePoint"
    model: str = "CM4-AC"
    firmware_version: str = "0.1.0"
    serial: str | None = None
    basic_auth_key: str | None = None  # SecurityProfile 1/2: HTTP Basic with the AuthorizationKey
    response_timeout_s: float = 30.0
    ping_interval_s: float | None = 30.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0


class OcppLink:
    def __init__(
        self,
        settings: Callable[[], LinkSettings],
        make_charge_point: Callable[[str, ClientConnection], Any],
        clock: Clock,
        on_online: Callable[[], Awaitable[None]],
        on_offline: Callable[[], None],
        on_heartbeat_interval: Callable[[int], None],
        log_line: Callable[[str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._make_cp = make_charge_point
        self.clock = clock
        self._on_online = on_online
        self._on_offline = on_offline
        self._on_heartbeat_interval = on_heartbeat_interval
        self._log = log_line or (lambda s: None)
        self.cp: Any = None
        self.ws: ClientConnection | None = None
        self.accepted = False
        self.registration: str | None = None
        self.connects = 0
        self._stop = False
        self._connected_event = asyncio.Event()
        self._wake = asyncio.Event()

    @property
    def online(self) -> bool:
        return self.accepted and self.ws is not None

    async def wait_online(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected_event.wait(), timeout)

    def reconnect_now(self) -> None:
        """Drop the connection (e.g. after a changed URL or security profile) and connect again at once."""
        self._wake.set()
        if self.ws is not None:
            asyncio.ensure_future(self.ws.close())

    async def stop(self) -> None:
        self._stop = True
        self._wake.set()
        if self.ws is not None:
            await self.ws.close()

    async def call(self, payload: Any, *, allow_before_accept: bool = False) -> Any:
        cp = self.cp
        if cp is None or self.ws is None or (not self.accepted and not allow_before_accept):
            raise NotConnected("not connected to the back office")
        try:
            return await cp.call(payload, suppress=False)
        except websockets.ConnectionClosed as exc:
            raise NotConnected(f"connection closed: {exc}") from exc

    def _headers(self, s: LinkSettings) -> dict[str, str]:
        if not s.basic_auth_key:
            return {}
        token = base64.b64encode(f"{s.identity}:{s.basic_auth_key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _sleep_or_wake(self, seconds: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def run(self) -> None:
        """Connect, boot, serve; reconnect with backoff until `stop()`."""
        backoff = self._settings().backoff_initial_s
        while not self._stop:
            s = self._settings()
            url = s.url.rstrip("/") + "/" + s.identity
            try:
                async with connect(
                    url,
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=self._headers(s),
                    open_timeout=10,
                    ping_interval=s.ping_interval_s,
                    ping_timeout=s.ping_interval_s,
                    max_size=2**20,
                ) as ws:
                    self.ws = ws
                    self.connects += 1
                    self._log(f"connected to {url}")
                    backoff = s.backoff_initial_s
                    self.cp = self._make_cp(s.identity, ws)
                    self.cp._response_timeout = s.response_timeout_s
                    reader = asyncio.create_task(self.cp.start(), name="ocpp-reader")
                    try:
                        await self._boot(s)
                        self._connected_event.set()
                        await self._on_online()
                        await reader
                    finally:
                        reader.cancel()
                        try:
                            await reader
                        except (asyncio.CancelledError, Exception):  # noqa: BLE001
                            pass
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.WebSocketException, TimeoutError, NotConnected) as exc:
                self._log(f"back office unreachable at {url}: {exc.__class__.__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - the link must survive anything the peer does
                log.exception("OCPP link error")
                self._log(f"link error: {exc!r}")
            was_online = self.accepted
            self.ws = None
            self.cp = None
            self.accepted = False
            self._connected_event.clear()
            if was_online:
                self._on_offline()
            if self._stop:
                break
            delay = backoff * random.uniform(0.75, 1.25)
            backoff = min(backoff * 2, s.backoff_max_s)
            await self._sleep_or_wake(delay)

    async def _boot(self, s: LinkSettings) -> None:
        while True:
            req = call.BootNotification(
                charge_point_vendor=s.vendor,
                charge_point_model=s.model,
                firmware_version=s.firmware_version,
                charge_point_serial_number=s.serial,
            )
            res = await self.cp.call(req, suppress=False)
            self.registration = res.status
            interval = int(res.interval or 0)
            if res.status == RegistrationStatus.accepted:
                self.accepted = True
                if interval > 0:
                    self._on_heartbeat_interval(interval)
                self._log(f"boot accepted, heartbeat interval {interval} s")
                return
            wait = interval if interval > 0 else 30
            self._log(f"boot {res.status}; retrying in {wait} s")
            await self.clock.sleep(wait)
