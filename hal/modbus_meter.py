"""Energy meters over Modbus RTU or Modbus TCP: the one adapter module that imports pymodbus (DESIGN.md).

Owns: the blocking reader of a register map (`MapReader`: the tables are data, in hal/meter_maps.py: Socomec,
Eastron, ABB, Carlo Gavazzi, Inepro), `ModbusMeter` (a background poll thread with the last reading served
from memory: the control process reads its socket meter every 10 ms tick and must never wait on the line)
and `RegisterServer`, a real pymodbus server answering with raw registers like a meter (tests on loopback,
bench rigs), with `SdmMeterServer` on it answering like an Eastron SDM630.

Which map: a board file pins one (`model`, a table name of hal/meter_maps.py; the `sdm_*` drivers pin the
SDM630); a grid meter without a pinned model follows the MBTCP*-SlaveMeterModel key through `select`, asked
again at every `read()` (so a changed key takes effect at the next poll without a restart).

Hardware assumption: the socket meter sits on an RS-485 line (`port`, any pyserial URL: /dev/ttyAMA1,
/dev/ttyUSB0, or socket://host:port for an RTU-over-TCP gateway), 9600 8N1 by default, unit id 1; a grid meter
may instead be reached over Modbus TCP (`host`, `tcp_port`). pymodbus is pinned to 3.16.x: its API changes
between minors.

Errors: no answer / connection lost -> `DeviceOffline`; a Modbus exception response (e.g. 2, illegal data
address: wrong meter model or unit id) -> `DeviceError` naming the register; a value that is not finite or not
plausible (hal/meter_maps.py `PLAUSIBLE`) -> `DeviceError` naming the quantity: it is never served as a
reading. `read()` keeps serving the last good reading for `stale_after_s` and raises the last error after that.
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
from hal.meter_maps import EASTRON_SDM630, MODELS, MeterMap, decode, encode, model_for
from hal.polling import Latest, Poller
from hal.real_drivers import BuildContext, RealDriver

# the SDM630 addresses tests and tools name (the table itself is hal/meter_maps.py)
FREQUENCY = 0x0046
IMPORT_KWH = 0x0048

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


class MapReader:
    """Blocking reads of one meter through a pymodbus sync client (owned by one thread), by a register map:
    a pinned `table`, or the one `select()` named last (None until then: reads raise `DeviceError`)."""

    def __init__(
        self,
        client: ModbusTcpClient | ModbusSerialClient,
        unit: int,
        name: str,
        signed_currents: bool,
        table: MeterMap | None = None,
    ) -> None:
        self.client = client
        self.unit = unit
        self.name = name
        self.signed_currents = signed_currents
        self.pinned = table is not None
        self._selection: tuple[MeterMap | None, str] = (table, "no meter model selected")
        self.requests = 0

    @property
    def table(self) -> MeterMap | None:
        return self._selection[0]

    def select(self, model: str) -> None:
        """Follow the meter model `model` (a key value or a table name); ignored when the board pins one."""
        if self.pinned:
            return
        try:
            self._selection = (model_for(model), "")
        except ValueError as exc:
            problem = "the meter model is None" if model == "None" else str(exc)
            self._selection = (None, problem)  # one assignment: the poll thread sees the old or the new pair

    def _block(self, table: MeterMap, start: int, count: int) -> list[int]:
        self.requests += 1
        read = self.client.read_holding_registers if table.function == 3 else self.client.read_input_registers
        try:
            if not self.client.connected and not self.client.connect():
                raise DeviceOffline(f"{self.name}: cannot connect")
            rr = read(start, count=count, device_id=self.unit)
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
        table, problem = self._selection
        if table is None:
            raise DeviceError(f"{self.name}: {problem}")
        blocks = {start: self._block(table, start, count) for start, count in table.blocks()}
        return to_reading(decode(table, blocks, f"{self.name} ({table.title})"), table, self.signed_currents)

    def close(self) -> None:
        self.client.close()


def to_reading(v: dict[str, float], table: MeterMap, signed_currents: bool) -> MeterReading:
    """A MeterReading from a table's decoded quantities. Currents are magnitudes; for a grid meter
    (`signed_currents`) a phase that exports (negative active power) gets a negative current."""
    if table.phases == 1:
        volts = (v["voltage_l1"], 0.0, 0.0)
        amps = [abs(v["current_l1"]), 0.0, 0.0]
        powers = (v["power"], 0.0, 0.0)
    else:
        volts = (v["voltage_l1"], v["voltage_l2"], v["voltage_l3"])
        amps = [abs(v["current_l1"]), abs(v["current_l2"]), abs(v["current_l3"])]
        powers = (v["power_l1"], v["power_l2"], v["power_l3"])
    if signed_currents:  # grid meter: export (negative phase power) is a negative current
        amps = [-a if p < 0 else a for a, p in zip(amps, powers, strict=True)]
    total = v.get("power", sum(powers))
    return MeterReading(
        currents_a=(round(amps[0], 3), round(amps[1], 3), round(amps[2], 3)),
        voltages_v=(round(volts[0], 2), round(volts[1], 2), round(volts[2], 2)),
        power_w=round(total, 1),
        energy_wh=round(v["import_energy"], 1),
        frequency_hz=round(v["frequency"], 3),
        extra={
            "import_wh": round(v["import_energy"], 1),
            "export_wh": round(v.get("export_energy", 0.0), 1),
            "power_l1_w": powers[0],
            "power_l2_w": powers[1],
            "power_l3_w": powers[2],
        },
    )


class ModbusMeter:
    """EnergyMeter served from memory; a daemon thread polls the meter every `poll_interval_s`.
    `read()` never blocks: last reading while younger than `stale_after_s`, else the last error. With
    `select` (the key's meter model, asked in the caller's thread), each `read()` passes the model on; the
    next poll reads the new map (a reading of the previous one is served until then)."""

    def __init__(
        self,
        reader: MapReader,
        poll_interval_s: float = 1.0,
        stale_after_s: float = 5.0,
        now: Callable[[], float] = time.monotonic,
        start: bool = True,
        select: Callable[[], str] | None = None,
    ) -> None:
        self.reader = reader
        self.select = select
        self._selected: str | None = None
        self.latest: Latest[MeterReading] = Latest(reader.name, stale_after_s, now)
        self._follow()
        self.poller = Poller(f"poll {reader.name}", reader.read, self.latest, poll_interval_s)
        if start:
            self.poller.start()

    def _follow(self) -> None:
        if self.select is None or self.reader.pinned:
            return
        try:
            model = self.select()
        except Exception as exc:  # noqa: BLE001 - a reader of this meter only expects DeviceError
            raise DeviceError(f"{self.reader.name}: cannot tell the meter model: {exc}") from exc
        if model != self._selected:
            self._selected = model
            self.reader.select(model)

    def read(self) -> MeterReading:
        self._follow()
        return self.latest.get()

    def close(self) -> None:
        self.poller.stop()
        self.reader.close()


def _table(model: str | None, select: Callable[[], str] | None, name: str) -> MeterMap | None:
    if model is not None:
        return model_for(model)
    if select is None:
        raise ValueError(f"{name}: a Modbus meter needs a model (the board file's `model`)")
    return None


def modbus_tcp(
    host: str,
    tcp_port: int = 502,
    unit: int = 1,
    model: str | None = None,
    select: Callable[[], str] | None = None,
    poll_interval_s: float = 1.0,
    stale_after_s: float = 5.0,
    timeout_s: float = 0.5,
    signed_currents: bool = False,
    now: Callable[[], float] = time.monotonic,
    name: str = "meter",
    start: bool = True,
) -> ModbusMeter:
    """A meter behind Modbus TCP (a TCP meter or a Modbus TCP gateway): `model` pins its map, else `select`
    (the key's model) chooses it. `start=False`: no poll thread (the caller reads `reader` itself)."""
    table = _table(model, select, name)
    client = ModbusTcpClient(host, port=tcp_port, timeout=timeout_s, retries=0, reconnect_delay=0)
    reader = MapReader(client, unit, f"{name} (Modbus TCP {host}:{tcp_port} unit {unit})", signed_currents, table)
    return ModbusMeter(reader, poll_interval_s, stale_after_s, now, start, select)


def modbus_rtu(
    port: str,
    baudrate: int = 9600,
    parity: str = "N",
    unit: int = 1,
    model: str | None = None,
    select: Callable[[], str] | None = None,
    poll_interval_s: float = 1.0,
    stale_after_s: float = 5.0,
    timeout_s: float = 0.5,
    signed_currents: bool = False,
    now: Callable[[], float] = time.monotonic,
    name: str = "meter",
    start: bool = True,
) -> ModbusMeter:
    """A meter on an RS-485 line (Modbus RTU); `port` is any pyserial URL."""
    if parity not in ("N", "E", "O"):
        raise ValueError(f"{name}: parity must be N, E or O, not {parity!r}")
    table = _table(model, select, name)
    client = ModbusSerialClient(
        port, framer=FramerType.RTU, baudrate=baudrate, parity=parity, timeout=timeout_s, retries=0, reconnect_delay=0
    )
    reader = MapReader(client, unit, f"{name} (Modbus RTU {port} unit {unit})", signed_currents, table)
    return ModbusMeter(reader, poll_interval_s, stale_after_s, now, start, select)


def sdm_tcp(host: str, tcp_port: int = 502, **kw: Any) -> ModbusMeter:
    """An Eastron SDM630 behind Modbus TCP (the `sdm_tcp` board driver)."""
    return modbus_tcp(host, tcp_port, model=EASTRON_SDM630.name, **kw)


def sdm_rtu(port: str, **kw: Any) -> ModbusMeter:
    """An Eastron SDM630 on an RS-485 line (the `sdm_rtu` board driver)."""
    return modbus_rtu(port, model=EASTRON_SDM630.name, **kw)


# --- board-file declarations (the socket meter and the grid meter, over RTU or TCP) -------------------------

_POLLED: dict[str, Param] = {
    "unit": Param(int, default=1, min=1, max=247, why="Modbus unit (slave) id"),
    "poll_interval_s": Param((int, float), default=1.0, min=0.01, max=60.0),
    "stale_after_s": Param((int, float), default=5.0, min=0.1, why="read() raises after this long without a good reading"),
    "timeout_s": Param((int, float), default=0.5, min=0.01, max=10.0, why="per request"),
}
MODEL_NAMES = tuple(sorted(MODELS))


def _declare(kind: str, rtu: bool, any_model: bool) -> RealDriver:
    """`sdm_rtu`/`sdm_tcp`: the SDM630 map; `modbus_rtu`/`modbus_tcp`: the map `model` names (a grid meter
    without one follows the MBTCP*-SlaveMeterModel key, `ctx.meter_model`)."""
    grid = kind == "grid_meter"

    def build(p: dict[str, Any], ctx: BuildContext, name: str) -> ModbusMeter:
        common: dict[str, Any] = {"signed_currents": grid, "now": ctx.now, "name": name}
        if any_model:
            common["select"] = ctx.meter_model if grid else None
        if rtu:
            make_rtu = modbus_rtu if any_model else sdm_rtu
            return make_rtu(**{**p, "port": ctx.serial_port(p["port"])}, **common)
        return (modbus_tcp if any_model else sdm_tcp)(**p, **common)

    link: dict[str, Param] = (
        {
            "port": Param(str, True, role="serial_port"),
            "baudrate": Param(int, default=9600),
            "parity": Param(str, default="N", choices=("N", "E", "O")),
        }
        if rtu
        else {"host": Param(str, True), "tcp_port": Param(int, default=502, min=1, max=65535)}
    )
    model: dict[str, Param] = (
        {"model": Param(str, not grid, choices=MODEL_NAMES, why="the register map (hal/meter_maps.py)")}
        if any_model
        else {}
    )
    bus = "RTU" if rtu else "TCP"
    return RealDriver(
        kind,
        f"{'modbus' if any_model else 'sdm'}_{bus.lower()}",
        {**link, **model, **_POLLED},
        what=f"Modbus {bus} meter, map by model" if any_model else f"Eastron SDM630/SDM72D over Modbus {bus}",
        build=build,
    )


SDM_RTU_METER = _declare("meter", rtu=True, any_model=False)
SDM_TCP_METER = _declare("meter", rtu=False, any_model=False)
SDM_RTU_GRID = _declare("grid_meter", rtu=True, any_model=False)
SDM_TCP_GRID = _declare("grid_meter", rtu=False, any_model=False)
MODBUS_RTU_METER = _declare("meter", rtu=True, any_model=True)
MODBUS_TCP_METER = _declare("meter", rtu=False, any_model=True)
MODBUS_RTU_GRID = _declare("grid_meter", rtu=True, any_model=True)
MODBUS_TCP_GRID = _declare("grid_meter", rtu=False, any_model=True)


# --- a real Modbus server that answers like a meter ---------------------------------------------------------


class RegisterServer:
    """pymodbus's own TCP server in a thread of its own, answering one function code (3 holding or 4 input
    registers) from `words` (address -> 16-bit register, as on the wire; change it while serving). Every
    other address, and the other function code, answers exception 2 (illegal data address), like a meter
    that does not have it. `framer="rtu"` speaks RTU framing over TCP, so `modbus_rtu` can reach it as
    `socket://127.0.0.1:<port>`."""

    def __init__(
        self,
        function: int = 4,
        words: dict[int, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        unit: int = 1,
        framer: str = "socket",
    ) -> None:
        self.function = function
        self.words: dict[int, int] = dict(words or {})
        self.host = host
        self.port = port
        self.unit = unit
        self.framer = FramerType.RTU if framer == "rtu" else FramerType.SOCKET
        self.requests = 0
        self.functions: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def current_words(self) -> dict[int, int]:
        return self.words

    async def _action(
        self, fc: int, start: int, address: int, count: int, registers: list[int], set_values: Any
    ) -> Any:
        from pymodbus.constants import ExcCodes

        self.requests += 1
        self.functions.append(fc)
        if fc != self.function:
            return ExcCodes.ILLEGAL_ADDRESS
        for addr, word in self.current_words().items():
            if 0 <= addr - start < len(registers):
                registers[addr - start] = word & 0xFFFF
        return None

    def start(self) -> int:
        """Starts serving; returns the port (a free one when constructed with port 0)."""
        from pymodbus.server import ModbusTcpServer  # the server side only where it is used (tests, bench)
        from pymodbus.simulator import DataType, SimData, SimDevice

        ready = threading.Event()
        failure: list[BaseException] = []
        addresses = sorted(self.current_words())

        async def serve() -> None:
            try:
                device = SimDevice(
                    id=self.unit,
                    simdata=[SimData(a, values=0, datatype=DataType.REGISTERS) for a in addresses],
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

        self._thread = threading.Thread(target=run, name="meter-register-server", daemon=True)
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


@dataclass
class MeterValues:
    """What an `SdmMeterServer` answers: phase values and counters (kWh as the meter counts)."""

    voltages: tuple[float, float, float] = (230.0, 230.0, 230.0)
    currents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    powers: tuple[float, float, float] = (0.0, 0.0, 0.0)
    frequency: float = 50.0
    import_kwh: float = 0.0
    export_kwh: float = 0.0

    def quantities(self) -> dict[str, float]:
        q = {"frequency": self.frequency, "power": sum(self.powers)}
        for n in range(3):
            q[f"voltage_l{n + 1}"] = self.voltages[n]
            q[f"current_l{n + 1}"] = self.currents[n]
            q[f"power_l{n + 1}"] = self.powers[n]
        q["import_energy"] = self.import_kwh * 1000.0
        q["export_energy"] = self.export_kwh * 1000.0
        return q


class SdmMeterServer(RegisterServer):
    """A `RegisterServer` answering like an Eastron SDM630 with `values` (change them while serving);
    `omit` leaves registers out (a different meter model)."""

    def __init__(
        self,
        values: MeterValues | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        unit: int = 1,
        framer: str = "socket",
        omit: tuple[int, ...] = (),
    ) -> None:
        super().__init__(EASTRON_SDM630.function, None, host, port, unit, framer)
        self.values = values or MeterValues()
        self.omit = omit

    def current_words(self) -> dict[int, int]:
        words: dict[int, int] = {}
        for quantity, value in self.values.quantities().items():
            reg = EASTRON_SDM630.reg(quantity)
            if reg is not None and reg.address not in self.omit:
                for i, word in enumerate(encode(reg, value)):
                    words[reg.address + i] = word
        return words
