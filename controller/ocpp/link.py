"""The OCPP 1.6J link: one websocket to the back office, boot handshake, keepalive, heartbeat, reconnect.

Owns the connection only. Each attempt asks for fresh `LinkSettings` (so a changed URL, security profile,
AuthorizationKey or proxy applies on the next connect) and connects to `<url>/<identity>` with subprotocol
`ocpp1.6`, through an HTTP CONNECT proxy when one is configured, over TLS for wss:// (server certificate
verified; a client certificate for SecurityProfile 3), with HTTP Basic auth for profiles 1 and 2.
`connect_plan` is the last word on what is opened: at SecurityProfile 2 and 3 nothing but wss:// with the
station's own TLS context (`tls.OcppTlsContext`), whatever URL or context it is handed; user:password@ in a
URL is never sent. After every attempt `on_attempt(settings, url, error)` is told how it went (the security
service turns refused handshakes into security events and manages the client certificate).

After the socket opens it runs the BootNotification handshake (Rejected/Pending: retry after the interval the
back office gives, the back office may call us meanwhile while Pending; Accepted: take its heartbeat interval),
then tells the station it is online. BootNotification follows a start-up, not every reconnection: once
Accepted, a later connection of the same process is online at once (a back office may take a boot as "the
charge point restarted" and close its open transactions). While online it sends Heartbeats (HeartbeatInterval after the last
exchange, or every interval with HeartBeatSendAllways) and websocket pings (WebSocketPingInterval; no pong
within WS timeout = dead link). When the socket drops it reconnects with exponential backoff and jitter; after
`FALLBACK_AFTER` failed attempts on one back office path it tries the other (BackOffice-Path-wired2).

Every timer (reply timeout, open timeout, ping, heartbeat, backoff, boot retry) runs on the injected clock,
so tests drive them with `FakeClock`. Calls go out with `suppress=False` and schema validation on; a CallError
(whatever its code) or a reply that is not valid raises `OCPPError`, no reply within the OCPP-reply timeout
raises `TimeoutError`, a lost connection raises
`NotConnected`.

Parts it delegates to: `connect` (the connect plan, credentials and back office path), `linkwaits` (the waits on
the clock, the CALL slot, ending tasks) and `bootanswer` (clamping a boot answer's intervals, adopting its time).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import websockets
from ocpp.exceptions import GenericError, OCPPError
from ocpp.v16 import call
from ocpp.v16.enums import RegistrationStatus
from websockets.asyncio.client import ClientConnection

from controller.clock import Clock
from controller.ocpp.bootanswer import DEFAULT_BOOT_RETRY_S, adopt_time, boot_retry_s, heartbeat_interval_s
from controller.ocpp.connect import FALLBACK_AFTER as FALLBACK_AFTER  # re-exported: the link's public names
from controller.ocpp.connect import BackOfficePaths, credentials, open_socket
from controller.ocpp.connect import connect_plan as connect_plan
from controller.ocpp.linkwaits import acquire_or_lost, finish, race, sleep_or
from controller.ports import NotConnected
from controller.redact import redact_url

if TYPE_CHECKING:
    from controller.ocpp.certstore import ClientPair

log = logging.getLogger(__name__)

T = TypeVar("T")

BOOT_ON_RECONNECT = False  # BootNotification after start-up only (and until Accepted), not on every reconnect
CONSUME_WAIT_S = 5.0  # (real time) at most this long the reader waits for a caller to take its result
NO_LIBRARY_TIMEOUT = 10.0 * 365 * 86400  # the ocpp library's own (real-time) reply timer must never fire first


def installed_version() -> str:
    """The installed chargepoint package's version (an A/B slot's): what BootNotification reports."""
    try:
        return importlib.metadata.version("chargepoint")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


@dataclass
class LinkSettings:
    url: str  # back office URL without the identity (primary path)
    identity: str
    fallback_urls: list[str] = field(default_factory=list)  # tried after FALLBACK_AFTER failures
    vendor: str = "OpenChargePoint"
    model: str = "CM4-AC"
    firmware_version: str = field(default_factory=installed_version)
    serial: str | None = None
    basic_auth_key: str | None = None  # SecurityProfile 1/2: HTTP Basic with the AuthorizationKey
    basic_auth_decoded: bool = False  # send the bytes the hex AuthorizationKey encodes, not the hex text
    ssl_context: ssl.SSLContext | None = None  # wss://
    client_pair: ClientPair | None = None  # SecurityProfile 3: the client certificate in ssl_context
    proxy: str | None = None  # http://[user:password@]host:port (HTTP CONNECT)
    security_profile: int = 0
    subprotocol: str = "ocpp1.6"
    response_timeout_s: float = 60.0  # OCPP-reply timeout
    open_timeout_s: float = 30.0  # TCP + proxy + TLS + HTTP upgrade
    ping_interval_s: float | None = 120.0  # WebSocketPingInterval; None/0: we send no pings
    ping_timeout_s: float = 10.0  # WS timeout
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 120.0
    enabled: bool = True  # False: do not connect at all (Network None/Wireless, no URL, missing certificate)
    disabled_reason: str = ""


@dataclass
class HeartbeatSettings:
    interval_s: int = 0  # 0: no heartbeats
    send_always: bool = False


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
        heartbeat: Callable[[], HeartbeatSettings] | None = None,
        rng: random.Random | None = None,
        on_attempt: Callable[[LinkSettings, str, BaseException | None], None] | None = None,
    ) -> None:
        self._settings = settings
        self._make_cp = make_charge_point
        self.clock = clock
        self._on_online = on_online
        self._on_offline = on_offline
        self._on_heartbeat_interval = on_heartbeat_interval
        self._log = log_line or (lambda s: None)
        self._heartbeat = heartbeat or (lambda: HeartbeatSettings())
        self._rng = rng or random.Random()
        self._on_attempt = on_attempt or (lambda s, url, error: None)
        self.cp: Any = None
        self.ws: ClientConnection | None = None
        self.accepted = False
        self.registration: str | None = None
        self.connects = 0  # sockets opened
        self.pings = 0  # keepalive pings sent, and the pongs that answered them (observable by tests and diagnostics)
        self.pongs = 0
        self.generation = 0  # accepted boots; a new value means "online again"
        self.failures = 0  # consecutive failed attempts
        self.current_url: str | None = None
        self.current_settings: LinkSettings | None = None  # what the live connection was made with
        self.last_error: str | None = None
        self.last_exchange = clock.monotonic()  # last frame from the back office
        self.last_heartbeat = clock.monotonic()
        self.heartbeats = 0
        self._paths = BackOfficePaths(self._log)
        self._stop = False
        self._connected_event = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._boot_wake = asyncio.Event()
        self._hb_wake = asyncio.Event()
        self._gen_changed = asyncio.Event()
        self._call_slot = asyncio.Lock()  # one CALL at a time (held from sending until the reply or timeout)
        self._inflight: dict[str, asyncio.Event] = {}  # unique id -> set when its caller is done with the result
        self._disabled_logged: str | None = None

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.accepted and self.ws is not None

    async def wait_online(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected_event.wait(), timeout)

    async def wait_generation_after(self, generation: int) -> None:
        """Until a boot newer than `generation` has been accepted (i.e. we are online again)."""
        while self.generation <= generation or not self.online:
            ev = self._gen_changed
            await ev.wait()

    def registration_status(self) -> str | None:
        """What the back office made of our boot on this connection: Accepted, Pending, Rejected, or None."""
        return RegistrationStatus.accepted if self.accepted else self.registration

    def reconnect_now(self) -> None:
        """Drop the connection (e.g. after a changed security profile or key) and connect again at once."""
        self._wake.set()
        ws = self.ws
        if ws is not None:
            self._log("reconnecting (settings changed)")
            asyncio.ensure_future(self._close(ws))

    def reconnect_if_changed(self) -> bool:
        """Reconnect when the security profile or the AuthorizationKey differ from what this connection used
        (a refused ChangeConfiguration changes nothing and keeps the connection)."""
        used = self.current_settings
        if used is None or self.ws is None:
            return False
        fresh = self._settings()
        if credentials(fresh) == credentials(used):
            return False
        self.reconnect_now()
        return True

    def trigger_boot(self) -> None:
        """Send the next BootNotification now (TriggerMessage while Pending/Rejected)."""
        self._boot_wake.set()

    def heartbeat_changed(self) -> None:
        self._hb_wake.set()

    async def stop(self) -> None:
        self._stop = True
        self._wake.set()
        ws = self.ws
        if ws is not None:
            await self._close(ws)

    @staticmethod
    async def _close(ws: ClientConnection) -> None:
        try:
            await asyncio.wait_for(ws.close(), 2.0)
        except Exception:  # noqa: BLE001 - a half-dead socket: just cut it
            with contextlib.suppress(Exception):
                ws.transport.abort()

    # -- timers on the injected clock (controller.ocpp.linkwaits) -------------------------------------------
    async def _race(self, aw: Awaitable[T], timeout: float | None, closed: asyncio.Event | None = None) -> T:
        return await race(self.clock, aw, timeout, closed)

    async def _sleep_or(self, seconds: float, *events: asyncio.Event) -> bool:
        return await sleep_or(self.clock, seconds, *events)

    # -- calls -----------------------------------------------------------------------------------------------
    async def call(
        self,
        payload: Any,
        *,
        allow_before_accept: bool = False,
        timeout: float | None = None,
        unique_id: str | None = None,
        on_result: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send a request and return the result. `on_result` runs on the result before the next frame from the
        back office is handled: what it records (a transactionId) is known to the calls that follow it."""
        cp, ws = self.cp, self.ws
        if cp is None or ws is None or (not self.accepted and not allow_before_accept):
            raise NotConnected("not connected to the back office")
        limit = timeout if timeout is not None else self._reply_timeout
        uid = unique_id or str(uuid.uuid4())
        closed = self._closed_event
        # One CALL at a time: wait for the slot first, so the reply timer counts from when the frame goes out,
        # not from when the caller queued up behind an unanswered call.
        await acquire_or_lost(self._call_slot, closed)
        done = asyncio.Event()
        self._inflight[uid] = done
        try:
            if self.cp is not cp:
                raise NotConnected("connection replaced while waiting to send")
            try:
                result = await self._race(cp.call(payload, suppress=False, unique_id=uid), limit, closed)
            except websockets.ConnectionClosed as exc:
                raise NotConnected(f"connection closed: {exc}") from exc
            except (OCPPError, TimeoutError, NotConnected, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - a CALLERROR with a code OCPP does not define, a reply the
                # library cannot build: the back office failed to process the call, like any CALLERROR
                raise GenericError(description=f"{exc.__class__.__name__}: {exc}"[:300]) from exc
            self.last_exchange = self.clock.monotonic()
            self.take_time(getattr(result, "current_time", None))  # BootNotification.conf, Heartbeat.conf
            if on_result is not None:
                on_result(result)
            return result
        finally:
            self._call_slot.release()
            done.set()
            self._inflight.pop(uid, None)

    _reply_timeout: float = 60.0

    # -- the connection loop -----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, boot, serve; reconnect with backoff until `stop()`."""
        attempt = 0
        while not self._stop:
            s = self._settings()
            if not s.enabled:
                if self._disabled_logged != s.disabled_reason:
                    self._log(f"not connecting to a back office: {s.disabled_reason}")
                    self._disabled_logged = s.disabled_reason
                await self._sleep_or(60.0, self._wake)
                continue
            self._disabled_logged = None
            url = self._paths.pick(s)
            self.current_url = url
            self._reply_timeout = s.response_timeout_s
            generation = self.generation
            self._wake.clear()  # a reconnect_now() from here on cuts the backoff wait after this attempt short
            try:
                ws = await self._race(open_socket(url, s), s.open_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - anything the network does is a failed attempt
                self._failed(url, exc)
                self._tell_attempt(s, url, exc)
            else:
                self._tell_attempt(s, url, None)
                try:
                    await self._serve(ws, s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the link must survive anything the peer does
                    if not isinstance(exc, NotConnected | websockets.ConnectionClosed | TimeoutError | OSError):
                        log.exception("OCPP link error")
                    self._log(f"connection to {url} ended: {exc.__class__.__name__}: {exc}")
            if self._stop:
                break
            if self.generation > generation:
                attempt = 0  # a connection that worked (however it ended, a clean close too): come back quickly
            delay = min(s.backoff_max_s, s.backoff_initial_s * (2**attempt)) * self._rng.uniform(0.75, 1.25)
            attempt = min(attempt + 1, 30)
            await sleep_or(self.clock, delay, self._wake, clear=False)  # a wake set meanwhile still counts

    def _failed(self, url: str, exc: BaseException) -> None:
        self.failures += 1
        self._paths.failures += 1
        text = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        self.last_error = text
        self._log(f"back office unreachable at {url}: {text}")

    def _tell_attempt(self, s: LinkSettings, url: str, error: BaseException | None) -> None:
        try:
            self._on_attempt(s, url, error)
        except Exception:  # noqa: BLE001 - an observer must not break the connection loop
            log.exception("connection attempt observer failed")

    async def _serve(self, ws: ClientConnection, s: LinkSettings) -> bool:
        """One connection's life; returns whether the back office accepted our boot on it."""
        if ws.subprotocol != s.subprotocol:
            self._log(f"back office did not agree to subprotocol {s.subprotocol} (got {ws.subprotocol})")
        self.ws = ws
        self.current_settings = s
        self.connects += 1
        self.failures = 0
        self._paths.failures = 0
        self._closed_event = asyncio.Event()
        self._log(f"connected to {self.current_url}" + (f" via proxy {redact_url(s.proxy)}" if s.proxy else ""))
        cp = self._make_cp(s.identity, ws)
        if hasattr(cp, "registration_status"):
            cp.registration_status = self.registration_status
        self._count_exchanges(cp)
        self.cp = cp
        reader = asyncio.create_task(cp.start(), name="ocpp-reader")
        # a reader stuck in a handler would not see the socket close: watch it separately
        closed = asyncio.create_task(ws.wait_closed(), name="ocpp-closed")
        helpers: list[asyncio.Task[Any]] = [closed]
        online = False
        try:
            if self.generation > 0 and not BOOT_ON_RECONNECT:
                # Not a reboot: the back office accepted us before; OCPP 1.6 sends BootNotification after start-up.
                self.accepted = True
                self._log("reconnected (registration Accepted earlier: no BootNotification)")
                boot = asyncio.create_task(asyncio.sleep(0), name="ocpp-reconnect")
            else:
                boot = asyncio.create_task(self._boot(s), name="ocpp-boot")
            done, _ = await asyncio.wait({reader, boot, closed}, return_when=asyncio.FIRST_COMPLETED)
            if boot not in done:
                await finish(boot)
                if reader.done():
                    reader.result()  # raises why the socket ended
                raise NotConnected("the socket closed during the boot handshake")
            boot.result()
            online = True
            self.generation += 1
            self._signal_generation()
            self._connected_event.set()
            helpers.append(asyncio.create_task(self._heartbeats(), name="ocpp-heartbeat"))
            if s.ping_interval_s:
                helpers.append(asyncio.create_task(self._keepalive(ws, s), name="ocpp-keepalive"))
            await self._on_online()
            await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                reader.result()
            return True
        finally:
            self._closed_event.set()
            with contextlib.suppress(Exception):
                ws.transport.abort()  # the reader's recv() ends, whatever else it waits for
            await finish(reader, *helpers)
            self.ws = None
            self.cp = None
            self.accepted = False
            self._connected_event.clear()
            self._signal_generation()
            with contextlib.suppress(Exception):
                ws.transport.abort()
            if online:
                self._on_offline()

    def _signal_generation(self) -> None:
        ev, self._gen_changed = self._gen_changed, asyncio.Event()
        ev.set()

    def _count_exchanges(self, cp: Any) -> None:
        """Every frame from the back office counts as an exchange (HeartbeatInterval counts from the last one)."""
        route = cp.route_message

        async def routed(raw: Any) -> None:
            self.last_exchange = self.clock.monotonic()
            await route(raw)
            if self._inflight and isinstance(raw, str) and raw.lstrip()[:2] in ("[3", "[4"):
                # the answer to one of our calls: let its caller finish with it before the next frame (a
                # RemoteStopTransaction right behind StartTransaction.conf must find the new transactionId)
                try:
                    done = self._inflight.get(str(json.loads(raw)[1]))
                except (ValueError, IndexError, TypeError, KeyError):
                    done = None
                if done is not None:
                    # not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as the
                    # awaited event is set, and the reader then never ends (the cleanup waited for ever)
                    waiter = asyncio.ensure_future(done.wait())
                    try:
                        await asyncio.wait({waiter}, timeout=CONSUME_WAIT_S)
                    finally:
                        waiter.cancel()

        cp.route_message = routed

    async def _boot(self, s: LinkSettings) -> None:
        """BootNotification until Accepted, on this connection. A CALLERROR, an invalid reply or no reply is
        tried again after DEFAULT_BOOT_RETRY_S (a TriggerMessage or a reconnect comes sooner)."""
        while True:
            req = call.BootNotification(
                charge_point_vendor=s.vendor,
                charge_point_model=s.model,
                firmware_version=s.firmware_version,
                charge_point_serial_number=s.serial,
            )
            try:
                res = await self.call(req, allow_before_accept=True)
            except NotConnected:
                raise
            except Exception as exc:  # noqa: BLE001 - CALLERROR, schema-invalid or no reply: try again later
                self._log(f"BootNotification failed ({exc.__class__.__name__}: {exc}); "
                          f"next one in {DEFAULT_BOOT_RETRY_S} s")
                await self._sleep_or(DEFAULT_BOOT_RETRY_S, self._boot_wake)
                continue
            self.registration = res.status
            self.boot_answered(res)
            if res.status == RegistrationStatus.accepted:
                return
            wait = boot_retry_s(res.interval)
            self._log(f"boot {res.status}; next BootNotification in {wait} s")
            await self._sleep_or(wait, self._boot_wake)

    def boot_answered(self, res: Any) -> None:
        """An answer to a BootNotification (ours at start-up, or a triggered one while online): an Accepted
        one's interval sets HeartbeatInterval (clamped to HEARTBEAT_RANGE_S, never ignored)."""
        if res.status != RegistrationStatus.accepted:
            return
        self.accepted = True
        self.last_heartbeat = self.clock.monotonic()
        interval = heartbeat_interval_s(res.interval)
        if interval is not None:
            self._on_heartbeat_interval(interval)
        if interval != res.interval:
            self._log(f"boot accepted, heartbeat interval {res.interval!r} s taken as {interval} s")
        else:
            self._log(f"boot accepted, heartbeat interval {interval} s")

    def take_time(self, current_time: Any) -> None:
        """A currentTime from the back office (BootNotification.conf, Heartbeat.conf); see `adopt_time`."""
        adopt_time(self.clock, current_time, self._log)

    async def _heartbeats(self) -> None:
        while True:
            hb = self._heartbeat()
            if hb.interval_s <= 0:
                await self._sleep_or(3600.0, self._hb_wake)
                continue
            base = self.last_heartbeat if hb.send_always else max(self.last_heartbeat, self.last_exchange)
            due = base + hb.interval_s - self.clock.monotonic()
            if due > 0:
                await self._sleep_or(due, self._hb_wake)
                continue
            self.last_heartbeat = self.clock.monotonic()
            try:
                await self.call(call.Heartbeat())
                self.heartbeats += 1
            except NotConnected:
                return
            except Exception as exc:  # noqa: BLE001 - a failed heartbeat is logged; the keepalive judges the link
                self._log(f"Heartbeat failed: {exc.__class__.__name__}: {exc}")

    async def _keepalive(self, ws: ClientConnection, s: LinkSettings) -> None:
        interval = float(s.ping_interval_s or 0)
        while True:
            await self.clock.sleep(interval)
            try:
                pong = await ws.ping()
                self.pings += 1
                await self._race(pong, s.ping_timeout_s)
                self.pongs += 1
            except TimeoutError:
                self._log(f"no pong within {s.ping_timeout_s:g} s: the link is dead, reconnecting")
                ws.transport.abort()
                return
            except websockets.ConnectionClosed:
                return
