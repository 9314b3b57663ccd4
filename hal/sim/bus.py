"""The register file between the control process and the simulated plant: a small block of shared memory
that plays the part of the buses a real board's drivers touch (GPIO lines, the pilot ADC, the meter's
registers).

Layout: a header, then per socket one block the control process writes (`CoilBlock`: pilot output, coil,
lock, self-test and reset counters, phase relay, each command stamped with the control process's
time.monotonic()) and one block the plant writes (`SenseBlock`: pilot voltages, mirror contact, lock switch,
meter, RCD, PP, phase relay feedback); then one station block each way (temperature, tilt, PE, suspend input / the control process's tick counter).

Each block has a single writer and a sequence counter (a seqlock): the writer makes it odd, writes, makes it
even; a reader retries while it is odd or changed under it, and keeps its last good copy if the writer stays in
the middle (the plant descheduled for a moment). Stores are whole-block `struct.pack_into` calls; the
ordering argument holds on x86 (stores are not reordered with stores, loads not with loads), which is where the
simulator runs. Both processes get the memory as an inherited file descriptor (a memfd the main process
creates), so it outlives either of them.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from dataclasses import dataclass
from typing import Any

MAGIC = 0x45565345  # "EVSE"
LAYOUT = 2  # 2: the phase relay (Coil.phases, Sense.phase_fb)
_SEQ = struct.Struct("<Q")
_HEADER = struct.Struct("<IIII")  # magic, layout, sockets, plant ready


@dataclass(frozen=True)
class Coil:
    """What the control process commands on one socket."""

    pid: int = 0
    pilot_mode: int = 0  # index into PILOT_MODES
    pilot_duty: float = 100.0
    pilot_seq: int = 0  # counts set_output calls: the plant says which one its voltages are for
    contactor: int = 0
    contactor_at: float = 0.0  # when the command last changed
    contactor_refresh: float = 0.0  # when it was last given (a closed contactor is re-commanded every tick)
    safe_at: float = 0.0  # the last to_safe_state() (the dead-man watchdog, a shutdown)
    lock: int = 0
    rcd_tests: int = 0
    rcd_resets: int = 0
    phases: int = 0  # the phase relay's command (1 or 3); 0: never commanded (at rest)


@dataclass(frozen=True)
class Sense:
    """What the plant's sensors read on one socket."""

    high_v: float = 12.0
    low_v: float = float("nan")  # NaN: no low phase (no PWM)
    pilot_seq: int = 0  # the Coil.pilot_seq these voltages are for
    mirror: int = -1  # -1: no mirror contact; 0 open; 1 closed
    lock: int = -1  # -1: the lock has no feedback; 0 unlocked; 1 locked
    meter_offline: int = 0
    i1: float = 0.0
    i2: float = 0.0
    i3: float = 0.0
    v1: float = 230.0
    v2: float = 230.0
    v3: float = 230.0
    power_w: float = 0.0
    energy_wh: float = 0.0
    frequency_hz: float = 50.0
    rcd_trip: int = 0
    rcd_test_ok: int = 1
    pp_ohms: float = float("inf")
    phase_fb: int = -1  # the phase relay's feedback (1 or 3); -1: no relay or no feedback contact


@dataclass(frozen=True)
class StationSense:
    celsius: float = 25.0
    temperature_lost: int = 0
    gx: float = 0.0
    gy: float = 0.0
    gz: float = 1.0
    tilt_lost: int = 0
    pe_present: int = 1
    suspend: int = 0


@dataclass(frozen=True)
class StationCoil:
    pid: int = 0
    ticks: int = 0


_FORMATS: dict[type, str] = {
    Coil: "<qidQidddiQQi",
    Sense: "<ddQiii" + "d" * 9 + "iidi",
    StationSense: "<didddiii",
    StationCoil: "<qQ",
}


class Block:
    """One seqlocked block of the register file."""

    def __init__(self, buf: Any, offset: int, kind: type) -> None:
        self.buf = buf
        self.offset = offset
        self.kind = kind
        self.st = struct.Struct(_FORMATS[kind])
        self.size = _SEQ.size + self.st.size
        self._last: Any = kind()
        self.seq = 0  # the sequence number of the last good read (even)

    def write(self, value: Any) -> None:
        seq = _SEQ.unpack_from(self.buf, self.offset)[0]
        _SEQ.pack_into(self.buf, self.offset, seq + 1)
        self.st.pack_into(self.buf, self.offset + _SEQ.size, *value.__dict__.values())
        _SEQ.pack_into(self.buf, self.offset, seq + 2)

    def read(self) -> Any:
        for _ in range(200):
            s1 = _SEQ.unpack_from(self.buf, self.offset)[0]
            if s1 & 1:
                continue
            if s1 == self.seq:
                return self._last  # nothing written since the last good read: the same values
            values = self.st.unpack_from(self.buf, self.offset + _SEQ.size)
            if _SEQ.unpack_from(self.buf, self.offset)[0] == s1:
                self.seq = s1
                self._last = self.kind(*values)
                return self._last
        return self._last  # the writer is in the middle of a write for long: the last good copy

    def written(self) -> int:
        """The sequence number now (changes with every write)."""
        return int(_SEQ.unpack_from(self.buf, self.offset)[0])


def size_for(sockets: int) -> int:
    per_socket = sum(_SEQ.size + struct.calcsize(_FORMATS[k]) for k in (Coil, Sense))
    station = sum(_SEQ.size + struct.calcsize(_FORMATS[k]) for k in (StationSense, StationCoil))
    return _HEADER.size + sockets * per_socket + station


class SimBus:
    """The register file mapped from a file descriptor (see `create`)."""

    def __init__(self, fd: int, sockets: int) -> None:
        self.fd = fd
        self.sockets = sockets
        self.mm = mmap.mmap(fd, size_for(sockets))
        magic, layout, n, _ = _HEADER.unpack_from(self.mm, 0)
        if magic == 0:
            _HEADER.pack_into(self.mm, 0, MAGIC, LAYOUT, sockets, 0)
        elif (magic, layout, n) != (MAGIC, LAYOUT, sockets):
            raise ValueError(f"the register file holds layout {layout} for {n} sockets, not {LAYOUT} for {sockets}")
        off = _HEADER.size
        self.coil: dict[int, Block] = {}
        self.sense: dict[int, Block] = {}
        for cid in range(1, sockets + 1):
            self.coil[cid] = Block(self.mm, off, Coil)
            off += self.coil[cid].size
            self.sense[cid] = Block(self.mm, off, Sense)
            off += self.sense[cid].size
        self.station_sense = Block(self.mm, off, StationSense)
        off += self.station_sense.size
        self.station_coil = Block(self.mm, off, StationCoil)
        self.lock = threading.Lock()  # the control process writes its blocks from two threads (loop, watchdog)

    @classmethod
    def create(cls, sockets: int) -> SimBus:
        """A new register file in anonymous shared memory; its descriptor is inherited by the processes."""
        fd = os.memfd_create("evse-sim-bus", 0)
        os.ftruncate(fd, size_for(sockets))
        return cls(fd, sockets)

    @property
    def plant_ready(self) -> bool:
        return bool(_HEADER.unpack_from(self.mm, 0)[3])

    def set_plant_ready(self) -> None:
        magic, layout, n, _ = _HEADER.unpack_from(self.mm, 0)
        _HEADER.pack_into(self.mm, 0, magic, layout, n, 1)

    def close(self) -> None:
        try:
            self.mm.close()
        except (BufferError, ValueError):
            pass
