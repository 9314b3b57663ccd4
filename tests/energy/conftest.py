"""Fixtures of the energy tests: a rig whose Modbus slave listens on a free loopback port, and a real
pymodbus client (used from a worker thread: the slave runs on the test's event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

# pymodbus is imported in exactly one adapter module (DESIGN.md, tests/test_layering.py); its client is
# the real pymodbus ModbusTcpClient.
from hal.modbus_meter import ModbusTcpClient
from tests.conftest import Rig, start_rig


async def start_energy_rig(
    tmp_path: Path, board: str = "sim", config: dict[str, str] | None = None, identity: str = "CP-E1"
) -> Rig:
    """Like `tests.conftest.start_rig`, with the Modbus slave on 127.0.0.1 and a free port."""
    return await start_rig(tmp_path, board, identity, config, modbus_host="127.0.0.1", modbus_port=0)


class Client:
    """A real pymodbus TCP client, called from a worker thread."""

    def __init__(self, port: int, timeout: float = 2.0) -> None:
        self.raw = ModbusTcpClient("127.0.0.1", port=port, timeout=timeout, retries=0)

    async def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kw)

    async def connect(self) -> bool:
        return bool(await self.call(self.raw.connect))

    async def read(self, unit: int, addr: int, count: int) -> Any:
        return await self.call(self.raw.read_holding_registers, addr, count=count, device_id=unit)

    async def regs(self, unit: int, addr: int, count: int) -> list[int]:
        rr = await self.read(unit, addr, count)
        assert not rr.isError(), rr
        return list(rr.registers)

    async def write(self, unit: int, addr: int, values: list[int]) -> Any:
        return await self.call(self.raw.write_registers, addr, values, device_id=unit)

    async def write1(self, unit: int, addr: int, value: int) -> Any:
        return await self.call(self.raw.write_register, addr, value, device_id=unit)

    def close(self) -> None:
        self.raw.close()
