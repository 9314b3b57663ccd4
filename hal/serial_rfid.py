"""Real RFID reader: an RDM6300-style 125 kHz EM4100 reader on a UART, through pyserial (main process).

Protocol (what the reader sends, it takes no commands): 9600 8N1, one 14-byte frame per read, repeated about
every 50-100 ms while a card stays in the field:
    0x02 | 10 ASCII hex digits (1 version/customer byte + 4 card bytes) | 2 ASCII hex checksum | 0x03
where the checksum is the XOR of the 5 data bytes. The UID reported is the 10 hex digits (upper case).

Hardware assumption: the reader's TX goes to a CM4 UART RX (3.3 V level, e.g. /dev/ttyAMA4 with dtoverlay=uart4), or a USB serial
adapter; `port` is any pyserial URL. `poll()` never blocks: it reads what the UART has buffered (timeout 0).
Broken frames (bad checksum, not hex, missing ETX) are dropped and counted; a card held in the field is
reported once (again only after `repeat_s` without seeing it). A missing or failing port never raises from
`poll()` (the housekeeping loop must go on): it is counted, reported by `online`, and reopened every
`reopen_s`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import serial

from board.schema import Param
from hal.real_drivers import BuildContext, RealDriver

STX, ETX = 0x02, 0x03
FRAME_LEN = 14
HEX_DIGITS = b"0123456789ABCDEFabcdef"


def rdm6300_frame(uid: str) -> bytes:
    """The frame a reader sends for the 10-hex-digit `uid` (tests and bench tools)."""
    data = bytes.fromhex(uid)
    if len(data) != 5:
        raise ValueError("an RDM6300 UID is 5 bytes (10 hex digits)")
    checksum = 0
    for b in data:
        checksum ^= b
    return bytes([STX]) + uid.upper().encode() + f"{checksum:02X}".encode() + bytes([ETX])


class Rdm6300Reader:
    """RfidReader for an RDM6300-style reader."""

    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        repeat_s: float = 1.5,
        reopen_s: float = 5.0,
        now: Callable[[], float] = time.monotonic,
        open_serial: Callable[..., Any] = serial.serial_for_url,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.repeat_s = repeat_s
        self.reopen_s = reopen_s
        self._now = now
        self._open_serial = open_serial
        self._ser: Any = None
        self._next_open = 0.0
        self._buf = bytearray()
        self._queue: deque[str] = deque(maxlen=8)
        self._last_uid: str | None = None
        self._last_seen = float("-inf")
        self.frames = 0
        self.bad_frames = 0
        self.discarded_bytes = 0
        self.port_errors = 0
        self.last_error: str | None = None
        self._open()  # now, so that nothing the reader sends from here on is lost to the open's input flush

    @property
    def online(self) -> bool:
        return self._ser is not None

    def _open(self) -> bool:
        if self._ser is not None:
            return True
        t = self._now()
        if t < self._next_open:
            return False
        self._next_open = t + self.reopen_s
        try:
            self._ser = self._open_serial(self.port, baudrate=self.baudrate, timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.port_errors += 1
            self.last_error = str(exc)
            return False
        return True

    def _fail(self, exc: Exception) -> None:
        self.port_errors += 1
        self.last_error = str(exc)
        try:
            self._ser.close()
        except Exception:  # noqa: BLE001 - the port is gone anyway
            pass
        self._ser = None
        self._next_open = self._now() + self.reopen_s

    def poll(self) -> str | None:
        """The UID of a card presented since the last poll, or None."""
        if self._open():
            try:
                waiting = self._ser.in_waiting
                data = self._ser.read(waiting) if waiting else b""
            except (serial.SerialException, OSError) as exc:
                self._fail(exc)
                data = b""
            if data:
                self._buf += data
                self._parse()
        return self._queue.popleft() if self._queue else None

    def _parse(self) -> None:
        while True:
            start = self._buf.find(STX)
            if start < 0:
                self.discarded_bytes += len(self._buf)
                self._buf.clear()
                return
            if start:
                self.discarded_bytes += start
                del self._buf[:start]
            if len(self._buf) < FRAME_LEN:
                return
            frame = bytes(self._buf[:FRAME_LEN])
            uid = self._decode(frame)
            if uid is None:  # drop the STX and look for the next one
                self.bad_frames += 1
                self.discarded_bytes += 1
                del self._buf[:1]
                continue
            del self._buf[:FRAME_LEN]
            self.frames += 1
            self._seen(uid)

    @staticmethod
    def _decode(frame: bytes) -> str | None:
        body = frame[1:13]
        if frame[13] != ETX or any(c not in HEX_DIGITS for c in body):
            return None
        data = bytes.fromhex(body[:10].decode())
        checksum = 0
        for b in data:
            checksum ^= b
        if checksum != int(body[10:12], 16):
            return None
        return body[:10].decode().upper()

    def _seen(self, uid: str) -> None:
        t = self._now()
        if uid != self._last_uid or t - self._last_seen > self.repeat_s:
            self._queue.append(uid)
        self._last_uid = uid
        self._last_seen = t

    def version(self) -> str:
        return f"RDM6300 125 kHz on {self.port}"

    def close(self) -> None:
        if self._ser is not None:
            self._ser.close()
            self._ser = None


def _build(p: dict[str, Any], ctx: BuildContext, name: str) -> Rdm6300Reader:
    return Rdm6300Reader(ctx.serial_port(p["port"]), p["baudrate"], now=ctx.now)


RDM6300 = RealDriver(
    "rfid",
    "rdm6300",
    {"port": Param(str, True, role="serial_port"), "baudrate": Param(int, default=9600)},
    what="RDM6300 125 kHz card reader on a UART",
    build=_build,
)
