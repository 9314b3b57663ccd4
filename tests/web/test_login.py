"""Installer login: the service password (stored as a hash), session cookies, CSRF tokens on writes, rate
limiting on the injected clock, and what needs a login."""

from __future__ import annotations

from pathlib import Path

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.web.auth import GLOBAL_MAX_FAILURES, IDLE_S, MAX_FAILURES, PASSWORD_KEY, WINDOW_S, Logins
from controller.web.server import COOKIE
from tests.conftest import until
from tests.web.conftest import PASSWORD, Web


async def test_login_sets_a_strict_httponly_cookie_and_a_wrong_password_is_refused(web: Web) -> None:
    assert PASSWORD not in web.registry.stored("PW-SetChargerPassword")  # the registry keeps a salted hash
    r = await web.client.post("/api/login", json={"password": "wrong-password"})
    assert r.status == 401
    r = await web.client.post("/api/login", json={"password": PASSWORD})
    assert r.status == 200
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS the cookie is Secure
    me = await (await web.client.get("/api/me")).json()
    assert me["logged_in"] and me["csrf"] == (await r.json())["csrf"]
    assert any("installer login from" in line and "accepted" in line for line in web.trace)
    assert not any(PASSWORD in line for line in web.trace)


def test_without_a_password_configured_nobody_logs_in(tmp_path: Path) -> None:
    registry = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    assert registry.check_password(PASSWORD_KEY, "")  # the registry's rule: no password set, '' matches
    logins = Logins(FakeClock().monotonic, lambda pw: registry.check_password(PASSWORD_KEY, pw))
    assert not logins.password_ok("") and not logins.password_ok(PASSWORD)


async def test_an_empty_password_is_refused(web: Web) -> None:
    assert (await web.client.post("/api/login", json={"password": ""})).status == 401
    assert (await web.client.post("/api/login", json={})).status == 400


async def test_configuration_and_sessions_are_never_public(web: Web) -> None:
    for path in ("/api/config", "/api/sessions", "/api/sessions.csv"):
        assert (await web.client.get(path)).status == 401, path
    for path in ("/config", "/sessions"):
        r = await web.client.get(path, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == f"/login?next={path}"
    assert (await web.client.get("/api/status")).status == 200  # this board's status page is public
    assert (await web.client.get("/", allow_redirects=False)).status == 200


async def test_a_private_status_page_needs_a_login(private_web: Web) -> None:
    web = private_web
    for path in ("/api/status", "/api/history", "/api/events"):
        assert (await web.client.get(path)).status == 401, path
    assert (await web.client.get("/", allow_redirects=False)).status == 302
    await web.login()
    assert (await web.client.get("/api/status")).status == 200
    assert (await web.client.get("/", allow_redirects=False)).status == 200


async def test_writes_without_the_csrf_token_are_refused(web: Web) -> None:
    csrf = await web.login()
    for token in (None, "", "not-the-token"):
        r = await web.write("LightIntensity", "50", token)
        assert r.status == 403, token
    assert web.registry.get("LightIntensity") == "100"
    assert (await web.client.post("/api/logout", json={})).status == 403  # logout is a write too
    r = await web.write("LightIntensity", "50", csrf)
    assert r.status == 200 and (await r.json())["status"] == "Accepted"


async def test_logout_ends_the_session(web: Web) -> None:
    csrf = await web.login()
    r = await web.client.post("/api/logout", json={}, headers={"X-CSRF-Token": csrf})
    assert r.status == 200
    assert (await web.client.get("/api/config")).status == 401
    assert (await web.write("LightIntensity", "50", csrf)).status == 401


async def test_a_session_ends_after_its_idle_time_on_the_injected_clock(web: Web) -> None:
    await web.login()
    web.clock.jump(IDLE_S - 1)
    assert (await web.client.get("/api/config")).status == 200  # used: the idle time starts again
    web.clock.jump(IDLE_S - 1)
    assert (await web.client.get("/api/config")).status == 200
    web.clock.jump(IDLE_S)
    assert (await web.client.get("/api/config")).status == 401


async def test_failed_logins_lock_the_address_out_until_the_window_passes(web: Web) -> None:
    for _ in range(MAX_FAILURES):
        assert (await web.client.post("/api/login", json={"password": "guess-guess"})).status == 401
    r = await web.client.post("/api/login", json={"password": PASSWORD})  # even the right one, for now
    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    assert any("too many failed attempts" in line for line in web.trace)
    web.clock.jump(WINDOW_S)
    assert (await web.client.post("/api/login", json={"password": PASSWORD})).status == 200


def test_failures_from_many_addresses_lock_everyone_out() -> None:
    clock = FakeClock()
    logins = Logins(clock.monotonic, lambda pw: pw == PASSWORD)
    for i in range(GLOBAL_MAX_FAILURES):
        assert logins.retry_after(f"10.0.0.{i}") is None
        logins.record(f"10.0.0.{i}", False)
    wait = logins.retry_after("10.0.1.1")
    assert wait is not None and 0 < wait <= WINDOW_S
    clock.jump(WINDOW_S)
    assert logins.retry_after("10.0.1.1") is None
    assert logins.record("10.0.1.1", logins.password_ok(PASSWORD)) is not None


async def test_a_private_live_feed_ends_with_its_session(private_web: Web) -> None:
    web = private_web
    csrf = await web.login()
    web.server.tick()
    feed = await web.client.get("/api/events")
    assert (await feed.content.readline()).decode() == "event: status\n"
    await web.client.post("/api/logout", json={}, headers={"X-CSRF-Token": csrf})
    web.server.tick()
    await until(lambda: web.server.feed.open == 0, 5, "the stream to end with the session")
    assert b"event: status" not in await feed.content.read()  # nothing after the logout
