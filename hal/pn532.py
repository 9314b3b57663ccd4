"""Real RFID reader: an NXP PN532 13.56 MHz NFC reader (ISO/IEC 14443A cards: MIFARE Classic/Ultralight/
DESFire, phones) on a UART (HSU, pyserial) or on I2C (smbus2), read in the main process by `poll()`.

Why not a library: the maintained PN532 libraries (Adafruit CircuitPython PN532, nfcpy) wait for the chip
(busy loops with sleeps, blocking reads); the main process polls the reader every 100 ms from its event loop
and must never wait on a line. So this module speaks the PN532 frame protocol itself (PN532 User Manual
UM0701-02, section 6.2) as a state machine that one `poll()` advances by what has arrived, never waiting:

    normal frame: 00 00 FF LEN LCS TFI PD0..PDn DCS 00   LEN = bytes of TFI+PD, LEN+LCS = 0 (mod 256),
                                                           TFI+PD0+..+PDn+DCS = 0; TFI D4 host->PN532, D5 back
    ACK 00 00 FF 00 FF 00     NACK 00 00 FF FF 00 00 (asks for the last response again)
    error frame 00 00 FF 01 FF 7F 81 00 (the chip could not parse the command)

Each command is sent, acknowledged by an ACK within `ack_timeout_s`, answered within `response_timeout_s`. A
response with a bad checksum is asked for again with a NACK (at most `max_nacks` times). A command that gets
no ACK or no response is sent again (`retries`); after that the reader counts as gone: it is re-initialised
after a backoff that doubles from `backoff_s` to `max_backoff_s` (all on the injected clock `now`).

Start-up (and every re-initialisation): on HSU a wake-up (0x55 0x55 and zeros: the chip sleeps in LowVbat
after power-up), then SAMConfiguration (normal mode, no SAM), GetFirmwareVersion (the reader's identity for
`version()`), RFConfiguration MaxRetries (one passive activation retry, so that InListPassiveTarget answers
"no card" at once instead of waiting for one). Then InListPassiveTarget (one target, 106 kbps type A) over
and over. The UID (NFCID1: 4, 7 or 10 bytes) is the idTag as back offices expect it: upper-case hex without
separators, in the order the card sends it; `reverse_uid` reverses the bytes (some back offices store the
little-endian number other readers print). A card held in the field is reported once; it is reported again
only after the reader saw no card for `leave_s`. A reader outage does not count as the card leaving (a card
held through a reader restart is not presented twice: that would stop the session it started).

Hardware assumption: HSU: the PN532 module's interface switches set to HSU (I0=0, I1=0), TX/RX on a CM4 UART
at 115200 8N1 (`port`, any pyserial URL). I2C: switches I0=1, I1=0, 7-bit address 0x24; every I2C read
starts with a status byte whose bit 0 says whether a frame is ready (UM0701-02 6.2.4); the frame follows in
the same read. `poll()` never raises: errors are counted, kept in `last_error` and reported by `online`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import serial

from board.schema import Param
from hal.real_drivers import BuildContext, RealDriver

PREAMBLE_START = b"\x00\x00\xff"
ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
HSU_WAKEUP = b"\x55\x55" + b"\x00" * 14  # UM0701-02 7.2.11 / libnfc: wake from LowVbat before the first command
TFI_HOST, TFI_PN532 = 0xD4, 0xD5
ERROR_TFI = 0x7F  # application level error frame

CMD_GET_FIRMWARE_VERSION = 0x02
CMD_SAM_CONFIGURATION = 0x14
CMD_RF_CONFIGURATION = 0x32
CMD_IN_LIST_PASSIVE_TARGET = 0x4A

SAM_NORMAL = bytes([0x01, 0x14, 0x01])  # normal mode, virtual card timeout 20*50 ms, use IRQ
RF_MAX_RETRIES = bytes([0x05, 0xFF, 0x01, 0x01])  # CfgItem 5: MxRtyATR, MxRtyPSL, MxRtyPassiveActivation = 1
LIST_ONE_TYPE_A = bytes([0x01, 0x00])  # MaxTg 1, BrTy 0: 106 kbps type A (ISO/IEC 14443 Type A)
UID_LENGTHS = (4, 7, 10)  # single, double, triple size NFCID1

INIT_SEQUENCE: tuple[tuple[int, bytes], ...] = (
    (CMD_SAM_CONFIGURATION, SAM_NORMAL),
    (CMD_GET_FIRMWARE_VERSION, b""),
    (CMD_RF_CONFIGURATION, RF_MAX_RETRIES),
)


def command_frame(command: int, params: bytes = b"") -> bytes:
    """The normal information frame carrying `command` from the host (TFI D4)."""
    data = bytes([TFI_HOST, command]) + params
    return data_frame(data)


def data_frame(data: bytes) -> bytes:
    """A normal information frame around `data` (TFI and payload), with both checksums."""
    if not 1 <= len(data) <= 254:
        raise ValueError("a normal frame carries 1..254 bytes")
    length = len(data)
    return PREAMBLE_START + bytes([length, (-length) & 0xFF]) + data + bytes([(-sum(data)) & 0xFF, 0x00])


@dataclass(frozen=True, slots=True)
class Event:
    """One thing found in the byte stream: "ack", "nack", "frame" (with `data` = TFI + payload), "error"
    (the chip's error frame) or "bad" (a frame whose data checksum is wrong)."""

    kind: str
    data: bytes = b""


class FrameParser:
    """Cuts PN532 frames out of a byte stream. Bytes before a start code (00 FF) and frames whose length
    checksum is wrong are dropped and counted (`discarded`); a frame split over reads waits for the rest."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.discarded = 0

    def _drop(self, n: int) -> None:
        """Drops the first `n` bytes; zeros (preambles, postambles, an idle line) are not counted."""
        self.discarded += n - self.buf[:n].count(0)
        del self.buf[:n]

    def feed(self, data: bytes) -> list[Event]:
        self.buf += data
        events: list[Event] = []
        while True:
            start = self.buf.find(b"\x00\xff")
            if start < 0:
                keep = 1 if self.buf.endswith(b"\x00") else 0  # maybe the first half of a start code
                self._drop(len(self.buf) - keep)
                return events
            self._drop(start)
            if len(self.buf) < 4:
                return events
            length, lcs = self.buf[2], self.buf[3]
            if length == 0x00 and lcs == 0xFF:
                events.append(Event("ack"))
                del self.buf[:4]
                continue
            if length == 0xFF and lcs == 0x00:
                events.append(Event("nack"))
                del self.buf[:4]
                continue
            if (length + lcs) & 0xFF or length == 0:
                self._drop(2)  # not a frame: look for the next start code
                continue
            if len(self.buf) < 4 + length + 1:
                return events
            data = bytes(self.buf[4 : 4 + length])
            dcs = self.buf[4 + length]
            del self.buf[: 4 + length + 1]
            if (sum(data) + dcs) & 0xFF:
                events.append(Event("bad", data))
            elif data[0] == ERROR_TFI:
                events.append(Event("error", data))
            else:
                events.append(Event("frame", data))

class Pn532Link(Protocol):
    """The line to the chip. `read` returns what has arrived (b"" when nothing) and never blocks;
    `datagram` links (I2C) return at most one frame per read, followed by padding to drop."""

    name: str
    datagram: bool

    def open(self) -> None: ...
    def wake(self) -> None: ...
    def write(self, frame: bytes) -> None: ...
    def read(self, expect: int) -> bytes: ...
    def close(self) -> None: ...


class HsuLink:
    """PN532 High Speed UART through pyserial (`port`: any pyserial URL)."""

    datagram = False

    def __init__(
        self, port: str, baudrate: int = 115200, open_serial: Callable[..., Any] = serial.serial_for_url
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.name = f"HSU {port}"
        self._open_serial = open_serial
        self._ser: Any = None

    def open(self) -> None:
        if self._ser is None:
            self._ser = self._open_serial(self.port, baudrate=self.baudrate, timeout=0, write_timeout=0.5)
        else:
            self._ser.reset_input_buffer()

    def wake(self) -> None:
        self.write(HSU_WAKEUP)

    def write(self, frame: bytes) -> None:
        if self._ser is None:
            raise OSError(f"{self.port} is not open")
        self._ser.write(frame)

    def read(self, expect: int) -> bytes:
        if self._ser is None:
            return b""
        waiting = self._ser.in_waiting
        return bytes(self._ser.read(waiting)) if waiting else b""

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            finally:
                self._ser = None


class I2cLink:
    """PN532 on I2C through an smbus2 `SMBus` (`i2c_rdwr` with plain read/write messages: the PN532 has no
    register addresses). Each read is one transfer: the status byte, then the frame when bit 0 is set."""

    datagram = True
    READY = 0x01

    def __init__(self, bus: Any, address: int = 0x24, bus_number: int | None = None) -> None:
        self.bus = bus
        self.address = address
        where = f"i2c-{bus_number} " if bus_number is not None else ""
        self.name = f"I2C {where}0x{address:02x}"

    def open(self) -> None:
        pass

    def wake(self) -> None:
        pass  # the PN532 wakes on its own address

    def write(self, frame: bytes) -> None:
        from smbus2 import i2c_msg

        self.bus.i2c_rdwr(i2c_msg.write(self.address, frame))

    def read(self, expect: int) -> bytes:
        from smbus2 import i2c_msg

        msg = i2c_msg.read(self.address, expect + 1)
        self.bus.i2c_rdwr(msg)
        data = bytes(msg)
        if not data or not data[0] & self.READY:
            return b""
        return data[1:]

    def close(self) -> None:
        pass  # the bus belongs to the board (closed with it)


def uid_tag(uid: bytes, reverse: bool = False) -> str:
    """The idTag for a card UID: upper-case hex, no separators; `reverse` for the reversed byte order."""
    return (uid[::-1] if reverse else uid).hex().upper()


def parse_target(payload: bytes) -> bytes | None:
    """The NFCID1 from an InListPassiveTarget (106 kbps type A) answer `payload` (after D5 4B), b"" for no
    target, None for an answer that is not well formed."""
    if not payload:
        return None
    if payload[0] == 0:
        return b""
    # NbTg, Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1 [, ATS]
    if len(payload) < 6:
        return None
    length = payload[5]
    if length not in UID_LENGTHS or len(payload) < 6 + length:
        return None
    return bytes(payload[6 : 6 + length])


class Pn532Reader:
    """RfidReader for a PN532 on an HSU or I2C link; `poll()` advances the protocol without waiting."""

    ACK_READ = 6
    RESPONSE_READ = 64

    def __init__(
        self,
        link: Pn532Link,
        now: Callable[[], float] = time.monotonic,
        reverse_uid: bool = False,
        ack_timeout_s: float = 0.5,
        response_timeout_s: float = 1.0,
        retries: int = 2,
        max_nacks: int = 2,
        leave_s: float = 0.5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.link = link
        self._now = now
        self.reverse_uid = reverse_uid
        self.ack_timeout_s = ack_timeout_s
        self.response_timeout_s = response_timeout_s
        self.retries = retries
        self.max_nacks = max_nacks
        self.leave_s = leave_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.parser = FrameParser()
        self._queue: deque[str] = deque(maxlen=8)
        self._present: str | None = None
        self._absent_since: float | None = None
        # link state
        self._up = False  # opened and initialised
        self._opened = False
        self._init_step = 0
        self._next_init = now()
        self._backoff = backoff_s
        # the command in flight
        self._cmd: int | None = None
        self._frame = b""
        self._phase = ""  # "ack" or "response"
        self._deadline = 0.0
        self._tries = 0
        self._nacks = 0
        # what happened
        self.firmware: tuple[int, int, int] | None = None  # IC, version, revision
        self.frames = 0
        self.bad_frames = 0
        self.error_frames = 0
        self.nacks_sent = 0
        self.timeouts = 0
        self.inits = 0
        self.failures = 0
        self.cards = 0
        self.last_error: str | None = None

    # -- state -------------------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        """True once the reader answered its initialisation, until it stops answering."""
        return self._up

    @property
    def discarded_bytes(self) -> int:
        return self.parser.discarded

    def version(self) -> str:
        if self.firmware is None:
            return f"PN532 on {self.link.name}"
        ic, ver, rev = self.firmware
        return f"PN5{ic:02X} firmware {ver}.{rev} on {self.link.name}"

    # -- the RfidReader interface -------------------------------------------------------------------------
    def poll(self) -> str | None:
        """The idTag of a card presented since the last poll, or None. Never blocks, never raises."""
        try:
            self._advance(self._now())
        except Exception as exc:  # noqa: BLE001 - the housekeeping loop must go on; counted and re-initialised
            self._lost(f"{type(exc).__name__}: {exc}")
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        self._up = False
        self._opened = False
        self.link.close()

    # -- the protocol ---------------------------------------------------------------------------------------
    def _advance(self, t: float) -> None:
        if not self._opened:
            if t < self._next_init:
                return
            self._start(t)
        if self._cmd is not None:
            data = self.link.read(self.ACK_READ if self._phase == "ack" else self.RESPONSE_READ)
            if data:
                events = self.parser.feed(data)
                if self.link.datagram:
                    self.parser.buf.clear()  # the padding after the one frame of an I2C read
                for ev in events:
                    self._on_event(ev, t)
                    if not self._opened:
                        return
            if self._cmd is not None and t >= self._deadline:
                self._timed_out(t)
        if self._opened and self._cmd is None:
            self._send_next(t)

    def _start(self, t: float) -> None:
        self.inits += 1
        self.parser.buf.clear()
        self.link.open()
        self._opened = True
        self._init_step = 0
        self.link.wake()

    def _send_next(self, t: float) -> None:
        if self._init_step < len(INIT_SEQUENCE):
            cmd, params = INIT_SEQUENCE[self._init_step]
        else:
            cmd, params = CMD_IN_LIST_PASSIVE_TARGET, LIST_ONE_TYPE_A
        self._send(cmd, command_frame(cmd, params), t)
        self._tries = 0

    def _send(self, cmd: int, frame: bytes, t: float) -> None:
        self._cmd = cmd
        self._frame = frame
        self._phase = "ack"
        self._nacks = 0
        self._deadline = t + self.ack_timeout_s
        self.link.write(frame)

    def _on_event(self, ev: Event, t: float) -> None:
        if ev.kind == "ack":
            if self._phase == "ack":
                self._phase = "response"
                self._deadline = t + self.response_timeout_s
            return
        if ev.kind == "nack":
            return  # the chip never sends one; noise that happens to look like it
        if self._cmd is None or self._phase != "response":
            self.bad_frames += 1  # an answer without its ACK (a late one, to a command given up on)
            return
        if ev.kind == "bad":
            self.bad_frames += 1
            if self._nacks < self.max_nacks:
                self._nacks += 1
                self.nacks_sent += 1
                self._deadline = t + self.response_timeout_s
                self.link.write(NACK)
            else:
                self._retry(t, "responses with bad checksums")
            return
        if ev.kind == "error":
            self.error_frames += 1
            self._retry(t, "the reader answered with an error frame")
            return
        data = ev.data
        if len(data) < 2 or data[0] != TFI_PN532 or data[1] != self._cmd + 1:
            self.bad_frames += 1  # not the answer to this command: keep waiting for it
            return
        self.frames += 1
        self._answered(self._cmd, data[2:], t)

    def _answered(self, cmd: int, payload: bytes, t: float) -> None:
        self._cmd = None
        self._phase = ""
        if cmd == CMD_GET_FIRMWARE_VERSION and len(payload) >= 3:
            self.firmware = (payload[0], payload[1], payload[2])
        if self._init_step < len(INIT_SEQUENCE):
            self._init_step += 1
            if self._init_step == len(INIT_SEQUENCE):
                self._up = True
                self._backoff = self.backoff_s
                self.last_error = None
            return
        if cmd == CMD_IN_LIST_PASSIVE_TARGET:
            uid = parse_target(payload)
            if uid is None:
                self.bad_frames += 1
                return
            self._seen(uid, t)

    def _seen(self, uid: bytes, t: float) -> None:
        if not uid:
            if self._present is not None:
                if self._absent_since is None:
                    self._absent_since = t
                if t - self._absent_since >= self.leave_s:
                    self._present = None
                    self._absent_since = None
            return
        tag = uid_tag(uid, self.reverse_uid)
        self._absent_since = None
        if tag != self._present:
            self.cards += 1
            self._queue.append(tag)
            self._present = tag

    def _timed_out(self, t: float) -> None:
        self.timeouts += 1
        self._retry(t, f"no {'ACK' if self._phase == 'ack' else 'response'} to command 0x{self._cmd or 0:02x}")

    def _retry(self, t: float, why: str) -> None:
        self.last_error = why
        if self._tries < self.retries and self._cmd is not None:
            self._tries += 1
            self.parser.buf.clear()
            self._send(self._cmd, self._frame, t)
            return
        self._lost(why)

    def _lost(self, why: str) -> None:
        """The reader stopped answering (or the line failed): start over after the backoff."""
        self.failures += 1
        self.last_error = why
        self._up = False
        self._opened = False
        self._cmd = None
        self._next_init = self._now() + self._backoff
        self._backoff = min(self.max_backoff_s, self._backoff * 2)
        try:
            if not self.link.datagram:
                self.link.close()  # reopened at the next initialisation (a USB adapter may be re-plugged)
        except Exception:  # noqa: BLE001 - the port is gone anyway
            pass


def pn532_hsu(
    port: str, baudrate: int = 115200, now: Callable[[], float] = time.monotonic, **options: Any
) -> Pn532Reader:
    """A PN532 on a UART (HSU)."""
    return Pn532Reader(HsuLink(port, baudrate), now=now, **options)


def pn532_i2c(
    bus: Any, address: int = 0x24, bus_number: int | None = None, now: Callable[[], float] = time.monotonic,
    **options: Any,
) -> Pn532Reader:
    """A PN532 on I2C (`bus`: an smbus2 `SMBus`)."""
    return Pn532Reader(I2cLink(bus, address, bus_number), now=now, **options)


# --- board-file declarations ----------------------------------------------------------------------------------

_REVERSE = Param(bool, default=False, why="the idTag with the UID bytes reversed (the order some back offices store)")


def _build_hsu(p: dict[str, Any], ctx: BuildContext, name: str) -> Pn532Reader:
    return pn532_hsu(ctx.serial_port(p["port"]), p["baudrate"], now=ctx.now, reverse_uid=p["reverse_uid"])


def _build_i2c(p: dict[str, Any], ctx: BuildContext, name: str) -> Pn532Reader:
    return pn532_i2c(ctx.bus(p["i2c_bus"]), p["address"], p["i2c_bus"], now=ctx.now, reverse_uid=p["reverse_uid"])


PN532_HSU = RealDriver(
    "rfid",
    "pn532_hsu",
    {
        "port": Param(str, True, role="serial_port"),
        "baudrate": Param(int, default=115200, choices=(9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)),
        "reverse_uid": _REVERSE,
    },
    what="PN532 13.56 MHz NFC reader (ISO 14443A) on a UART (HSU)",
    build=_build_hsu,
)
PN532_I2C = RealDriver(
    "rfid",
    "pn532_i2c",
    {
        "i2c_bus": Param(int, default=1, min=0, why="/dev/i2c-N"),
        "address": Param(int, default=0x24, choices=(0x24,), why="the PN532's fixed I2C address"),
        "reverse_uid": _REVERSE,
    },
    what="PN532 13.56 MHz NFC reader (ISO 14443A) on I2C",
    i2c=(("i2c_bus", "address"),),
    build=_build_i2c,
)
