"""The simulated register file (hal.sim.bus): a reader sees every write, never a torn block, and a block that
has not been written since the last good read is returned without unpacking it again (the control process
reads one socket's block once per device per tick)."""

from __future__ import annotations

import struct
from typing import Any

from hal.sim.bus import Sense, SimBus


class CountingStruct:
    """Wraps a block's struct.Struct and counts the unpacks (the work a read does)."""

    def __init__(self, st: struct.Struct) -> None:
        self.st = st
        self.size = st.size
        self.unpacks = 0

    def unpack_from(self, buf: Any, offset: int = 0) -> tuple[Any, ...]:
        self.unpacks += 1
        return self.st.unpack_from(buf, offset)

    def pack_into(self, buf: Any, offset: int, *values: Any) -> None:
        self.st.pack_into(buf, offset, *values)


def test_a_read_sees_every_write_and_an_unchanged_block_is_not_unpacked_again() -> None:
    bus = SimBus.create(1)
    try:
        block = bus.sense[1]
        counting = CountingStruct(block.st)
        block.st = counting  # type: ignore[assignment]
        block.write(Sense(high_v=12.0))
        assert block.read().high_v == 12.0
        assert counting.unpacks == 1
        for _ in range(5):
            assert block.read().high_v == 12.0
        assert counting.unpacks == 1  # nothing written since: the last good copy, no unpack
        block.write(Sense(high_v=9.0))
        assert block.read().high_v == 9.0  # a write is always seen at the next read
        assert counting.unpacks == 2
    finally:
        bus.close()


def test_a_writer_stuck_in_the_middle_leaves_the_last_good_copy() -> None:
    bus = SimBus.create(1)
    try:
        block = bus.sense[1]
        block.write(Sense(high_v=6.0))
        assert block.read().high_v == 6.0
        seq = struct.unpack_from("<Q", block.buf, block.offset)[0]
        struct.pack_into("<Q", block.buf, block.offset, seq + 1)  # the plant descheduled mid-write
        block.st.pack_into(block.buf, block.offset + 8, *Sense(high_v=3.0).__dict__.values())
        assert block.read().high_v == 6.0  # never the half-written block
        struct.pack_into("<Q", block.buf, block.offset, seq + 2)  # the write completes
        assert block.read().high_v == 3.0
    finally:
        bus.close()
