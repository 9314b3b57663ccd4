"""A PN532 emulator for the driver tests, strict like the chip: host frames are checked (preamble, LEN/LCS,
TFI D4, DCS, postamble); a frame that fails a check is ignored and recorded (the chip answers nothing to
it); a good command is acknowledged, then answered. A NACK from the host repeats the last answer. On HSU the
chip sleeps after power-up (LowVbat) until a wake-up (0x55) followed by SAMConfiguration; anything before
that is ignored. The card in the field (`card`, a UID or None) answers InListPassiveTarget.

Faults to script: `silent` (hears everything, answers nothing), `corrupt` (the next N answers carry a wrong
DCS), `garbage` (bytes sent before the next answer), `error_next` (the next command gets the error frame).

Two front ends: `PtyPn532` serves a pseudo-terminal from a thread (the driver opens `name` with pyserial);
`FakePn532Bus` is an smbus2 look-alike whose `i2c_rdwr` speaks the PN532 I2C protocol (a status byte whose
bit 0 says ready, the frame after it in the same read, a response ready only after `busy_reads` polls).
"""

from __future__ import annotations

import errno
import os
import select
import threading
from collections import deque
from ctypes import memmove
from typing import Any

from hal.pn532 import ACK, NACK, data_frame

FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # PN532, firmware 1.6, supports ISO 14443A/B and 18092
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"
SENS_RES = {4: b"\x00\x04", 7: b"\x00\x44", 10: b"\x00\x84"}  # ATQA by UID size (MIFARE Classic/Ultralight)


class Pn532Core:
    """The chip's protocol logic: `feed(host bytes)` -> the frames it sends back, in order."""

    def __init__(self, asleep: bool = True) -> None:
        self.asleep = asleep
        self.woken = False
        self.card: bytes | None = None
        self.sel_res = 0x08  # MIFARE Classic 1K
        self.silent = False
        self.corrupt = 0
        self.garbage = b""
        self.error_next = False
        self.buf = bytearray()
        self.last_answer: bytes | None = None
        self.commands: list[int] = []
        self.rejected: list[bytes] = []  # host frames that failed a check
        self.ignored_asleep = 0
        self.nacks = 0
        self.wakeups = 0
        self.lock = threading.Lock()

    def feed(self, data: bytes) -> list[bytes]:
        with self.lock:
            out: list[bytes] = []
            if b"\x55\x55\x00" in data:
                self.wakeups += data.count(b"\x55\x55\x00")
                self.woken = self.asleep
            self.buf += data
            while True:
                start = self.buf.find(b"\x00\x00\xff")
                if start < 0:
                    del self.buf[: max(0, len(self.buf) - 2)]
                    return out
                del self.buf[:start]
                if len(self.buf) < 6:
                    return out
                if bytes(self.buf[:6]) == NACK:
                    del self.buf[:6]
                    self.nacks += 1
                    if not self.silent and self.last_answer is not None:
                        out.append(self._damaged(self.last_answer))
                    continue
                if bytes(self.buf[:6]) == ACK:  # the host aborts: nothing to answer
                    del self.buf[:6]
                    continue
                length, lcs = self.buf[3], self.buf[4]
                if (length + lcs) & 0xFF or length < 2:
                    self.rejected.append(bytes(self.buf[:5]))
                    del self.buf[:3]
                    continue
                if len(self.buf) < 5 + length + 2:
                    return out
                frame = bytes(self.buf[: 5 + length + 2])
                del self.buf[: 5 + length + 2]
                body, dcs, post = frame[5 : 5 + length], frame[5 + length], frame[6 + length]
                if (sum(body) + dcs) & 0xFF or body[0] != 0xD4 or post != 0x00:
                    self.rejected.append(frame)
                    continue
                out.extend(self._command(body[1], body[2:]))

    def _command(self, cmd: int, params: bytes) -> list[bytes]:
        if self.asleep:
            if not (self.woken and cmd == 0x14):
                self.ignored_asleep += 1
                return []
            self.asleep = False
        self.commands.append(cmd)
        if self.silent:
            return []
        if self.error_next:
            self.error_next = False
            self.last_answer = ERROR_FRAME
            return [ACK, ERROR_FRAME]
        payload = self._answer(cmd, params)
        if payload is None:
            self.last_answer = ERROR_FRAME
            return [ACK, ERROR_FRAME]
        answer = data_frame(bytes([0xD5, cmd + 1]) + payload)
        self.last_answer = answer
        return [ACK, self._damaged(answer)]

    def _damaged(self, answer: bytes) -> bytes:
        """The answer as it goes out: with a wrong DCS while `corrupt`, after the scripted garbage."""
        if self.corrupt:
            self.corrupt -= 1
            answer = answer[:-2] + bytes([(answer[-2] + 1) & 0xFF, 0x00])
        if self.garbage:
            answer, self.garbage = self.garbage + answer, b""
        return answer

    def _answer(self, cmd: int, params: bytes) -> bytes | None:
        if cmd == 0x02:
            return FIRMWARE
        if cmd == 0x14:
            return b"" if params[:1] == b"\x01" else None
        if cmd == 0x32:
            return b"" if params[:1] == b"\x05" and len(params) == 4 else None
        if cmd == 0x4A:
            if params != b"\x01\x00":
                return None
            if self.card is None:
                return b"\x00"
            return b"\x01\x01" + SENS_RES[len(self.card)] + bytes([self.sel_res, len(self.card)]) + self.card
        return None

    def count(self, cmd: int) -> int:
        with self.lock:
            return self.commands.count(cmd)


