"""TLS of the back office connection: the one client context SecurityProfile 2 and 3 may use, and what a
refused handshake means as a security event.

`client_context(roots, client)` builds an `OcppTlsContext`: TLS 1.2 or newer (A00.FR.312), the server
certificate verified against the given CentralSystemRootCertificate files only (never the system CA store)
with its host name checked (A00.FR.307/308), no TLS compression (A00.FR.320), and the cipher suites of
A00.FR.318: ECDHE with AES-GCM or ChaCha20 (forward secrecy, preferred), then the whitepaper's static-RSA
AES-GCM pair for back offices that offer nothing else; no CBC suites. For SecurityProfile 3 it presents our
client certificate (A00.FR.402). The link refuses to open a profile 2/3 connection with any other context.

A refused handshake becomes a security event (A00.FR.309/315/322):
- the server certificate could not be verified (expired, other host, unknown issuer, self-signed):
  InvalidCentralSystemCertificate, straight from the verification error;
- anything else that ends the handshake: the server's TLS alerts rarely reach us (it resets the
  connection), so `probe` makes a second handshake with every version and cipher allowed, sends nothing on
  it (no credentials, no HTTP) and closes it, and `weakness` reads what the server chose: below TLS 1.2 is
  InvalidTLSVersion, a suite outside our list is InvalidTLSCipherSuite.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from pathlib import Path

INVALID_CERTIFICATE = "InvalidCentralSystemCertificate"
INVALID_VERSION = "InvalidTLSVersion"
INVALID_CIPHER = "InvalidTLSCipherSuite"
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:kRSA+AESGCM:!aNULL:!eNULL:!SHA1"
_TLS12 = ("TLSv1.2", "TLSv1.3")


class OcppTlsContext(ssl.SSLContext):
    """An SSLContext made by `client_context` (and only there): the link checks for this type."""


def client_context(roots: list[Path], client: tuple[Path, Path] | None = None) -> OcppTlsContext:
    """Our TLS client context; `roots` must not be empty. Raises OSError/ssl.SSLError/ValueError."""
    if not roots:
        raise ValueError("no CentralSystemRootCertificate to verify the back office with")
    ctx = OcppTlsContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname; no default CA store
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION
    for root in roots:
        ctx.load_verify_locations(cafile=str(root))
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    return ctx


def allowed_ciphers() -> frozenset[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(CIPHERS)
    return frozenset(c["name"] for c in ctx.get_ciphers())


def verification_failure(exc: BaseException) -> str | None:
    """The verification message when `exc` (or what caused it) is a refused server certificate."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return str(e.verify_message or e.reason or e)
        e = e.__cause__ or e.__context__
    return None


def handshake_failure(exc: BaseException) -> bool:
    """Whether `exc` may have ended a TLS handshake (worth a probe): TLS errors and resets, not a refused
    TCP connection, a name that does not resolve or an HTTP answer."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLError | ConnectionResetError | EOFError | ssl.SSLEOFError):
            return True
        e = e.__cause__ or e.__context__
    return False


def _probe_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # nothing is sent on this connection; it only reads the server's choice
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


async def probe(host: str, port: int) -> tuple[str, str] | None:
    """(TLS version, cipher) the server picks when everything is allowed; None when it will not talk TLS.
    Nothing is written on the connection. The caller bounds the time."""
    try:
        _, writer = await asyncio.open_connection(host, port, ssl=_probe_context(), server_hostname=host or None)
    except (OSError, ssl.SSLError, EOFError):
        return None
    try:
        obj = writer.get_extra_info("ssl_object")
        if obj is None:
            return None
        cipher = obj.cipher()
        return str(obj.version()), str(cipher[0]) if cipher else ""
    finally:
        writer.transport.abort()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def weakness(version: str, cipher: str) -> str | None:
    """The security event of what a probe saw (None: the server could have agreed with us)."""
    if version not in _TLS12:
        return INVALID_VERSION
    if version == "TLSv1.2" and cipher not in allowed_ciphers():
        return INVALID_CIPHER
    return None
