"""Issue 17 item 1: an upper-case scheme turned TLS off. The rule, as properties (hypothesis): whatever the URL
says (any scheme, any casing, credentials, garbage) and whatever the profile, at SecurityProfile 2 and 3 the
link opens nothing but TLS with the station's own context, and a URL that contradicts the profile is Rejected
at ChangeConfiguration. Then the same against real sockets: a plain listener sees only a TLS ClientHello."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.v16 import call
from websockets.uri import parse_uri

from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.ocpp.conn_settings import link_settings, register_validators, url_problem
from controller.ocpp.link import LinkSettings, NotConnected, connect_plan
from controller.ocpp.tls import OcppTlsContext, client_context
from tests.ocpp.link.support import Script
from tests.security.pki import Pki
from tests.security.support import (
    KEY1,
    RawListener,
    TlsBackOffice,
    install_cp_certificate,
    install_roots,
    start,
    stop,
)

SCHEMES = ["ws", "wss", "http", "https", "ftp", "wss+tls", "file", "w", ""]


@st.composite
def any_case(draw: Any, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c for c, f in zip(word, flips, strict=True))


@st.composite
def urls(draw: Any) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=40))  # anything at all
    scheme = draw(st.sampled_from(SCHEMES).flatmap(lambda s: any_case(s)))
    sep = draw(st.sampled_from(["://", "://", "://", ":/", ":", "//"]))
    userinfo = draw(st.sampled_from(["", "", "user:pw@", "user@", "@"]))
    host = draw(st.sampled_from(["127.0.0.1", "localhost", "CS.Example.ORG", "[::1]", "", "h\u00e9st"]))
    port = draw(st.sampled_from(["", ":9000", ":0", ":99999", ":x"]))
    path = draw(st.sampled_from(["", "/", "/ocpp", "/a/b/", "/x?y=1", "/p#frag", " /sp"]))
    pad = draw(st.sampled_from(["", " ", "\t"]))
    return f"{pad}{scheme}{sep}{userinfo}{host}{port}{path}{pad}"


def keys(profile: int, url: str) -> Any:
    """The keys link_settings reads, as a registry answers them."""
    values = {"SecurityProfile": str(profile), "BackOffice-URL-wired": url, "AuthorizationKey": KEY1,
              "Network": "Wired", "Identity": "CP1"}
    return SimpleNamespace(get=values.__getitem__, get_int=lambda k: int(values[k]), get_bool=lambda k: values[k] == "true")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Pki]:
    """A state directory with a CentralSystemRootCertificate and a charge point certificate installed."""
    d = tmp_path_factory.mktemp("url-property")
    pki = Pki(d / "pki")
    install_roots(d / "state", pki)
    install_cp_certificate(d / "state", pki)
    return d / "state", pki


def assert_ours(ctx: ssl.SSLContext | None, pki: Pki) -> None:
    assert isinstance(ctx, OcppTlsContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    roots = ctx.get_ca_certs()
    assert len(roots) == 1 and roots[0]["subject"] == ((("commonName", "Test CSMS Root"),), (("organizationName", "Test CPO B.V."),))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=urls(), profile=st.integers(0, 3))
def test_profiles_2_and_3_open_only_tls_with_our_context(state: tuple[Path, Pki], text: str, profile: int) -> None:
    state_dir, pki = state
    s = link_settings(keys(profile, text), state_dir)
    if not s.enabled:
        return  # not connecting at all is always safe
    for url in (s.url, *s.fallback_urls):
        try:
            uri, ctx = connect_plan(url + "/CP1", s)
        except NotConnected:
            continue
        secure = parse_uri(uri).secure  # as websockets itself reads the URI
        if profile >= 2:
            assert secure, (text, uri)
            assert ctx is s.ssl_context
            assert_ours(ctx, pki)
            assert (s.client_pair is not None) == (profile == 3)
        else:
            assert secure == (ctx is not None)


@settings(max_examples=300, deadline=None)
@given(text=urls(), profile=st.integers(2, 3), forged=st.sampled_from(["none", "default", "ours"]))
def test_the_link_refuses_anything_else_whatever_it_is_handed(text: str, profile: int, forged: str) -> None:
    """Even settings that did not come from link_settings (a plain URL, no context, the system context) never
    lead to anything but TLS with our context at profiles 2 and 3."""
    ctx: ssl.SSLContext | None = {"none": None, "default": OURS[1], "ours": OURS[0]}[forged]
    s = LinkSettings(url=text, identity="CP1", security_profile=profile, ssl_context=ctx)
    try:
        uri, used = connect_plan(text, s)
    except NotConnected:
        return
    assert parse_uri(uri).secure and isinstance(used, OcppTlsContext)


OURS: list[ssl.SSLContext] = []  # our context and the system's (made once: loading the system store is slow)


@pytest.fixture(autouse=True, scope="module")
def our_context(state: tuple[Path, Pki]) -> None:
    OURS[:] = [client_context([state[1].root_file]), ssl.create_default_context()]


@settings(max_examples=300, deadline=None)
@given(text=urls(), profile=st.integers(0, 3))
def test_a_url_that_contradicts_the_profile_is_rejected(text: str, profile: int) -> None:
    reason = url_problem(text, profile)
    if reason is None and text:
        scheme = text.strip().split(":", 1)[0].lower()
        assert scheme in ("ws", "wss")
        assert profile < 2 or scheme == "wss", text
        assert "@" not in text.split("//", 1)[-1].split("/", 1)[0]  # no credentials in the URL


def test_the_registry_rejects_ws_at_profile_2_in_any_casing(tmp_path: Path, pki: Pki) -> None:
    install_roots(tmp_path / "state", pki)
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    register_validators(reg, tmp_path / "state")
    assert reg.set("BackOffice-URL-wired", "WS://cs.example:9000/ocpp") == "RebootRequired"  # profile 0: fine
    reg.set_internal("AuthorizationKey", KEY1)
    assert reg.set("SecurityProfile", "1") == "Accepted"
    assert reg.set("SecurityProfile", "1") == "Rejected"  # A05.FR.01: not higher than the current one
    assert reg.set("SecurityProfile", "2") == "Accepted"
    for bad in ("ws://cs.example", "WS://cs.example", "wS://cs.example", "http://cs.example", "wss://u:p@cs.example"):
        assert reg.set("BackOffice-URL-wired", bad) == "Rejected", bad
        assert reg.set("BackOffice-URL-APN", bad) == "Rejected", bad
    assert reg.set("BackOffice-URL-wired", "WSS://cs.example:9443") == "RebootRequired"


# -- against real sockets -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["WS", "Ws", "ws"])
async def test_profile_2_never_speaks_plain_text_to_a_ws_url(tmp_path: Path, pki: Pki, scheme: str) -> None:
    """The issue's reproduction: SecurityProfile 2 with `WS://host/...` connected in clear text and sent the
    Basic credentials. Now the listener gets a TLS ClientHello and not one byte of HTTP."""
    raw = RawListener()
    await raw.start()
    install_roots(tmp_path / "state", pki)
    url = f"{scheme}://127.0.0.1:{raw.port}/ocpp"
    rig = await start(tmp_path, None, url=url, wait_online=False,
                      internal={"AuthorizationKey": KEY1, "SecurityProfile": "2"})
    try:
        from tests.conftest import until

        await until(lambda: len(raw.received) >= 2 and rig.station.link.failures >= 2, 10, "two attempts")
        for data in raw.received:
            assert data[:1] == b"\x16", data[:40]  # a TLS handshake record
            assert b"GET " not in data and b"Authorization" not in data and KEY1.encode() not in data
        assert (rig.station.link.current_url or "").startswith("wss://")
    finally:
        await stop(rig)
        await raw.stop()


async def test_upper_case_wss_builds_our_context_with_the_client_certificate(tmp_path: Path, pki: Pki) -> None:
    """`WSS://` at profile 3 built no TLS context (system store, no client certificate); now it presents ours."""
    bo = TlsBackOffice(pki.server_context(client_ca=pki.root))
    await bo.start()
    install_roots(tmp_path / "state", pki)
    mine = install_cp_certificate(tmp_path / "state", pki)
    rig = await start(tmp_path, bo, url=bo.url.replace("wss://", "WSS://"), internal={"SecurityProfile": "3"})
    try:
        assert bo.peers[-1][2] == mine and bo.peers[-1][1] in ("TLSv1.2", "TLSv1.3")
        assert bo.auth_headers["CP1"] is None  # profile 3: no Basic auth
        res = await Script(bo, "CP1").send(call.ChangeConfiguration(key="BackOffice-URL-wired", value="ws://127.0.0.1:1"))
        assert res.status == "Rejected"
    finally:
        await stop(rig)
        await bo.stop()
