"""The project's own TLS back office and helpers for the security tests: a back office that records the
client certificate and TLS version of every connection (and can change its server certificate between
handshakes), a raw TCP listener that records every byte a station sends, and a station started on any
board text with certificates already in its store."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import BackOffice
from controller.ocpp.certcheck import CS_ROOT, MF_ROOT
from controller.ocpp.certstore import CertStore
from controller.simcontrol.server import SimControlServer
from tests.conftest import Rig
from tests.ocpp.link.support import start_station
from tests.security.pki import CPO, Pki, ec_key, key_pem, make_cert, name, pem

KEY1 = "00112233445566778899AABBCCDDEEFF"
KEY2 = "FFEEDDCCBBAA99887766554433221100AABBCCDD"


class TlsBackOffice(BackOffice):
    """The recording back office over TLS: `peers` holds (cp id, TLS version, client certificate or None) for
    every websocket request that got through the handshake."""

    def __init__(self, ctx: ssl.SSLContext | None, **kw: Any) -> None:
        super().__init__(ssl=ctx, **kw)
        self.peers: list[tuple[str, str, x509.Certificate | None]] = []

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        obj = connection.transport.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        cert = x509.load_der_x509_certificate(der) if der else None
        version = obj.version() if obj is not None else "plain"
        self.peers.append((self._cp_id_from_path(request.path), str(version), cert))
        return super()._process_request(connection, request)

    async def call_unchecked(self, cp_id: str, request: Any, timeout: float = 10.0) -> Any:
        """A call that the back office does not check against the schema first (a hostile or sloppy one)."""
        cp = self._cps[cp_id]
        return await asyncio.wait_for(cp.call(request, suppress=False, skip_schema_validation=True), timeout)


class RawListener:
    """A TCP listener that records every byte it receives, answers nothing and closes after a moment."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        with contextlib.suppress(Exception):
            data = await asyncio.wait_for(reader.read(65536), 2.0)
        self.received.append(data)
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


def board_file(tmp_path: Path, defaults: dict[str, str] | None = None, allow_unsigned: bool | None = None) -> Path:
    """The simulated board, with extra `[defaults]` and without (False) or with the development setting."""
    text = builtin_board("sim").read_text()
    if allow_unsigned is False:
        text = text.replace("allow_unsigned = true\n", "")
    for k, v in (defaults or {}).items():
        text = text.replace("[defaults]\n", f'[defaults]\n"{k}" = "{v}"\n')
    path = tmp_path / "board.toml"
    path.write_text(text)
    return path


def install_roots(state_dir: Path, pki: Pki | None = None, *, manufacturer: x509.Certificate | None = None,
                  roots: list[x509.Certificate] | None = None) -> None:
    """Certificates already installed (as InstallCertificate would have)."""
    store = CertStore(state_dir)
    for cert in ([pki.root.cert] if pki is not None else []) + list(roots or []):
        store.add_root(CS_ROOT, cert)
    if manufacturer is not None:
        store.add_root(MF_ROOT, manufacturer)


def install_cp_certificate(state_dir: Path, pki: Pki, cn: str = "CP1") -> x509.Certificate:
    """A charge point certificate the CPO's sub-CA issued, installed at installation time; returns it."""
    key = ec_key()
    cert = make_cert(name(cn, CPO), key.public_key(), pki.sub)
    install_client_pair(state_dir, cert, key, pki.sub.cert)
    return cert


def install_client_pair(state_dir: Path, cert: x509.Certificate, key: Any, *chain: x509.Certificate) -> None:
    """A charge point certificate put there at installation (cp/cert.pem + cp/key.pem)."""
    store = CertStore(state_dir)
    store.ensure_dirs()
    store.paths.client_cert.write_text(pem(cert, *chain))
    store.paths.client_key.write_bytes(key_pem(key))


async def start(
    tmp_path: Path,
    bo: BackOffice | None,
    *,
    url: str | None = None,
    config: dict[str, str] | None = None,
    internal: dict[str, str] | None = None,
    board: Path | None = None,
    identity: str = "CP1",
    wait_online: bool = True,
) -> Rig:
    """A station on the simulated board (or `board`), its URL in BackOffice-URL-wired (`url`, else the back
    office's), `config` written as ChangeConfiguration would (validated), `internal` as the station itself."""
    target = url or (bo.url if bo is not None else None)
    first = {"BackOffice-URL-wired": target} if target is not None else {}
    return await start_station(
        tmp_path, bo, config=config, internal={**first, **(internal or {})}, identity=identity, url_option=False,
        board_file=board, wait_online=wait_online,
    )


async def restart(rig: Rig, tmp_path: Path, board: Path | None = None) -> None:
    """Stop the station and start a new one on the same state directory (a power cycle)."""
    await rig.sim.stop()
    await rig.station.stop()
    station = Station(
        load_board(board or builtin_board("sim")), tmp_path / "state", StationOptions(identity=rig.identity),
        trace=rig.trace.append,
    )
    rig.station = station
    rig.sim = SimControlServer(station)
    await rig.sim.start()
    await station.start()


async def stop(rig: Rig) -> None:
    await rig.sim.stop()
    await rig.station.stop()


def events(bo: BackOffice, cp: str = "CP1", after: int = 0) -> list[dict[str, Any]]:
    return [r.payload for r in bo.records[after:]
            if r.cp_id == cp and r.direction == "in" and r.action == "SecurityEventNotification"]


def event_types(bo: BackOffice, cp: str = "CP1", after: int = 0) -> list[str]:
    return [str(e["type"]) for e in events(bo, cp, after)]
