"""Energy meters over Modbus RTU or Modbus TCP: the one adapter module that imports pymodbus (DESIGN.md).

Owns: the Eastron SDM630 / SDM72D register map (input registers, function 0x04, IEEE-754 float32 big-endian,
high word first), the blocking reader, `ModbusMeter` (a background poll thread with the last reading served
from memory: the control process reads its socket meter every 10 ms tick and must never wait on the line)
and `SdmMeterServer`, a real pymodbus server answering like an SDM meter (tests on loopback, bench rigs).

Hardware assumption: the socket meter sits on an RS-485 line (`port`, any pyserial URL: /dev/ttyAMA1,
/dev/ttyUSB0, or socket://host:port for an RTU-over-TCP gateway), 9600 8N1 by default, unit id 1; a grid meter
may instead be reached over Modbus TCP (`host`, `tcp_port`). pymodbus is pinned to 3.16.x: its API changes
between minors.

Errors: no answer / connection lost -> `DeviceOffline`; a Modbus exception response (e.g. 2, illegal data
address: wrong meter model or unit id) -> `DeviceError` naming the register. `read()` keeps serving the last
good reading for `stale_after_s` and raises the last error after that.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType, ModbusException
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

from board.schema import Param
from hal.errors import DeviceError, DeviceOffline
from hal.interfaces import MeterReading
from hal.polling import Latest, Poller
from hal.real_drivers import BuildContext, RealDriver

# --- the SDM630 / SDM72D input register map (addresses are 0-based PDU addresses) ---------------------------
V_L1, V_L2, V_L3 = 0x0000, 0x0002, 0x0004
I_L1, I_L2, I_L3 = 0x0006, 0x0008, 0x000A
P_L1, P_L2, P_L3 = 0x000C, 0x000E, 0x0010
P_TOTAL = 0x0034
FREQUENCY = 0x0046
IMPORT_KWH = 0x0048
EXPORT_KWH = 0x004A
TOTAL_KWH = 0x0156

# contiguous blocks read per poll: (start, register count); every address in them is defined on both models
SDM_BLOCKS: tuple[tuple[int, int], ...] = ((0x0000, 0x12), (P_TOTAL, 2), (FREQUENCY, 6), (TOTAL_KWH, 2))

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class _RepeatFilter(logging.Filter):
    """Lets each distinct pymodbus message through at most once per `window_s`: an unplugged meter polled
    twice a second must not write two error lines a second to the journal for days (our own `Latest` keeps
    the current error and counts the failures)."""

    def __init__(self, window_s: float = 300.0, max_keys: int = 256) -> None:
        super().__init__()
        self.window_s = window_s
        self.max_keys = max_keys
        self._seen: dict[str, float] = {}
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        first_line = record.getMessage().partition("\n")[0]  # without the frame dump pymodbus may append
        key = f"{record.levelno}:{first_line[:120]}"
        t = time.monotonic()
        last = self._seen.get(key)
        if last is not None and t - last < self.window_s:
            self.suppressed += 1
            return False
        if len(self._seen) >= self.max_keys:
            self._seen.clear()
        self._seen[key] = t
        return True


PYMODBUS_LOG_FILTER = _RepeatFilter()
logging.getLogger("pymodbus.logging").addFilter(PYMODBUS_LOG_FILTER)


def float_registers(value: float) -> list[int]:
    """A float32 as two registers, high word first (the SDM format)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def registers_float(regs: list[int], index: int = 0) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", regs[index], regs[index + 1]))[0])


