"""Connectivity settings: turns the Connectivity/Security configuration keys into `LinkSettings` for the next
connection attempt (the link asks again before every attempt, so changes apply on the next connect).

- URL: `BackOffice-URL-wired` (or the `--backoffice` command-line URL, which overrides it) + `BackOffice-Path-wired`;
  `BackOffice-Path-wired2` is the fallback path, tried after repeated failures. The identity is appended by the link.
- Network: this board has only the wired (LAN) interface. `Wired` and `Auto` use it (Auto would switch to the
  modem when the back office is unreachable over LAN; there is no modem, so Auto behaves as Wired). `Wireless`
  cannot connect (no modem) and `None` means no back office connection at all: both leave the station offline.
- SecurityProfile: 0 as configured (ws://), 1 HTTP Basic auth with the AuthorizationKey, 2 Basic auth over wss://
  with the server certificate verified against the installed CentralSystemRootCertificate (the system trust store
  when none is installed), 3 wss:// with our client certificate and no Basic auth. Profiles 2 and 3 never connect
  in plain text: a ws:// URL is upgraded to wss://; a missing client certificate leaves the link down rather
  than falling back to a lower profile.
- Proxy: `ProxyEnable` with `ProxyAddressAndPort` (host:port), `ProxyUsername`/`ProxyPassword` -> an HTTP CONNECT
  proxy. Disabled, the environment's proxy variables are ignored too.
- Timeouts: `OCPP-reply timeout` (a request without reply fails), `OCPP-send timeout` (setting up the websocket;
  documented for GPRS, applied to the wired link as the only connection set-up timeout), `WebSocketPingInterval`
  (0: we send no pings; the back office may), `WS timeout` (no pong within it: the link is dead).
- ProtocolName `ocpp/json` and ProtocolVersion `OCPP1.6` (the only values this controller speaks) give the
  websocket subprotocol `ocpp1.6`.

Certificates are installed by `controller.ocpp.security` (InstallCertificate, SignCertificate/CertificateSigned)
under `<state dir>/certs/`; `CertPaths` reads that layout.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from controller.ocpp.link import HeartbeatSettings, LinkSettings

CERT_DIR = "certs"
BACKOFF_INITIAL_S = 1.0  # reconnect backoff: doubles per failed attempt (x0.75..1.25 jitter) up to the max
BACKOFF_MAX_S = 60.0
SUBPROTOCOLS = {"OCPP1.6": "ocpp1.6"}  # ProtocolVersion -> websocket subprotocol (ProtocolName ocpp/json)
#: The keys the link applies (read for every connection attempt; the heartbeat ones at once).
HEARTBEAT_KEYS = ("HeartbeatInterval", "HeartBeatSendAllways")
KEYS = (
    *HEARTBEAT_KEYS, "Identity", "Network", "BackOffice-URL-wired", "BackOffice-Path-wired", "BackOffice-Path-wired2",
    "SecurityProfile", "AuthorizationKey", "ProtocolVersion", "ProxyEnable", "ProxyAddressAndPort", "ProxyUsername",
    "ProxyPassword", "OCPP-reply timeout", "OCPP-send timeout", "WS timeout", "WebSocketPingInterval",
)


@dataclass(frozen=True)
class CertPaths:
    """Where `controller.ocpp.security` keeps the certificates (PEM): installed roots listed in
    `certs/index.json` (type, file), the charge point's own certificate chain and key in `certs/cp/`."""

    dir: Path
    client_cert: Path  # ChargePointCertificate (chain), from CertificateSigned
    client_key: Path

    @classmethod
    def under(cls, state_dir: Path) -> CertPaths:
        d = state_dir / CERT_DIR
        return cls(d, d / "cp" / "cert.pem", d / "cp" / "key.pem")

    def roots(self) -> list[Path]:
        """The installed CentralSystemRootCertificate files (they verify the back office's certificate)."""
        try:
            index = json.loads((self.dir / "index.json").read_text())
        except (OSError, ValueError, RecursionError):  # issue 11: "[" * 100 000 is set aside by Security
            return []
        if not isinstance(index, list):
            return []
        files = [
            self.dir / str(e["file"])
            for e in index
            if isinstance(e, dict) and e.get("type") == "CentralSystemRootCertificate" and e.get("file")
        ]
        return [f for f in files if f.exists()]

    def has_client(self) -> bool:
        return self.client_cert.exists() and self.client_key.exists()


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


