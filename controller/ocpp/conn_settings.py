"""Connectivity settings: turns the Connectivity/Security configuration keys into `LinkSettings` for the next
connection attempt (the link asks again before every attempt, so changes apply on the next connect).

- URL: `BackOffice-URL-wired` (or the `--backoffice` command-line URL, which overrides it) + `BackOffice-Path-wired`;
  `BackOffice-Path-wired2` is the fallback path, tried after repeated failures. The identity is appended by the link.
  The URL is parsed once (`backoffice_url`): the scheme in any casing, no user:password@ (websockets would send
  it as credentials), no fragment.
- Network: this board has only the wired (LAN) interface. `Wired` and `Auto` use it (Auto would switch to the
  modem when the back office is unreachable over LAN; there is no modem, so Auto behaves as Wired). `Wireless`
  cannot connect (no modem) and `None` means no back office connection at all: both leave the station offline.
- SecurityProfile decides the scheme: 0 and 1 use the URL's ws:// or wss:// (over wss:// the server is verified
  against the installed CentralSystemRootCertificate, or the system store when none is installed: these profiles
  promise no server authentication); 1 and 2 send HTTP Basic auth with the AuthorizationKey; 2 and 3 always
  connect with TLS through `tls.client_context`, whatever the URL says (ws:// is opened as wss://), verify the
  server against the installed CentralSystemRootCertificate only, and without one do not connect at all (the
  log says why). 3 presents our client certificate (`certstore`: a newly signed pair first) and sends no Basic
  auth; without one it does not connect either. A profile is never lowered to get a connection.
- Basic auth password (`AuthorizationKeyFormat`): `HexText` (default) sends the AuthorizationKey as configured,
  the hex text; `DecodedBytes` sends the 16..20 bytes it encodes. Back offices differ; the board file can set the
  default in `[defaults]`.
- Proxy: `ProxyEnable` with `ProxyAddressAndPort` (host:port), `ProxyUsername`/`ProxyPassword` -> an HTTP CONNECT
  proxy. Disabled, the environment's proxy variables are ignored too.
- Timeouts: `OCPP-reply timeout` (a request without reply fails), `OCPP-send timeout` (setting up the websocket;
  documented for GPRS, applied to the wired link as the only connection set-up timeout), `WebSocketPingInterval`
  (0: we send no pings; the back office may), `WS timeout` (no pong within it: the link is dead).
- ProtocolName `ocpp/json` and ProtocolVersion `OCPP1.6` (the only values this controller speaks) give the
  websocket subprotocol `ocpp1.6`.

ChangeConfiguration rules owned here (`register_validators`): a BackOffice URL that contradicts the security
profile (ws:// at profile 2 or 3) or carries credentials is Rejected; SecurityProfile can only be raised, and
only when its prerequisites (AuthorizationKey, a valid CentralSystemRootCertificate, a client certificate) are
met (A05.FR.01-04).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from controller.ocpp import tls
from controller.ocpp.certcheck import CS_ROOT, valid_at
from controller.ocpp.certstore import CertPaths, CertStore
from controller.ocpp.link import HeartbeatSettings, LinkSettings

__all__ = ["CertPaths", "link_settings", "heartbeat_settings", "heartbeat_interval_taker", "backoffice_url", "register_validators"]

BACKOFF_INITIAL_S = 1.0  # reconnect backoff: doubles per failed attempt (x0.75..1.25 jitter) up to the max
BACKOFF_MAX_S = 60.0
SUBPROTOCOLS = {"OCPP1.6": "ocpp1.6"}  # ProtocolVersion -> websocket subprotocol (ProtocolName ocpp/json)
#: The keys the link applies (read for every connection attempt; the heartbeat ones at once).
HEARTBEAT_KEYS = ("HeartbeatInterval", "HeartBeatSendAllways")
URL_KEYS = ("BackOffice-URL-wired", "BackOffice-URL-APN")
SECURITY_KEYS = ("SecurityProfile", "AuthorizationKey", "AuthorizationKeyFormat")  # what a connection authenticates with
KEYS = (
    *HEARTBEAT_KEYS, *SECURITY_KEYS, "Identity", "Network", "BackOffice-URL-wired", "BackOffice-Path-wired",
    "BackOffice-Path-wired2", "ProtocolVersion", "ProxyEnable", "ProxyAddressAndPort", "ProxyUsername",
    "ProxyPassword", "OCPP-reply timeout", "OCPP-send timeout", "WS timeout", "WebSocketPingInterval",
)


def _get(config: Any, name: str, default: str = "") -> str:
    try:
        return str(config.get(name))
    except KeyError:
        return default


def _get_int(config: Any, name: str, default: int) -> int:
    try:
        return int(config.get_int(name))
    except (KeyError, ValueError):
        return default


def _get_bool(config: Any, name: str, default: bool = False) -> bool:
    try:
        return bool(config.get_bool(name))
    except (KeyError, ValueError):
        return default


def station_identity(config: Any, override: str | None = None) -> str:
    return override or _get(config, "Identity") or "CP"


# -- the URL --------------------------------------------------------------------------------------------------
def backoffice_url(text: str, profile: int) -> str:
    """The back office URL to open at `profile`: scheme lower-cased, wss:// at profiles 2 and 3 whatever the
    text says. Raises ValueError (with the reason) for anything that is not a ws/wss URL with a host, or that
    carries user:password@ or a #fragment."""
    text = text.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError(f"the back office URL must be ws:// or wss://, not {parts.scheme or 'no scheme'}")
    if not parts.hostname:
        raise ValueError("the back office URL has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("the back office URL must not contain user:password@ (credentials come from the profile)")
    if parts.fragment or "#" in text:
        raise ValueError("the back office URL must not contain a #fragment")
    if profile >= 2:
        scheme = "wss"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def url_problem(text: str, profile: int) -> str | None:
    """ChangeConfiguration of a BackOffice URL key: why `text` is Rejected at `profile` (None: it may be set)."""
    if text == "":
        return None
    try:
        backoffice_url(text, profile)
    except ValueError as exc:
        return str(exc)
    if profile >= 2 and urlsplit(text.strip()).scheme.lower() != "wss":
        return f"SecurityProfile {profile} connects only with TLS: the URL must be wss://"
    return None


# -- the security profile -------------------------------------------------------------------------------------
def client_pair_problem(store: CertStore, now: Any) -> str | None:
    pair = store.client_pair()
    cert = store.certificate_of(pair) if pair is not None else None
    if cert is None:
        return "no ChargePointCertificate installed"
    if not valid_at(cert, now):
        return "the ChargePointCertificate is not valid now"
    return None


def security_prerequisites(profile: int, config: Any, store: CertStore, now: Any = None) -> str | None:
    """Why `profile` cannot be used now (None: it can): A05.FR.01-04."""
    from datetime import UTC, datetime

    now = now or datetime.now(UTC)
    current = _get_int(config, "SecurityProfile", 0)
    if profile <= current:
        return f"SecurityProfile can only be raised (current {current})"
    if profile in (1, 2) and not _get(config, "AuthorizationKey"):
        return f"SecurityProfile {profile} needs an AuthorizationKey"
    if profile >= 2 and not any(valid_at(c, now) for c in store.root_certs(CS_ROOT)):
        return f"SecurityProfile {profile} needs a valid CentralSystemRootCertificate"
    if profile == 3:
        problem = client_pair_problem(store, now)
        if problem is not None:
            return f"SecurityProfile 3: {problem}"
    return None


def register_validators(config: Any, state_dir: Path, clock: Any = None) -> None:
    """The ChangeConfiguration rules this module owns (see the module docstring)."""
    store = CertStore(state_dir)

    def now() -> Any:
        return clock.now() if clock is not None else None

    config.register_validator(
        "SecurityProfile",
        lambda v: security_prerequisites(int(v), config, store, now()) if v.strip().lstrip("+").isdigit() else None,
    )
    for key in URL_KEYS:
        if config.spec(key) is not None:
            config.register_validator(key, lambda v: url_problem(v, _get_int(config, "SecurityProfile", 0)))


def proxy_url(config: Any) -> str | None:
    if not _get_bool(config, "ProxyEnable"):
        return None
    address = _get(config, "ProxyAddressAndPort").strip()
    if not address:
        return None
    user = _get(config, "ProxyUsername")
    password = _get(config, "ProxyPassword")
    auth = ""
    if user or password:
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return f"http://{auth}{address}"


def _join(base: str, path: str) -> str:
    path = path.strip()
    if path and not path.startswith("/"):
        path = "/" + path
    return base.rstrip("/") + path.rstrip("/")


def link_settings(
    config: Any, state_dir: Path, url_override: str | None = None, identity: str | None = None, now: Any = None
) -> LinkSettings:
    profile = _get_int(config, "SecurityProfile", 0)
    s = LinkSettings(url="", identity=station_identity(config, identity), security_profile=profile)
    s.serial = _get(config, "DeviceIdentity") or None
    s.response_timeout_s = float(_get_int(config, "OCPP-reply timeout", 60))
    s.open_timeout_s = float(_get_int(config, "OCPP-send timeout", 30))
    ping = _get_int(config, "WebSocketPingInterval", 120)
    s.ping_interval_s = float(ping) if ping > 0 else None
    s.ping_timeout_s = float(_get_int(config, "WS timeout", 10))
    s.subprotocol = SUBPROTOCOLS.get(_get(config, "ProtocolVersion", "OCPP1.6"), "ocpp1.6")
    s.proxy = proxy_url(config)
    s.backoff_initial_s, s.backoff_max_s = BACKOFF_INITIAL_S, BACKOFF_MAX_S

    def off(reason: str) -> LinkSettings:
        s.enabled, s.disabled_reason = False, reason
        return s

    network = _get(config, "Network", "Wired") or "Wired"
    if network == "None":
        return off("Network is None")
    if network == "Wireless":
        return off("Network is Wireless and this board has no modem")
    text = url_override or _get(config, "BackOffice-URL-wired")
    if not text:
        return off("no back office URL (BackOffice-URL-wired)")
    try:
        base = backoffice_url(text, profile)
    except ValueError as exc:
        return off(str(exc))
    if base.startswith("wss://"):
        store = CertStore(state_dir)
        roots = store.root_files(now)
        try:
            if profile >= 2:
                if not roots:  # (their dates are OpenSSL's to check, on the system clock it uses)
                    return off(
                        f"SecurityProfile {profile} needs a valid installed CentralSystemRootCertificate "
                        "(the system CA store is never trusted at profiles 2 and 3)"
                    )
                pair = store.client_pair() if profile >= 3 else None
                if profile >= 3 and pair is None:
                    return off("SecurityProfile 3 needs a ChargePointCertificate (never falling back to a lower profile)")
                s.client_pair = pair
                s.ssl_context = tls.client_context(roots, (pair.cert, pair.key) if pair is not None else None)
            else:
                s.ssl_context = tls.client_context(roots) if roots else ssl.create_default_context()
        except (OSError, ssl.SSLError, ValueError) as exc:
            return off(f"TLS set-up failed: {exc}")
    if profile in (1, 2):
        s.basic_auth_key = _get(config, "AuthorizationKey") or None
        s.basic_auth_decoded = _get(config, "AuthorizationKeyFormat", "HexText") == "DecodedBytes"
    s.url = _join(base, _get(config, "BackOffice-Path-wired"))
    second = _get(config, "BackOffice-Path-wired2")
    if second:
        alt = _join(base, second)
        if alt != s.url:
            s.fallback_urls = [alt]
    return s


def heartbeat_interval_taker(config: Any) -> Callable[[int], None]:
    """What the link calls with the HeartbeatInterval an Accepted boot gives: stored as the key's value (a value
    the registry refuses is ignored; the link has clamped it already)."""

    def take(interval: int) -> None:
        with contextlib.suppress(Exception):
            config.set_internal("HeartbeatInterval", str(interval))

    return take


def heartbeat_settings(config: Any) -> HeartbeatSettings:
    return HeartbeatSettings(_get_int(config, "HeartbeatInterval", 0), _get_bool(config, "HeartBeatSendAllways"))