class SdmReader:
    """Blocking reads of one SDM meter through a pymodbus sync client (owned by one thread)."""

    def __init__(self, client: ModbusTcpClient | ModbusSerialClient, unit: int, name: str, signed_currents: bool):
        self.client = client
        self.unit = unit
        self.name = name
        self.signed_currents = signed_currents
        self.requests = 0

    def _block(self, start: int, count: int) -> list[int]:
        self.requests += 1
        try:
            if not self.client.connected and not self.client.connect():
                raise DeviceOffline(f"{self.name}: cannot connect")
            rr = self.client.read_input_registers(start, count=count, device_id=self.unit)
        except ModbusException as exc:
            self.client.close()
            raise DeviceOffline(f"{self.name}: no answer reading 0x{start:04x}: {exc}") from exc
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0))
            text = f"{self.name}: exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')}) reading 0x{start:04x}"
            if code in (10, 11):
                raise DeviceOffline(text)
            raise DeviceError(text)
        regs = list(rr.registers)
        if len(regs) != count:
            raise DeviceError(f"{self.name}: asked 0x{start:04x} for {count} registers, got {len(regs)}")
        return regs

    def read(self) -> MeterReading:
        values: dict[int, float] = {}
        for start, count in SDM_BLOCKS:
            regs = self._block(start, count)
            for i in range(0, count, 2):
                values[start + i] = registers_float(regs, i)
        volts = (values[V_L1], values[V_L2], values[V_L3])
        powers = (values[P_L1], values[P_L2], values[P_L3])
        amps = [abs(values[a]) for a in (I_L1, I_L2, I_L3)]
        if self.signed_currents:  # grid meter: export (negative phase power) is a negative current
            amps = [-a if p < 0 else a for a, p in zip(amps, powers, strict=True)]
        return MeterReading(
            currents_a=(round(amps[0], 3), round(amps[1], 3), round(amps[2], 3)),
            voltages_v=(round(volts[0], 2), round(volts[1], 2), round(volts[2], 2)),
            power_w=round(values[P_TOTAL], 1),
            energy_wh=round(values[TOTAL_KWH] * 1000.0, 1),
            frequency_hz=round(values[FREQUENCY], 3),
            extra={
                "import_wh": round(values[IMPORT_KWH] * 1000.0, 1),
                "export_wh": round(values[EXPORT_KWH] * 1000.0, 1),
                "power_l1_w": powers[0],
                "power_l2_w": powers[1],
                "power_l3_w": powers[2],
            },
        )

    def close(self) -> None:
        self.client.close()