def security_prerequisites(profile: int, config: Any, certs: CertPaths) -> str | None:
    """Why `profile` cannot be used now (None: it can). Profiles can only be raised; the registry checks that."""
    if profile in (1, 2) and not _get(config, "AuthorizationKey"):
        return f"SecurityProfile {profile} needs an AuthorizationKey"
    if profile == 3 and not certs.has_client():
        return "SecurityProfile 3 needs an installed ChargePointCertificate"
    if profile >= 2 and not certs.roots():
        return f"SecurityProfile {profile} needs an installed CentralSystemRootCertificate"
    return None


def ssl_context(profile: int, certs: CertPaths) -> ssl.SSLContext:
    """TLS for wss://: the server certificate and host name are always verified."""
    roots = certs.roots()
    ctx = ssl.create_default_context() if not roots else ssl.create_default_context(cafile=str(roots[0]))
    for extra in roots[1:]:
        ctx.load_verify_locations(cafile=str(extra))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if profile >= 3:
        ctx.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return ctx


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


def link_settings(config: Any, state_dir: Path, url_override: str | None = None, identity: str | None = None) -> LinkSettings:
    ident = identity or _get(config, "Identity") or "CP"
    profile = _get_int(config, "SecurityProfile", 0)
    certs = CertPaths.under(state_dir)
    s = LinkSettings(url="", identity=ident, security_profile=profile)
    s.serial = _get(config, "DeviceIdentity") or None
    s.response_timeout_s = float(_get_int(config, "OCPP-reply timeout", 60))
    s.open_timeout_s = float(_get_int(config, "OCPP-send timeout", 30))
    ping = _get_int(config, "WebSocketPingInterval", 120)
    s.ping_interval_s = float(ping) if ping > 0 else None
    s.ping_timeout_s = float(_get_int(config, "WS timeout", 10))
    s.subprotocol = SUBPROTOCOLS.get(_get(config, "ProtocolVersion", "OCPP1.6"), "ocpp1.6")
    s.proxy = proxy_url(config)
    s.backoff_initial_s, s.backoff_max_s = BACKOFF_INITIAL_S, BACKOFF_MAX_S

    network = _get(config, "Network", "Wired") or "Wired"
    if network == "None":
        s.enabled, s.disabled_reason = False, "Network is None"
        return s
    if network == "Wireless":
        s.enabled, s.disabled_reason = False, "Network is Wireless and this board has no modem"
        return s
    base = url_override or _get(config, "BackOffice-URL-wired")
    if not base:
        s.enabled, s.disabled_reason = False, "no back office URL (BackOffice-URL-wired)"
        return s
    if profile >= 2:
        if base.startswith("ws://"):
            base = "wss://" + base[len("ws://"):]
        missing = None
        if profile == 3 and not certs.has_client():
            missing = "SecurityProfile 3 needs a ChargePointCertificate (never falling back to a lower profile)"
        if missing:
            s.enabled, s.disabled_reason = False, missing
            return s
    if base.startswith("wss://"):
        try:
            s.ssl_context = ssl_context(profile, certs)
        except (OSError, ssl.SSLError) as exc:
            s.enabled, s.disabled_reason = False, f"TLS set-up failed: {exc}"
            return s
    if profile in (1, 2):
        s.basic_auth_key = _get(config, "AuthorizationKey") or None
    s.url = _join(base, _get(config, "BackOffice-Path-wired"))
    second = _get(config, "BackOffice-Path-wired2")
    if second:
        alt = _join(base, second)
        if alt != s.url:
            s.fallback_urls = [alt]
    return s


def heartbeat_settings(config: Any) -> HeartbeatSettings:
    return HeartbeatSettings(_get_int(config, "HeartbeatInterval", 0), _get_bool(config, "HeartBeatSendAllways"))
