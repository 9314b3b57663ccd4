"""Modbus slave denial of service (issue 11): masters that never read their answers, one address taking every
slot, and addresses outside the allow-list must not lock the real master (a pymodbus client) out."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from board.loader import BoardError, builtin_board, load_board
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.modbus.slave import AlfenSlave, SlaveBoard
from tests.energy.conftest import Client
from tests.energy.test_modbus_slave import CONFIG, FakeStation

IDENT_READ = struct.pack(">HHHB", 1, 0, 6, 200) + struct.pack(">BHH", 3, 100, 79)  # 167-byte answers


async def slave_with(tmp_path: Path, idle_s: float = 60.0, **board_conf: Any) -> AlfenSlave:
    reg = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    for k, v in CONFIG.items():
        assert reg.set(k, v) in ("Accepted", "RebootRequired")
    st = FakeStation(reg, load_board(builtin_board("sim-double")))
    board = SlaveBoard(st.board.name, "EVE-TEST-1", {c.id: c.phases for c in st.board.connectors},
                       {c.id: c.devices["meter"].driver for c in st.board.connectors}, board_conf)
    slave = AlfenSlave(st.energy, st.clock, st.config, st.views, st.link, board, st.trace, "127.0.0.1", 0,
                       idle_timeout_s=idle_s)
    assert await slave.start()
    return slave


@pytest.fixture
async def hostile() -> AsyncIterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def never_reading_master(port: int, socks: list[socket.socket]) -> socket.socket:
    """Connects, then sends requests as fast as the kernel takes them and never reads an answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
    return s


def flood(s: socket.socket, budget: int = 1_000_000) -> int:
    """Requests for far more answer bytes than the socket buffers hold (the kernel may take them all)."""
    sent = 0
    try:
        while sent < budget:
            sent += s.send(IDENT_READ * 100)
    except BlockingIOError:
        pass
    return sent


async def wait_for(pred: Any, what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, f"no {what} within {timeout} s"
        await asyncio.sleep(0.02)


async def read_as_master(port: int) -> list[int]:
    """A real pymodbus master reading the socket count; retried while the slave turns it away."""
    end = time.monotonic() + 15
    while True:
        c = Client(port, timeout=1.0)
        try:
            if await c.connect():
                rr = await c.read(200, 1105, 1)
                if not rr.isError():
                    return list(rr.registers)
        except Exception:  # noqa: BLE001 - turned away: try again, as a master does
            pass
        finally:
            c.close()
        assert time.monotonic() < end, "the real master never got an answer"
        await asyncio.sleep(0.1)


async def test_two_masters_that_never_read_do_not_block_the_real_master(
    tmp_path: Path, hostile: list[socket.socket]
) -> None:
    slave = await slave_with(tmp_path, write_timeout_s=0.3)
    try:
        for _ in range(2):
            s = never_reading_master(slave.port, hostile)
            await asyncio.to_thread(flood, s)
        await wait_for(lambda: slave.server.clients == 2, "two hostile connections")
        # the answers pile up, drain blocks; without a write timeout both slots are held for ever
        await wait_for(lambda: slave.server.write_timeouts == 2, "both dropped by the write timeout")
        assert await read_as_master(slave.port) == [2]
    finally:
        await slave.stop()


async def test_one_address_holding_every_slot_makes_room_for_another(tmp_path: Path) -> None:
    slave = await slave_with(tmp_path)
    first, second = Client(slave.port), Client(slave.port)
    try:
        assert await first.connect() and await second.connect()
        await wait_for(lambda: slave.server.clients == 2, "two connections from 127.0.0.1")
        # another address (127.0.0.2) is let in, evicting the oldest
        r, w = await asyncio.open_connection("127.0.0.1", slave.port, local_addr=("127.0.0.2", 0))
        w.write(struct.pack(">HHHB", 9, 0, 6, 200) + struct.pack(">BHH", 3, 1105, 1))
        assert await asyncio.wait_for(r.readexactly(11), 5) == struct.pack(">HHHBBBH", 9, 0, 5, 200, 3, 2, 2)
        assert slave.server.evicted == 1 and slave.server.clients == 2
        w.close()
    finally:
        first.close()
        second.close()
        await slave.stop()


async def test_per_peer_limit(tmp_path: Path) -> None:
    slave = await slave_with(tmp_path, max_connections_per_peer=1)
    first = Client(slave.port)
    try:
        assert await first.connect()
        await wait_for(lambda: slave.server.clients == 1, "the first connection")
        r, w = await asyncio.open_connection("127.0.0.1", slave.port)
        assert await asyncio.wait_for(r.read(1), 5) == b""  # a second one from the same address: closed
        w.close()
        assert slave.server.refused == 1
        assert (await first.regs(200, 1105, 1)) == [2]
    finally:
        first.close()
        await slave.stop()


async def test_allow_list(tmp_path: Path) -> None:
    slave = await slave_with(tmp_path, allow=["127.0.0.2/32"])
    try:
        r, w = await asyncio.open_connection("127.0.0.1", slave.port)
        assert await asyncio.wait_for(r.read(1), 5) == b""
        w.close()
        assert slave.server.denied == 1
        r, w = await asyncio.open_connection("127.0.0.1", slave.port, local_addr=("127.0.0.2", 0))
        w.write(struct.pack(">HHHB", 9, 0, 6, 200) + struct.pack(">BHH", 3, 1105, 1))
        assert await asyncio.wait_for(r.readexactly(11), 5) == struct.pack(">HHHBBBH", 9, 0, 5, 200, 3, 2, 2)
        w.close()
    finally:
        await slave.stop()


async def test_listen_address_from_the_board_file(tmp_path: Path) -> None:
    slave = await slave_with(tmp_path, listen="127.0.0.3")
    try:
        assert slave.server.host == "127.0.0.3"
        r, w = await asyncio.open_connection("127.0.0.3", slave.port)
        w.write(struct.pack(">HHHB", 9, 0, 6, 200) + struct.pack(">BHH", 3, 1105, 1))
        assert await asyncio.wait_for(r.readexactly(11), 5) == struct.pack(">HHHBBBH", 9, 0, 5, 200, 3, 2, 2)
        w.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", slave.port)
    finally:
        await slave.stop()


def test_a_bad_allow_entry_is_a_board_error(tmp_path: Path) -> None:
    f = tmp_path / "b.toml"
    f.write_text(builtin_board("sim").read_text() + '\n[modbus_slave]\nallow = ["192.168.1.0/24", "nonsense"]\n')
    with pytest.raises(BoardError, match="modbus_slave.allow"):
        load_board(f)
    f.write_text(builtin_board("sim").read_text() + '\n[modbus_slave]\nlisten = "192.168.1.20"\nallow = ["10.0.0.5"]\n')
    assert load_board(f).modbus_slave == {"listen": "192.168.1.20", "allow": ["10.0.0.5"]}