class ModbusMeter:
    """EnergyMeter served from memory; a daemon thread polls the meter every `poll_interval_s`.
    `read()` never blocks: last reading while younger than `stale_after_s`, else the last error."""

    def __init__(
        self,
        reader: SdmReader,
        poll_interval_s: float = 1.0,
        stale_after_s: float = 5.0,
        now: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> None:
        self.reader = reader
        self.latest: Latest[MeterReading] = Latest(reader.name, stale_after_s, now)
        self.poller = Poller(f"poll {reader.name}", reader.read, self.latest, poll_interval_s)
        if start:
            self.poller.start()

    def read(self) -> MeterReading:
        return self.latest.get()

    def close(self) -> None:
        self.poller.stop()
        self.reader.close()


def sdm_tcp(
    host: str,
    tcp_port: int = 502,
    unit: int = 1,
    poll_interval_s: float = 1.0,
    stale_after_s: float = 5.0,
    timeout_s: float = 0.5,
    signed_currents: bool = False,
    now: Callable[[], float] = time.monotonic,
    name: str = "meter",
) -> ModbusMeter:
    """An SDM meter behind Modbus TCP (a TCP meter or a Modbus TCP gateway)."""
    client = ModbusTcpClient(host, port=tcp_port, timeout=timeout_s, retries=0, reconnect_delay=0)
    reader = SdmReader(client, unit, f"{name} (Modbus TCP {host}:{tcp_port} unit {unit})", signed_currents)
    return ModbusMeter(reader, poll_interval_s, stale_after_s, now)


def sdm_rtu(
    port: str,
    baudrate: int = 9600,
    parity: str = "N",
    unit: int = 1,
    poll_interval_s: float = 1.0,
    stale_after_s: float = 5.0,
    timeout_s: float = 0.5,
    signed_currents: bool = False,
    now: Callable[[], float] = time.monotonic,
    name: str = "meter",
) -> ModbusMeter:
    """An SDM meter on an RS-485 line (Modbus RTU); `port` is any pyserial URL."""
    if parity not in ("N", "E", "O"):
        raise ValueError(f"{name}: parity must be N, E or O, not {parity!r}")
    client = ModbusSerialClient(
        port, framer=FramerType.RTU, baudrate=baudrate, parity=parity, timeout=timeout_s, retries=0, reconnect_delay=0
    )
    reader = SdmReader(client, unit, f"{name} (Modbus RTU {port} unit {unit})", signed_currents)
    return ModbusMeter(reader, poll_interval_s, stale_after_s, now)


# --- board-file declarations (the socket meter and the grid meter, over RTU or TCP) -------------------------

_POLLED: dict[str, Param] = {
    "unit": Param(int, default=1, min=1, max=247, why="Modbus unit (slave) id"),
    "poll_interval_s": Param((int, float), default=1.0, min=0.01, max=60.0),
    "stale_after_s": Param((int, float), default=5.0, min=0.1, why="read() raises after this long without a good reading"),
    "timeout_s": Param((int, float), default=0.5, min=0.01, max=10.0, why="per request"),
}


def _declare(kind: str, rtu: bool) -> RealDriver:
    signed = kind == "grid_meter"

    def build(p: dict[str, Any], ctx: BuildContext, name: str) -> ModbusMeter:
        if rtu:
            return sdm_rtu(**{**p, "port": ctx.serial_port(p["port"])}, signed_currents=signed, now=ctx.now, name=name)
        return sdm_tcp(**p, signed_currents=signed, now=ctx.now, name=name)

    link: dict[str, Param] = (
        {
            "port": Param(str, True, role="serial_port"),
            "baudrate": Param(int, default=9600),
            "parity": Param(str, default="N", choices=("N", "E", "O")),
        }
        if rtu
        else {"host": Param(str, True), "tcp_port": Param(int, default=502, min=1, max=65535)}
    )
    return RealDriver(
        kind,
        "sdm_rtu" if rtu else "sdm_tcp",
        {**link, **_POLLED},
        what=f"Eastron SDM630/SDM72D over Modbus {'RTU' if rtu else 'TCP'}",
        build=build,
    )


SDM_RTU_METER = _declare("meter", rtu=True)
SDM_TCP_METER = _declare("meter", rtu=False)
SDM_RTU_GRID = _declare("grid_meter", rtu=True)
SDM_TCP_GRID = _declare("grid_meter", rtu=False)


# --- a real Modbus server that answers like an SDM meter ----------------------------------------------------


@dataclass
class MeterValues:
    """What an `SdmMeterServer` answers: phase values and counters (kWh as the meter counts)."""

    voltages: tuple[float, float, float] = (230.0, 230.0, 230.0)
    currents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    powers: tuple[float, float, float] = (0.0, 0.0, 0.0)
    frequency: float = 50.0
    import_kwh: float = 0.0
    export_kwh: float = 0.0

    def registers(self) -> dict[int, float]:
        regs = {
            V_L1: self.voltages[0], V_L2: self.voltages[1], V_L3: self.voltages[2],
            I_L1: self.currents[0], I_L2: self.currents[1], I_L3: self.currents[2],
            P_L1: self.powers[0], P_L2: self.powers[1], P_L3: self.powers[2],
            P_TOTAL: sum(self.powers), FREQUENCY: self.frequency, IMPORT_KWH: self.import_kwh,
            EXPORT_KWH: self.export_kwh, TOTAL_KWH: self.import_kwh + self.export_kwh,
        }  # fmt: skip
        return regs


class SdmMeterServer:
    """pymodbus's own TCP server in a thread of its own, with an SDM input register map (float32 values for
    every register the reader uses; every other address answers exception 2, illegal data address, like a
    meter that does not have it). `framer="rtu"` speaks RTU framing over TCP, so `sdm_rtu` can reach it as
    `socket://127.0.0.1:<port>`. `omit` leaves registers out (a different meter model)."""

    def __init__(
        self,
        values: MeterValues | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        unit: int = 1,
        framer: str = "socket",
        omit: tuple[int, ...] = (),
    ) -> None:
        self.values = values or MeterValues()
        self.host = host
        self.port = port
        self.unit = unit
        self.framer = FramerType.RTU if framer == "rtu" else FramerType.SOCKET
        self.omit = omit
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    async def _action(
        self, fc: int, start: int, address: int, count: int, registers: list[int], set_values: Any
    ) -> None:
        self.requests += 1
        for addr, value in self.values.registers().items():
            if addr not in self.omit:
                registers[addr - start : addr - start + 2] = float_registers(value)
        return None

    def start(self) -> int:
        """Starts serving; returns the port (a free one when constructed with port 0)."""
        from pymodbus.server import ModbusTcpServer  # the server side only where it is used (tests, bench)
        from pymodbus.simulator import DataType, SimData, SimDevice

        ready = threading.Event()
        failure: list[BaseException] = []
        addresses = sorted(a for a in self.values.registers() if a not in self.omit)

        async def serve() -> None:
            try:
                device = SimDevice(
                    id=self.unit,
                    simdata=[SimData(a, values=0.0, datatype=DataType.FLOAT32) for a in addresses],
                    action=self._action,
                )
                self._server = ModbusTcpServer(device, address=(self.host, self.port), framer=self.framer)
                await self._server.serve_forever(background=True)
                sockets = getattr(self._server.transport, "sockets", None)
                if sockets:
                    self.port = int(sockets[0].getsockname()[1])
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            await self._server.serving

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(serve())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="sdm-meter-server", daemon=True)
        self._thread.start()
        if not ready.wait(5.0):
            raise RuntimeError("Modbus server did not start")
        if failure:
            raise failure[0]
        return self.port

    def stop(self) -> None:
        """Stops listening and drops every connection (the meter goes offline)."""
        if self._loop is None or self._server is None or self._thread is None:
            return
        server = self._server

        async def shutdown() -> None:
            await server.shutdown()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5.0)
        self._thread.join(5.0)
        self._server = None
        self._loop = None