class PtyPn532:
    """The emulator behind a pseudo-terminal, answering from a thread like the chip on a UART."""

    def __init__(self) -> None:
        self.core = Pn532Core(asleep=True)
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)
        self.received = bytearray()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="pn532-emulator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self.master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            self.received += data
            for frame in self.core.feed(data):
                os.write(self.master, frame)

    def send_raw(self, data: bytes) -> None:
        """Bytes on the line outside the protocol (noise)."""
        os.write(self.master, data)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(2.0)
        for fd in (self.master, self.slave, self._stop_r, self._stop_w):
            os.close(fd)


class FakePn532Bus:
    """smbus2.SMBus look-alike with a PN532 at `address` (I2C: no wake-up needed). Every transfer recorded."""

    def __init__(self, address: int = 0x24, busy_reads: int = 1) -> None:
        self.address = address
        self.core = Pn532Core(asleep=False)
        self.busy_reads = busy_reads
        self.unplugged = False
        self.pending: deque[bytes] = deque()
        self._busy = 0
        self.log: list[tuple[str, bytes]] = []
        self.not_ready_reads = 0

    def i2c_rdwr(self, *msgs: Any) -> None:
        for msg in msgs:
            if msg.addr != self.address or self.unplugged:
                raise OSError(errno.EREMOTEIO, f"Remote I/O error (no chip at 0x{msg.addr:02x})")
            if msg.flags & 0x0001:  # I2C_M_RD
                self._read(msg)
            else:
                data = bytes(msg)
                self.log.append(("write", data))
                for frame in self.core.feed(data):
                    self.pending.append(frame)
                self._busy = self.busy_reads

    def _read(self, msg: Any) -> None:
        n = msg.len
        assert n >= 1, "a PN532 read starts with the status byte"
        if self.pending and self._busy <= 0:
            frame = self.pending.popleft()  # a read shorter than the frame loses the rest, like the chip
            out = (b"\x01" + frame + b"\x00" * n)[:n]
            self._busy = self.busy_reads
        else:
            self._busy -= 1
            self.not_ready_reads += 1
            out = b"\x00" * n
        memmove(msg.buf, out, n)
        self.log.append(("read", out))
