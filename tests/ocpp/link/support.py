"""Helpers for the link and scenario tests: a station with any configuration (or a restarted one on the same
state directory), a readable send/expect script against the real back office, a tiny HTTP
CONNECT proxy on loopback (that can also freeze or cut the tunnels it carries), and test certificates."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import BackOffice, Record
from controller.clock import Clock
from controller.ocpp.conn_settings import CertPaths
from controller.simcontrol.server import SimControlServer
from tests.conftest import Rig, until

__all__ = ["Rig", "until", "start_station", "stop_station", "Script", "ConnectProxy", "TestPki", "in_records"]


async def start_station(
    tmp_path: Path,
    bo: BackOffice | None,
    *,
    config: dict[str, str] | None = None,
    clock: Clock | None = None,
    identity: str = "CP1",
    url_option: bool = True,
    board: str = "sim",
    state: str = "state",
    wait_online: bool = True,
    internal: dict[str, str] | None = None,
    board_file: Path | None = None,
) -> Rig:
    """A station on the simulated board (or `board_file`). `url_option`: pass the back office URL on the command
    line (else the BackOffice-URL-wired key decides). `internal`: keys written with set_internal (read-only ones)."""
    trace: list[str] = []
    station = Station(
        load_board(board_file or builtin_board(board)),
        tmp_path / state,
        StationOptions(backoffice_url=bo.url if (bo is not None and url_option) else None, identity=identity),
        clock=clock,
        trace=trace.append,
    )
    for k, v in (internal or {}).items():
        station.config.set_internal(k, v)
    for k, v in (config or {}).items():
        assert station.config.set(k, v) in ("Accepted", "RebootRequired"), (k, v)
    sim = SimControlServer(station)
    await sim.start()
    await station.start()
    rig = Rig(bo, station, sim, identity, trace)  # type: ignore[arg-type]
    if wait_online:
        await until(lambda: station.link.online, 15, "boot accepted")
    return rig


async def stop_station(rig: Rig) -> None:
    await rig.sim.stop()
    await rig.station.stop()


def _matches(payload: dict[str, Any], fields: dict[str, Any]) -> bool:
    for k, want in fields.items():
        got = payload.get(k)
        if callable(want):
            if not want(got):
                return False
        elif got != want:
            return False
    return True


@dataclass
class Script:
    """A readable send/expect script: `expect` waits for the next message (after the previous match) from the
    charge point with that action and those payload fields; `send` is a call from the back office."""

    bo: BackOffice
    cp: str
    pos: int = 0
    seen: list[Record] = field(default_factory=list)

    def mark(self) -> None:
        """Expect only what arrives from now on."""
        self.pos = len(self.bo.records)

    async def expect(self, action: str, timeout: float = 10.0, **fields: Any) -> Record:
        rec = await self.bo.wait_for(
            action, self.cp, (lambda p: _matches(p, fields)) if fields else None, timeout=timeout, after=self.pos
        )
        self.pos = self.bo.records.index(rec) + 1
        self.seen.append(rec)
        return rec

    async def expect_none(self, action: str, within: float, **fields: Any) -> None:
        with contextlib.suppress(TimeoutError):
            rec = await self.bo.wait_for(
                action, self.cp, (lambda p: _matches(p, fields)) if fields else None, timeout=within, after=self.pos
            )
            raise AssertionError(f"unexpected {action}: {rec.payload}")

    async def send(self, request: Any, timeout: float = 10.0) -> Any:
        return await self.bo.call(self.cp, request, timeout=timeout)

    def received(self, action: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.bo.records if r.cp_id == self.cp and r.direction == "in" and r.action == action]


class ConnectProxy:
    """An HTTP CONNECT proxy on loopback. `auth` ("user:password") makes it demand Proxy-Authorization.
    `freeze()` stops forwarding (a dead link that stays open), `cut()` closes every tunnel."""

    def __init__(self, auth: str | None = None) -> None:
        self.auth = auth
        self.port = 0
        self.requests: list[str] = []  # the CONNECT targets
        self.refused = 0
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def freeze(self, on: bool = True) -> None:
        self.frozen = on

    def cut(self) -> None:
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        if self.auth is not None:
            want = "Basic " + base64.b64encode(self.auth.encode()).decode()
            if headers.get("proxy-authorization") != want:
                self.refused += 1
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
                await writer.drain()
                writer.close()
                return
        host, _, port = target.rpartition(":")
        try:
            up_r, up_w = await asyncio.open_connection(host.strip("[]"), int(port))
        except (OSError, ValueError):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            writer.close()
            return
        self.requests.append(target)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        self._writers.update((writer, up_w))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    while self.frozen:
                        await asyncio.sleep(0.02)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self._writers.discard(writer)
        self._writers.discard(up_w)


class TestPki:
    """A throw-away CA with a server certificate for 127.0.0.1/localhost and a client certificate."""

    __test__ = False

    def __init__(self, directory: Path, client_cn: str = "CP1") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        now = dt.datetime.now(dt.UTC)

        def key() -> ec.EllipticCurvePrivateKey:
            return ec.generate_private_key(ec.SECP256R1())

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def write_key(path: Path, k: ec.EllipticCurvePrivateKey) -> None:
            path.write_bytes(
                k.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )

        def write_cert(path: Path, c: x509.Certificate) -> None:
            path.write_bytes(c.public_bytes(serialization.Encoding.PEM))

        def make(cn: str, issuer: x509.Name, issuer_key: Any, k: Any, ca: bool, eku: Any = None,
                 san: list[Any] | None = None) -> x509.Certificate:
            b = (
                x509.CertificateBuilder()
                .subject_name(name(cn))
                .issuer_name(issuer)
                .public_key(k.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            )
            if eku is not None:
                b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            if san:
                b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
            return b.sign(issuer_key, hashes.SHA256())

        ca_key = key()
        ca = make("Test CSMS Root", name("Test CSMS Root"), ca_key, ca_key, True)
        self._ca_cert, self._ca_key, self._make = ca, ca_key, make
        server_key = key()
        server = make(
            "localhost", ca.subject, ca_key, server_key, False, ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )
        client_key = key()
        client = make(client_cn, ca.subject, ca_key, client_key, False, ExtendedKeyUsageOID.CLIENT_AUTH)
        other_key = key()
        other_ca = make("Someone Else", name("Someone Else"), other_key, other_key, True)
        self.ca = directory / "ca.pem"
        self.other_ca = directory / "other-ca.pem"
        self.server_cert, self.server_key = directory / "server.pem", directory / "server.key"
        self.client_cert, self.client_key = directory / "client.pem", directory / "client.key"
        write_cert(self.ca, ca)
        write_cert(self.other_ca, other_ca)
        write_cert(self.server_cert, server)
        write_key(self.server_key, server_key)
        write_cert(self.client_cert, client)
        write_key(self.client_key, client_key)

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.server_cert), str(self.server_key))
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(str(self.ca))
        return ctx

    def sign_csr(self, csr_pem: str) -> str:
        """What the CPO's CA does with a SignCertificate.req: a client certificate for the CSR's key."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        csr = x509.load_pem_x509_csr(csr_pem.encode())
        cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        cert = self._make(str(cn), self._ca_cert.subject, self._ca_key, _PublicKeyHolder(csr.public_key()), False,
                          ExtendedKeyUsageOID.CLIENT_AUTH)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def install(self, state_dir: Path, root: bool = True, client: bool = False, other_root: bool = False) -> None:
        """Put certificates where the station keeps them (the layout of controller.ocpp.security), as
        InstallCertificate and CertificateSigned would."""
        paths = CertPaths.under(state_dir)
        paths.client_cert.parent.mkdir(parents=True, exist_ok=True)
        if root or other_root:
            (paths.dir / "root.pem").write_bytes((self.other_ca if other_root else self.ca).read_bytes())
            (paths.dir / "index.json").write_text(
                json.dumps([{"type": "CentralSystemRootCertificate", "file": "root.pem"}])
            )
        if client:
            paths.client_cert.write_bytes(self.client_cert.read_bytes())
            paths.client_key.write_bytes(self.client_key.read_bytes())


class _PublicKeyHolder:
    def __init__(self, public_key: Any) -> None:
        self._pk = public_key

    def public_key(self) -> Any:
        return self._pk


def in_records(bo: BackOffice, cp: str, action: str) -> list[Record]:
    return [r for r in bo.records if r.cp_id == cp and r.direction == "in" and r.action == action]
