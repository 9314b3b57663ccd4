"""A small Modbus TCP master on asyncio streams: read holding registers (0x03) and write multiple (0x10),
one request at a time per connection, every request bounded by a timeout (then the connection is dropped,
so a late answer can never be mistaken for the next one).

Why not pymodbus's client: every pymodbus import lives in one hal adapter (tests/test_layering.py), and the
coordinator needs two function codes and the MBAP header the slave side already speaks
(`controller.modbus.server`). Tests run it against our own slave on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Sequence

from controller.modbus.server import READ_HOLDING, WRITE_MULTIPLE


class ModbusError(Exception):
    """No answer, a broken answer, or an exception response (`code`)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ModbusClient:
    def __init__(self, host: str, port: int, timeout_s: float = 1.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tid = 0
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def close(self) -> None:
        w, self._reader, self._writer = self._writer, None, None
        if w is not None:
            w.transport.abort()

    async def _request(self, unit: int, pdu: bytes) -> bytes:
        async with self._lock:
            try:
                return await asyncio.wait_for(self._exchange(unit, pdu), self.timeout_s)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                await self.close()
                raise ModbusError(f"{self.address}: {type(exc).__name__} {exc}".strip()) from exc

    async def _exchange(self, unit: int, pdu: bytes) -> bytes:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._tid = (self._tid + 1) & 0xFFFF
        self._writer.write(struct.pack(">HHHB", self._tid, 0, len(pdu) + 1, unit) + pdu)
        await self._writer.drain()
        tid, pid, length, _unit = struct.unpack(">HHHB", await self._reader.readexactly(7))
        body = await self._reader.readexactly(length - 1)
        if tid != self._tid or pid != 0 or not body:
            raise OSError("answer out of step")
        if body[0] & 0x80:
            raise ModbusError(f"{self.address}: exception {body[1] if len(body) > 1 else 0}",
                              body[1] if len(body) > 1 else None)
        return body

    async def read(self, unit: int, addr: int, count: int) -> list[int]:
        body = await self._request(unit, struct.pack(">BHH", READ_HOLDING, addr, count))
        if len(body) != 2 + 2 * count or body[1] != 2 * count:
            await self.close()
            raise ModbusError(f"{self.address}: short answer")
        return list(struct.unpack(f">{count}H", body[2:]))

    async def write(self, unit: int, addr: int, regs: Sequence[int]) -> None:
        pdu = struct.pack(f">BHHB{len(regs)}H", WRITE_MULTIPLE, addr, len(regs), 2 * len(regs), *regs)
        body = await self._request(unit, pdu)
        if body[:5] != struct.pack(">BHH", WRITE_MULTIPLE, addr, len(regs)):
            await self.close()
            raise ModbusError(f"{self.address}: wrong write answer")


async def closing(clients: Sequence[ModbusClient]) -> None:
    for c in clients:
        with contextlib.suppress(Exception):
            await c.close()
