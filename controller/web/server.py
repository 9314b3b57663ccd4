"""The aiohttp application of the web interface: pages and assets from `static/`, the JSON API, the live
feed (server-sent events), login and the guards on every route.

Guards: the status page, its API and its feed need a login unless the board makes the status public
(`[web] status_public`); sessions and configuration always need one; every write (a key, logout) needs the
session's CSRF token in the `X-CSRF-Token` header (the token is handed to the page by `/api/me`, which only a
page of this origin can read); the session cookie is HttpOnly, SameSite=Strict, and Secure when the request
came over TLS. Responses carry a Content-Security-Policy allowing this origin only (no inline script).

`run()` binds the listen address (retrying while it cannot: the web interface never takes the station down),
then ticks on the injected clock: once a second it rebuilds the status,
offers it to the history and publishes it on the live feed (`feed.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from controller.clock import Clock
from controller.ports import Trace
from controller.web.auth import PASSWORD_KEY, Logins, LoginSession
from controller.web.feed import LiveFeed, TooManyFeeds
from controller.web.history import History
from controller.web.keys import key_groups, write_key
from controller.web.pages import PAGES, render
from controller.web.sessions import session_rows, sessions_csv
from controller.web.settings import WebSettings
from controller.web.sources import WebParts
from controller.web.status import station_status

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
COOKIE = "cp_session"
CSRF_HEADER = "X-CSRF-Token"
TICK_S = 1.0
BIND_RETRY_S = 30.0
MAX_BODY = 64 * 1024
# aiohttp's own bound on closing connections at shutdown (real time, inside the library); the live feeds end
# by themselves when the server closes, so this only cuts a stuck client short
SHUTDOWN_S = 1.0
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _json_error(cls: type[web.HTTPException], message: str, **headers: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": message}), content_type="application/json", headers=headers)


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    if not response.prepared:
        response.headers.update(HEADERS)
    return response


class WebServer:
    def __init__(self, settings: WebSettings, parts: WebParts, phases: Mapping[int, int], clock: Clock,
                 trace: Trace) -> None:
        self.settings = settings
        self._parts = parts
        self._phases = dict(phases)
        self._clock = clock
        self._trace = trace
        self.logins = Logins(clock.monotonic, lambda pw: parts.config.check_password(PASSWORD_KEY, pw))
        self._login_lock = asyncio.Lock()
        self.history = History()
        self.port: int | None = None  # once bound
        self.feed = LiveFeed()
        self._html = {path: render(path) for path in PAGES}
        self.app = self._make_app()

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[_security_headers], client_max_size=MAX_BODY)
        r = app.router
        for path in PAGES:
            r.add_get(path, self._page)
        r.add_static("/static/", STATIC)
        r.add_get("/api/me", self._me)
        r.add_post("/api/login", self._login)
        r.add_post("/api/logout", self._logout)
        r.add_get("/api/status", self._status)
        r.add_get("/api/history", self._history)
        r.add_get("/api/events", self._events)
        r.add_get("/api/sessions", self._sessions)
        r.add_get("/api/sessions.csv", self._sessions_csv)
        r.add_get("/api/config", self._config)
        r.add_post("/api/config", self._write)
        return app

    # -- running ----------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve until cancelled (a supervised task of the station; it may be run again)."""
        self.feed.reopen()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        try:
            await self._listen(runner)
            self.port = int(runner.addresses[0][1])
            self._trace(f"web interface on {self.url}")
            while True:
                self.tick()
                await self._clock.sleep(TICK_S)
        finally:
            self.port = None
            self.feed.close()
            await runner.cleanup()

    async def _listen(self, runner: web.AppRunner) -> None:
        """Bind the listen address; while it cannot be bound (the port taken, the address not up yet) say so
        and try again every `BIND_RETRY_S`: the station charges on without its web interface meanwhile."""
        said = ""
        where = f"{self.settings.listen}:{self.settings.port}"
        while True:
            site = web.TCPSite(runner, self.settings.listen, self.settings.port)
            try:
                await site.start()
                return
            except OSError as exc:
                await site.stop()
                if str(exc) != said:
                    said = str(exc)
                    log.error("web interface cannot listen on %s: %s", where, exc)
                    self._trace(f"web interface cannot listen on {where}: {exc}; trying again every {BIND_RETRY_S:g} s")
            await self._clock.sleep(BIND_RETRY_S)

    @property
    def url(self) -> str:
        host = self.settings.listen
        host = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def tick(self) -> None:
        """Rebuild the status, keep a history sample when one is due, wake the live feeds."""
        try:
            status = station_status(self._parts, self._phases, self._clock.now().timestamp())
        except Exception:  # noqa: BLE001 - a page must never take the server down; the log says why
            log.exception("web: building the status failed")
            return
        sample = self.history.offer(self._clock.monotonic(), status)
        self.feed.publish(json.dumps({"status": status, "sample": sample}))

    # -- guards -----------------------------------------------------------------------------------------------
    def _session(self, request: web.Request, refresh: bool = True) -> LoginSession | None:
        return self.logins.session(request.cookies.get(COOKIE), refresh)

    def _require(self, request: web.Request, public: bool = False) -> LoginSession | None:
        session = self._session(request)
        if session is None and not public:
            raise _json_error(web.HTTPUnauthorized, "login required")
        return session

    def _require_write(self, request: web.Request) -> LoginSession:
        session = self._require(request)
        assert session is not None
        if not self.logins.csrf_ok(session, request.headers.get(CSRF_HEADER)):
            raise _json_error(web.HTTPForbidden, "missing or wrong CSRF token")
        return session

    # -- pages ------------------------------------------------------------------------------------------------
    async def _page(self, request: web.Request) -> web.StreamResponse:
        access = PAGES[request.path].access
        public = access == "public" or (access == "status" and self.settings.status_public)
        if not public and self._session(request) is None:
            raise web.HTTPFound(f"/login?next={request.path}")
        return web.Response(text=self._html[request.path], content_type="text/html")

    # -- login ------------------------------------------------------------------------------------------------
    async def _me(self, request: web.Request) -> web.Response:
        session = self._session(request)
        return web.json_response({"logged_in": session is not None, "csrf": session.csrf if session else None,
                                  "status_public": self.settings.status_public})

    async def _login(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        password = body.get("password")
        if not isinstance(password, str):
            raise _json_error(web.HTTPBadRequest, "expected {\"password\": \"...\"}")
        peer = request.remote or "?"
        async with self._login_lock:  # one check at a time: parallel guesses cannot outrun the limit
            wait = self.logins.retry_after(peer)
            if wait is not None:
                self._trace(f"web: login from {peer} refused: too many failed attempts")
                raise _json_error(web.HTTPTooManyRequests, "too many failed logins; try again later",
                                  **{"Retry-After": str(int(wait) + 1)})
            ok = await asyncio.to_thread(self.logins.password_ok, password)
            session = self.logins.record(peer, ok)
        self._trace(f"web: installer login from {peer} {'accepted' if session else 'refused'}")
        if session is None:
            raise _json_error(web.HTTPUnauthorized, "wrong password")
        response = web.json_response({"logged_in": True, "csrf": session.csrf})
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", secure=request.secure, path="/")
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        session = self._require_write(request)
        self.logins.logout(session.token)
        response = web.json_response({"logged_in": False})
        response.del_cookie(COOKIE, path="/")
        return response

    # -- status -----------------------------------------------------------------------------------------------
    async def _status(self, request: web.Request) -> web.Response:
        self._require(request, self.settings.status_public)
        return web.json_response(station_status(self._parts, self._phases, self._clock.now().timestamp()))

    async def _history(self, request: web.Request) -> web.Response:
        self._require(request, self.settings.status_public)
        h = self.history
        return web.json_response({"span_s": h.span_s, "sample_s": h.sample_s, "samples": h.samples()})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """The live feed: the status (and any new history sample) once a tick, as server-sent events."""
        public = self.settings.status_public
        self._require(request, public)
        try:  # a private page's stream ends with its session (a logout, the idle time)
            return await self.feed.stream(request, HEADERS,
                                          lambda: public or self._session(request, refresh=False) is not None)
        except TooManyFeeds:
            raise _json_error(web.HTTPServiceUnavailable, "too many live feeds open", **{"Retry-After": "10"}) from None

    # -- sessions ---------------------------------------------------------------------------------------------
    async def _sessions(self, request: web.Request) -> web.Response:
        self._require(request)
        return web.json_response({"sessions": session_rows(self._parts.journal)})

    async def _sessions_csv(self, request: web.Request) -> web.Response:
        self._require(request)
        return web.Response(text=sessions_csv(session_rows(self._parts.journal)), content_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="sessions.csv"'})

    # -- configuration ----------------------------------------------------------------------------------------
    async def _config(self, request: web.Request) -> web.Response:
        self._require(request)
        return web.json_response({"groups": key_groups(self._parts.config)})

    async def _write(self, request: web.Request) -> web.Response:
        self._require_write(request)
        body = await _json_body(request)
        key, value = body.get("key"), body.get("value")
        if not isinstance(key, str) or not isinstance(value, str):
            raise _json_error(web.HTTPBadRequest, "expected {\"key\": \"...\", \"value\": \"...\"}")
        status = await write_key(self._parts.config, self._parts.writer, self._trace, key, value,
                                 f"installer at {request.remote or '?'}")
        return web.json_response({"key": key, "status": status})


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise _json_error(web.HTTPBadRequest, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _json_error(web.HTTPBadRequest, "expected a JSON object")
    return body
