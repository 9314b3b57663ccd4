"""The OCPP link's connect plan: which back office path to try, what URI and TLS context to open, which HTTP
Basic credentials to send, and the websocket `connect` call itself.

`connect_plan` is the last word on what is opened: at SecurityProfile 2 and 3 nothing but wss:// with the
station's own TLS context (`tls.OcppTlsContext`), whatever URL or context it is handed; user:password@ in a URL
is never sent. `BackOfficePaths` owns the choice of path: after `FALLBACK_AFTER` failed attempts on one path
it tries the other (BackOffice-Path-wired2). `credentials` is what a connection authenticates with (a change
means reconnect).
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect

from controller.ocpp.tls import OcppTlsContext
from controller.ports import NotConnected

if TYPE_CHECKING:
    from controller.ocpp.link import LinkSettings

# The websocket's own logger: at DEBUG websockets dumps frames cut short in the middle, where no redaction can
# find a write-only key's value, so it never goes below INFO.
WS_LOG = logging.getLogger("controller.ocpp.link.websocket")
WS_LOG.setLevel(logging.INFO)

FALLBACK_AFTER = 3  # failed attempts on one back office path before trying the other one


class BackOfficePaths:
    """The back office path the next attempt uses: the primary one until `FALLBACK_AFTER` consecutive failures
    on it, then the next (round robin); a connection that opens resets the count."""

    def __init__(self, log_line: Callable[[str], None]) -> None:
        self._log = log_line
        self._index = 0
        self.failures = 0  # consecutive failed attempts on the current path

    def pick(self, s: LinkSettings) -> str:
        """The URL to connect to: the path's URL with the identity appended."""
        urls = [s.url, *s.fallback_urls]
        if self.failures >= FALLBACK_AFTER and len(urls) > 1:
            self._index = (self._index + 1) % len(urls)
            self.failures = 0
            self._log(f"trying the other back office path: {urls[self._index % len(urls)]}")
        return urls[self._index % len(urls)].rstrip("/") + "/" + quote(s.identity, safe="")


def basic_auth_headers(s: LinkSettings) -> dict[str, str]:
    """HTTP Basic auth with the AuthorizationKey, at SecurityProfile 1 and 2 only."""
    if not s.basic_auth_key or s.security_profile not in (1, 2):
        return {}
    password = bytes.fromhex(s.basic_auth_key) if s.basic_auth_decoded else s.basic_auth_key.encode()
    token = base64.b64encode(s.identity.encode() + b":" + password).decode()
    return {"Authorization": f"Basic {token}"}


async def open_socket(url: str, s: LinkSettings) -> ClientConnection:
    """Open the websocket as `connect_plan` says (no timeout of its own: the caller bounds it on the clock)."""
    uri, tls_context = connect_plan(url, s)
    kwargs: dict[str, Any] = {} if tls_context is None else {"ssl": tls_context}
    return await connect(
        uri,
        subprotocols=[s.subprotocol],  # type: ignore[list-item]
        additional_headers=basic_auth_headers(s),
        user_agent_header=f"{s.vendor}/{s.firmware_version}",
        proxy=s.proxy,  # None: never the environment's proxy
        open_timeout=None,  # bounded on our clock by the caller
        ping_interval=None,  # our own keepalive, on our clock
        ping_timeout=None,
        close_timeout=2,
        max_size=2**20,
        compression=None,
        logger=WS_LOG,
        **kwargs,
    )


def connect_plan(url: str, s: LinkSettings) -> tuple[str, ssl.SSLContext | None]:
    """What `open_socket` hands to websockets: the URI (scheme lower-cased, no user info, no fragment) and the
    TLS context (None: plain ws://). At SecurityProfile 2 and 3 only wss:// with our own `OcppTlsContext`, else
    NotConnected; this is the rule the property test holds the link to."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise NotConnected(f"invalid back office URL: {exc}") from None
    if scheme not in ("ws", "wss") or not host:
        raise NotConnected("the back office URL must be ws:// or wss:// with a host")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    uri = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
    if s.security_profile >= 2:
        if scheme != "wss" or not isinstance(s.ssl_context, OcppTlsContext):
            raise NotConnected(
                f"SecurityProfile {s.security_profile} opens nothing but TLS with the station's own context"
            )
        return uri, s.ssl_context
    if scheme == "wss":
        return uri, s.ssl_context or ssl.create_default_context()
    return uri, None


def credentials(s: LinkSettings) -> tuple[Any, ...]:
    """What a connection authenticates with: a change means reconnect."""
    pair = s.client_pair.id if s.client_pair is not None else None
    return (s.security_profile, s.basic_auth_key, s.basic_auth_decoded, pair)
