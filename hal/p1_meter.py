"""Real grid meter on the P1 port (RJ11/RJ12): DSMR telegrams over serial, parsed with dsmr-parser.

Owns the P1 serial line (a daemon thread reads it, frames telegrams `/...!CRC\\r\\n`, checks the CRC16 and
parses with dsmr-parser's TelegramParser) and serves the last reading from memory (main process: never
blocks the asyncio loop). A telegram with a bad CRC or that cannot be parsed is dropped and counted
(`crc_errors`, `parse_errors`); bytes outside telegrams are counted (`discarded_bytes`). No telegram for
`stale_after_s` -> `DeviceOffline`; its default follows the spec's telegram interval (`STALE_AFTER_S`: DSMR 5
and Fluvius send one per second, DSMR 4 one per 10 s, so 10 s would call every late DSMR 4 telegram stale).

Hardware assumption: the P1 data line (open collector, inverted) reaches a CM4 UART RX through an inverting
transistor stage (or a USB P1 cable); the board holds the Data Request line at 5 V. DSMR 4/5: 115200 8N1.
`port` is any pyserial URL (/dev/ttyAMA0 on the CM4 carrier: the primary UART, which must not carry the
kernel's serial console: its bytes would be mixed into the telegrams; the factory refuses such a port).

Currents: the meter reports per-phase current magnitudes in whole amperes. The reading gives each phase the
sign of its net power (+P minus -P: export is negative) and at least |net power| / voltage when that is
larger (finer than the 1 A resolution).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import serial
from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from board.schema import Param
from hal.errors import DeviceError, DeviceOffline
from hal.interfaces import MeterReading
from hal.polling import Latest
from hal.real_drivers import BuildContext, RealDriver

SPECS: dict[str, Any] = {
    "v5": telegram_specifications.V5,
    "v4": telegram_specifications.V4,
    "belgium": telegram_specifications.BELGIUM_FLUVIUS,
}
# telegram interval x 3 (DSMR 4: 10 s) or x 5 (DSMR 5, Fluvius: 1 s)
STALE_AFTER_S: dict[str, float] = {"v5": 5.0, "v4": 30.0, "belgium": 5.0}
# a telegram: from '/' up to the first '!' followed by the 4 CRC hex digits and CR LF
TELEGRAM_RE = re.compile(r"/[^/]*?![0-9A-Fa-f]{4}\r\n", re.DOTALL)
MAX_BUFFER = 16384


def _num(telegram: Any, name: str) -> float | None:
    obj = getattr(telegram, name, None)
    if obj is None:
        return None
    value = obj.value
    return float(value) if isinstance(value, (Decimal, int, float)) else None


def reading_from_telegram(telegram: Any) -> MeterReading:
    """The MeterReading of a parsed DSMR telegram; DeviceError if it has no L1 current."""
    currents: list[float] = []
    voltages: list[float] = []
    extra: dict[str, float] = {}
    for i, phase in enumerate(("L1", "L2", "L3")):
        amps = _num(telegram, f"INSTANTANEOUS_CURRENT_{phase}")
        if amps is None:
            if i == 0:
                raise DeviceError("P1 telegram has no L1 current (1-0:31.7.0)")
            amps = 0.0
        volts = _num(telegram, f"INSTANTANEOUS_VOLTAGE_{phase}") or 230.0
        plus = _num(telegram, f"INSTANTANEOUS_ACTIVE_POWER_{phase}_POSITIVE")
        minus = _num(telegram, f"INSTANTANEOUS_ACTIVE_POWER_{phase}_NEGATIVE")
        if plus is not None or minus is not None:
            net_w = ((plus or 0.0) - (minus or 0.0)) * 1000.0
            extra[f"power_{phase.lower()}_w"] = round(net_w, 1)
            amps = max(abs(amps), abs(net_w) / volts)
            if net_w < 0:
                amps = -amps
        currents.append(round(amps, 3))
        voltages.append(volts)
    imported = [_num(telegram, n) for n in ("ELECTRICITY_USED_TARIFF_1", "ELECTRICITY_USED_TARIFF_2")]
    exported = [_num(telegram, n) for n in ("ELECTRICITY_DELIVERED_TARIFF_1", "ELECTRICITY_DELIVERED_TARIFF_2")]
    import_kwh = sum(v for v in imported if v is not None)
    export_kwh = sum(v for v in exported if v is not None)
    extra["import_wh"] = round(import_kwh * 1000.0, 1)
    extra["export_wh"] = round(export_kwh * 1000.0, 1)
    usage = _num(telegram, "CURRENT_ELECTRICITY_USAGE") or 0.0
    delivery = _num(telegram, "CURRENT_ELECTRICITY_DELIVERY") or 0.0
    return MeterReading(
        currents_a=(currents[0], currents[1], currents[2]),
        voltages_v=(voltages[0], voltages[1], voltages[2]),
        power_w=round((usage - delivery) * 1000.0, 1),
        energy_wh=extra["import_wh"],
        extra=extra,
    )


class TelegramFramer:
    """Cuts a byte stream into telegram strings; counts what lies outside telegrams."""

    def __init__(self) -> None:
        self._buf = ""
        self.discarded_bytes = 0
        self.truncated = 0  # telegrams that started but never ended (a new one began first)

    def _discard(self, text: str) -> None:
        self.discarded_bytes += len(text)
        self.truncated += text.count("/")

    def feed(self, data: bytes) -> list[str]:
        self._buf += data.decode("latin-1")
        out: list[str] = []
        pos = 0
        for m in TELEGRAM_RE.finditer(self._buf):
            self._discard(self._buf[pos : m.start()])
            out.append(m.group(0))
            pos = m.end()
        rest = self._buf[pos:]
        # keep only from the last '/' (a telegram in progress); nothing before it can become a telegram
        start = rest.rfind("/")
        drop = len(rest) if start < 0 else start
        if len(rest) - drop > MAX_BUFFER:
            drop = len(rest)
        self._discard(rest[:drop])
        self._buf = rest[drop:]
        return out


class P1Meter:
    """EnergyMeter on a DSMR P1 port, read by a daemon thread."""

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        spec: str = "v5",
        stale_after_s: float | None = None,  # default: STALE_AFTER_S[spec]
        reopen_s: float = 5.0,
        now: Callable[[], float] = time.monotonic,
        open_serial: Callable[..., Any] = serial.serial_for_url,
        start: bool = True,
    ) -> None:
        if spec not in SPECS:
            raise ValueError(f"P1 spec must be one of {sorted(SPECS)}, not {spec!r}")
        self.port = port
        self.baudrate = baudrate
        self.reopen_s = reopen_s
        self._open_serial = open_serial
        self.parser = TelegramParser(SPECS[spec])
        self.framer = TelegramFramer()
        if stale_after_s is None:
            stale_after_s = STALE_AFTER_S[spec]
        self.latest: Latest[MeterReading] = Latest(f"P1 meter on {port}", stale_after_s, now)
        self.telegrams = 0
        self.crc_errors = 0
        self.parse_errors = 0
        self.port_errors = 0
        self.last_telegram: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"p1 {port}", daemon=True)
        if start:
            self._thread.start()

    @property
    def discarded_bytes(self) -> int:
        return self.framer.discarded_bytes

    def read(self) -> MeterReading:
        return self.latest.get()

    def feed(self, data: bytes) -> None:
        """Frames, checks and parses `data` (called by the reader thread; tests may call it directly)."""
        for text in self.framer.feed(data):
            try:
                telegram = self.parser.parse(text)
                reading = reading_from_telegram(telegram)
            except InvalidChecksumError:
                self.crc_errors += 1
                continue
            except (ParseError, DeviceError, ValueError, ArithmeticError):
                self.parse_errors += 1
                continue
            self.telegrams += 1
            self.last_telegram = telegram
            self.latest.put(reading)

    def _run(self) -> None:
        ser: Any = None
        while not self._stop.is_set():
            if ser is None:
                try:
                    ser = self._open_serial(self.port, baudrate=self.baudrate, timeout=0.2)
                except (serial.SerialException, OSError, ValueError) as exc:
                    self.port_errors += 1
                    self.latest.fail(DeviceOffline(f"cannot open {self.port}: {exc}"))
                    self._stop.wait(self.reopen_s)
                    continue
            try:
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                self.port_errors += 1
                self.latest.fail(DeviceOffline(f"{self.port}: {exc}"))
                ser.close()
                ser = None
                self._stop.wait(self.reopen_s)
                continue
            if data:
                self.feed(data)
        if ser is not None:
            ser.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)


def _build(p: dict[str, Any], ctx: BuildContext, name: str) -> P1Meter:
    return P1Meter(ctx.serial_port(p["port"]), now=ctx.now, **{k: v for k, v in p.items() if k != "port"})


P1 = RealDriver(
    "grid_meter",
    "p1",
    {
        "port": Param(str, True, role="serial_port"),
        "baudrate": Param(int, default=115200, why="DSMR 4/5: 115200"),
        "spec": Param(str, default="v5", choices=tuple(SPECS)),
        "stale_after_s": Param((int, float), min=1.0, max=120.0, why="default per spec: v4 30 s, v5 and belgium 5 s"),
    },
    what="DSMR P1 port of the grid meter",
    build=_build,
)
