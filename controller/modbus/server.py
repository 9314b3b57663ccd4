"""Modbus TCP transport of the slave: MBAP framing on asyncio streams, function codes 0x03, 0x06 and 0x10.

Why not pymodbus's server: DESIGN.md keeps every pymodbus import in one adapter module (hal/modbus_meter.py,
the meter role) and the controller imports hardware libraries only through hal/ (tests/test_layering.py).
Modbus TCP framing is a 7-byte header and three request layouts; owning it keeps the Alfen rules (whole-block
reads, whole-value writes, the function codes, two masters, idle close) in our hands instead of in the
deprecated context classes of pymodbus 3.16. Clients are tested against it with the real pymodbus client.

Rules:
- Any other function code: exception 01. A request whose layout or count is wrong: exception 03. An unknown
  unit id: exception 0x0B (gateway target failed to respond) at once, so a master does not wait for a timeout.
- A bad MBAP header (protocol id not 0, length out of 2..254) closes the connection: the stream has lost sync.
- At most `max_clients` (2) masters at once; a further connection is closed at once. A connection without a
  request for `idle_timeout_s` (60 s) is closed.
- Denial of service (issue 11): each connection's kernel send buffer is small (16 KiB); an answer the master
  does not read within `write_timeout_s` (5 s) drops the connection (a master that never reads cannot hold a slot past it); at most `max_per_peer` connections per
  address (2); when every slot is taken and a new address connects, the oldest connection of an address
  holding two slots makes room; `allow` (default: any) is the list of master addresses or networks that may
  connect at all. The slave is unauthenticated, like Alfen's: see the README ("Modbus TCP slave").
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable, Sequence
from typing import Protocol

from controller.modbus.registers import DEVICE_FAILURE, GATEWAY_TARGET_FAILED, ILLEGAL_FUNCTION, ILLEGAL_VALUE

log = logging.getLogger(__name__)

READ_HOLDING, WRITE_SINGLE, WRITE_MULTIPLE = 0x03, 0x06, 0x10
MAX_READ, MAX_WRITE = 125, 123
SEND_BUFFER = 16384  # bytes of kernel send buffer per connection


class RegisterHandler(Protocol):
    def known_unit(self, unit: int) -> bool: ...
    def read(self, unit: int, addr: int, count: int) -> list[int] | int: ...
    def write(self, unit: int, addr: int, regs: Sequence[int], function: int) -> int | None: ...


def _exception(function: int, code: int) -> bytes:
    return bytes([(function | 0x80) & 0xFF, code])


def handle_pdu(handler: RegisterHandler, unit: int, pdu: bytes) -> bytes:
    """The response PDU for one request PDU."""
    fc = pdu[0]
    if fc not in (READ_HOLDING, WRITE_SINGLE, WRITE_MULTIPLE):
        return _exception(fc, ILLEGAL_FUNCTION)
    if not handler.known_unit(unit):
        return _exception(fc, GATEWAY_TARGET_FAILED)
    try:
        if fc == READ_HOLDING:
            if len(pdu) != 5:
                return _exception(fc, ILLEGAL_VALUE)
            addr, count = struct.unpack(">HH", pdu[1:5])
            if not 1 <= count <= MAX_READ:
                return _exception(fc, ILLEGAL_VALUE)
            result = handler.read(unit, addr, count)
            if isinstance(result, int):
                return _exception(fc, result)
            return bytes([fc, 2 * len(result)]) + struct.pack(f">{len(result)}H", *result)
        if fc == WRITE_SINGLE:
            if len(pdu) != 5:
                return _exception(fc, ILLEGAL_VALUE)
            addr, value = struct.unpack(">HH", pdu[1:5])
            code = handler.write(unit, addr, [value], fc)
            return _exception(fc, code) if code else bytes(pdu)
        if len(pdu) < 6:
            return _exception(fc, ILLEGAL_VALUE)
        addr, count, nbytes = struct.unpack(">HHB", pdu[1:6])
        if not 1 <= count <= MAX_WRITE or nbytes != 2 * count or len(pdu) != 6 + nbytes:
            return _exception(fc, ILLEGAL_VALUE)
        regs = list(struct.unpack(f">{count}H", pdu[6:]))
        code = handler.write(unit, addr, regs, fc)
        return _exception(fc, code) if code else struct.pack(">BHH", fc, addr, count)
    except Exception:  # noqa: BLE001 - a bug in the map must not take the server down
        log.exception("Modbus request failed")
        return _exception(fc, DEVICE_FAILURE)


class ModbusTcpServer:
    def __init__(
        self,
        handler: RegisterHandler,
        host: str = "0.0.0.0",
        port: int = 502,
        max_clients: int = 2,
        idle_timeout_s: float = 60.0,
        write_timeout_s: float = 5.0,
        max_per_peer: int = 2,
        allow: Iterable[str] | None = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_clients = max_clients
        self.idle_timeout_s = idle_timeout_s
        self.write_timeout_s = write_timeout_s
        self.max_per_peer = max_per_peer
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow] if allow is not None else None
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, str] = {}  # in order of arrival -> peer address
        self.refused = 0
        self.denied = 0
        self.evicted = 0
        self.idle_closed = 0
        self.write_timeouts = 0
        self.requests = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self.handle_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._clients):
            w.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def _allowed(self, peer: str) -> bool:
        if self.allow is None:
            return True
        try:
            addr = ipaddress.ip_address(peer.split("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allow)

    def _admit(self, peer: str) -> bool:
        """Room for a connection from `peer`, making it by evicting if another address holds two slots."""
        mine = sum(1 for p in self._clients.values() if p == peer)
        if mine >= self.max_per_peer:
            return False
        if len(self._clients) < self.max_clients:
            return True
        if mine:
            return False
        counts: dict[str, int] = {}
        for p in self._clients.values():
            counts[p] = counts.get(p, 0) + 1
        for w, p in self._clients.items():  # the oldest connection of the address holding the most slots
            if counts[p] > 1 and counts[p] == max(counts.values()):
                self.evicted += 1
                log.warning("Modbus TCP slave: %s holds %d connections; closing its oldest for %s", p, counts[p], peer)
                del self._clients[w]
                w.transport.abort()
                return True
        return False

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
        if not self._allowed(peer):
            self.denied += 1
            log.warning("Modbus TCP slave: %s is not in the allow-list; connection closed", peer)
            writer.transport.abort()
            return
        if not self._admit(peer):
            self.refused += 1
            writer.close()
            return
        self._clients[writer] = peer
        sock = writer.get_extra_info("socket")
        if sock is not None:  # an answer is at most 260 bytes: a master that does not read holds 16 KiB, not MiBs
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        try:
            while True:
                try:
                    header = await asyncio.wait_for(reader.readexactly(7), self.idle_timeout_s)
                except TimeoutError:
                    self.idle_closed += 1
                    break
                tid, pid, length, unit = struct.unpack(">HHHB", header)
                if pid != 0 or not 2 <= length <= 254:
                    break
                pdu = await asyncio.wait_for(reader.readexactly(length - 1), self.idle_timeout_s)
                self.requests += 1
                resp = handle_pdu(self.handler, unit, pdu)
                writer.write(struct.pack(">HHHB", tid, 0, len(resp) + 1, unit) + resp)
                try:
                    await asyncio.wait_for(writer.drain(), self.write_timeout_s)
                except TimeoutError:  # a master that does not read its answers: drop it, do not wait for ever
                    self.write_timeouts += 1
                    log.warning("Modbus TCP slave: %s reads no answers; connection dropped", peer)
                    writer.transport.abort()
                    break
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()
