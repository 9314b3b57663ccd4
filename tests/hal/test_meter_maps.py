"""Each meter model's register map against a real pymodbus server (loopback) answering with the registers the
meter puts on the wire, written out by hand from the manufacturer's documentation (data type, word order,
scale, sign), not derived from our tables: a wrong address, word order, scale or signedness fails here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest

from board.errors import BoardError
from board.loader import load_board
from hal.errors import DeviceError
from hal.factory import build_station_devices
from hal.interfaces import MeterReading
from hal.meter_maps import KEY_MODELS, MODELS, PLAUSIBLE, REQUIRED_1P, REQUIRED_3P, UNITS, model_for
from hal.modbus_meter import ModbusMeter, RegisterServer, modbus_rtu, modbus_tcp

FAST = {"poll_interval_s": 0.02, "timeout_s": 0.2}


def words(*pairs: tuple[int, tuple[int, ...]]) -> dict[int, int]:
    """{address: word} from (first address, words in wire order)."""
    out: dict[int, int] = {}
    for address, ws in pairs:
        for i, w in enumerate(ws):
            out[address + i] = w
    return out


@dataclass
class Case:
    model: str
    function: int
    wire: dict[int, int]
    currents: tuple[float, float, float]  # as the grid meter reports them (export negative)
    voltages: tuple[float, float, float]
    power_w: float
    import_wh: float
    export_wh: float
    frequency: float


_CASES = [
    # Socomec JBUS table: U32/S32 high word first; V/100, mA, kW/100 (signed), Hz/100, kWh
    Case(
        "socomec_countis_e2x", 3,
        words(
            (0xC558, (0x0000, 0x59E4, 0x0000, 0x5A41, 0x0000, 0x59CB)),  # 230.12, 231.05, 229.87 V
            (0xC55E, (0x0000, 0x1387)),  # 49.99 Hz
            (0xC560, (0x0000, 0x3E83, 0x0000, 0x3C8C, 0x0000, 0x00FA)),  # 16.003, 15.5, 0.25 A
            (0xC568, (0x0000, 0x02D0)),  # 7.20 kW
            (0xC570, (0x0000, 0x0170, 0x0000, 0x0166, 0xFFFF, 0xFFFA)),  # 3.68, 3.58, -0.06 kW
            (0xC652, (0x0001, 0xE240)),  # 123456 kWh imported
            (0xC658, (0x0000, 0x0315)),  # 789 kWh exported
        ),
        (16.003, 15.5, -0.25), (230.12, 231.05, 229.87), 7200.0, 123456000.0, 789000.0, 49.99,
    ),
    # Eastron SDM630: input registers, float32 high word first; V, A, W, Hz, kWh
    Case(
        "eastron_sdm630", 4,
        words(
            (0x0000, (0x4366, 0x8000, 0x4367, 0x3333, 0x4365, 0xCCCD)),  # 230.5, 231.2, 229.8 V
            (0x0006, (0x4180, 0x28F6, 0x417F, 0xAE14, 0x3E9E, 0xB852)),  # 16.02, 15.98, 0.31 A
            (0x000C, (0x4566, 0x4333, 0x4565, 0xB000, 0xC28E, 0x999A)),  # 3684.2, 3675.0, -71.3 W
            (0x0034, (0x45E3, 0xBF33)),  # 7287.9 W
            (0x0046, (0x4247, 0xEB85, 0x4640, 0xE666, 0x429D, 0xCCCD)),  # 49.98 Hz, 12345.6 / 78.9 kWh
        ),
        (16.02, 15.98, -0.31), (230.5, 231.2, 229.8), 7287.9, 12345600.0, 78900.0, 49.98,
    ),
    # Eastron SDM120: single phase
    Case(
        "eastron_sdm120", 4,
        words(
            (0x0000, (0x4365, 0xE666)),  # 229.9 V
            (0x0006, (0x40D0, 0x51EC)),  # 6.51 A
            (0x000C, (0x44BB, 0x1666)),  # 1496.7 W
            (0x0046, (0x4248, 0x0A3D, 0x43A0, 0xC000, 0x0000, 0x0000)),  # 50.01 Hz, 321.5 / 0 kWh
        ),
        (6.51, 0.0, 0.0), (229.9, 0.0, 0.0), 1496.7, 321500.0, 0.0, 50.01,
    ),
    # ABB B23: holding; U32 0.1 V, U32 0.01 A, S32 0.01 W, U16 0.01 Hz, U64 0.01 kWh
    Case(
        "abb_b23", 3,
        words(
            (0x5B00, (0x0000, 0x08FD, 0x0000, 0x0903, 0x0000, 0x08F8)),  # 230.1, 230.7, 229.6 V
            (0x5B0C, (0x0000, 0x0645, 0x0000, 0x0640, 0x0000, 0x0082)),  # 16.05, 16.00, 1.30 A
            (0x5B14, (0x0009, 0xFD25)),  # 6546.29 W
            (0x5B16, (0x0005, 0xA299, 0x0005, 0x92DC, 0xFFFF, 0xC568)),  # 3693.05, 3652.76, -150.00 W
            (0x5B2C, (0x138A,)),  # 50.02 Hz
            (0x5000, (0x0000, 0x0000, 0x0012, 0xD687, 0x0000, 0x0000, 0x0000, 0x04D2)),  # 12345.67 / 12.34 kWh
        ),
        (16.05, 16.0, -1.3), (230.1, 230.7, 229.6), 6546.29, 12345670.0, 12340.0, 50.02,
    ),
    # Carlo Gavazzi EM24: input; INT32 LOW word first; 0.1 V, 0.001 A, 0.1 W, UINT16 0.1 Hz, 0.1 kWh
    Case(
        "carlo_gavazzi_em24", 4,
        words(
            (0x0000, (0x08FD, 0x0000, 0x0904, 0x0000, 0x08F6, 0x0000)),  # 230.1, 230.8, 229.4 V
            (0x000C, (0x3E83, 0x0000, 0x3A98, 0x0000, 0x0208, 0x0000)),  # 16.003, 15.0, 0.52 A
            (0x0012, (0x8FD9, 0x0000, 0x8796, 0x0000, 0xFB50, 0xFFFF)),  # 3682.5, 3471.0, -120.0 W
            (0x0028, (0x1276, 0x0001)),  # 7026.2 W
            (0x0033, (0x01F4,)),  # 50.0 Hz
            (0x0034, (0x1206, 0x000F)),  # 98765.4 kWh
            (0x004E, (0x0457, 0x0000)),  # 111.1 kWh
        ),
        (16.003, 15.0, -0.52), (230.1, 230.8, 229.4), 7026.2, 98765400.0, 111100.0, 50.0,
    ),
    Case(
        "carlo_gavazzi_em340", 4,
        words(
            (0x0000, (0x08F3, 0x0000, 0x08F3, 0x0000, 0x08F3, 0x0000)),  # 229.1 V
            (0x000C, (0x1F40, 0x0000, 0x1F40, 0x0000, 0x1F40, 0x0000)),  # 8.0 A
            (0x0012, (0x47E2, 0x0000, 0x47E2, 0x0000, 0x47E2, 0x0000)),  # 1840.2 W
            (0x0028, (0xD7A6, 0x0000)),  # 5520.6 W
            (0x0033, (0x01F3,)),  # 49.9 Hz
            (0x0034, (0x4240, 0x000F)),  # 100000.0 kWh
            (0x004E, (0x0000, 0x0000)),
        ),
        (8.0, 8.0, 8.0), (229.1, 229.1, 229.1), 5520.6, 100000000.0, 0.0, 49.9,
    ),
    # Inepro PRO380: holding; float32 high word first; V, Hz, A, kW, kWh
    Case(
        "inepro_pro380", 3,
        words(
            (0x5002, (0x4366, 0x3333, 0x4366, 0xE666, 0x4365, 0x6666)),  # 230.2, 230.9, 229.4 V
            (0x5008, (0x4248, 0x0000)),  # 50.0 Hz
            (0x500C, (0x4128, 0x0000, 0x4124, 0x0000, 0x411C, 0x0000)),  # 10.5, 10.25, 9.75 A
            (0x5012, (0x40E2, 0xBB99)),  # 7.0854 kW
            (0x5014, (0x401A, 0xB1C4, 0x4017, 0x79A7, 0x4013, 0x4BC7)),  # 2.4171, 2.3668, 2.3015 kW
            (0x600C, (0x458E, 0xBE66)),  # 4567.8 kWh
            (0x6018, (0x4144, 0xCCCD)),  # 12.3 kWh
        ),
        (10.5, 10.25, 9.75), (230.2, 230.9, 229.4), 7085.4, 4567800.0, 12300.0, 50.0,
    ),
]


# the SDM72D-M V2 puts these quantities at the SDM630's addresses
CASES = [*_CASES, replace(next(c for c in _CASES if c.model == "eastron_sdm630"), model="eastron_sdm72")]


def wait_reading(meter: ModbusMeter, timeout: float = 10.0) -> MeterReading:
    end = time.monotonic() + timeout
    while True:
        try:
            return meter.read()
        except DeviceError:
            assert time.monotonic() < end, meter.latest.last_error
            time.sleep(0.01)


def wait_error(meter: ModbusMeter, timeout: float = 10.0) -> str:
    end = time.monotonic() + timeout
    while meter.latest.last_error is None:
        assert time.monotonic() < end, "no error"
        time.sleep(0.01)
    return meter.latest.last_error


@pytest.fixture
def serve() -> Iterator[Callable[..., RegisterServer]]:
    servers: list[RegisterServer] = []

    def start(function: int, wire: dict[int, int], **kw: object) -> RegisterServer:
        srv = RegisterServer(function, wire, **kw)  # type: ignore[arg-type]
        srv.start()
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.model for c in CASES])
def test_each_model_reads_its_registers_as_documented(case: Case, serve: Callable[..., RegisterServer]) -> None:
    srv = serve(case.function, case.wire)
    grid = modbus_tcp("127.0.0.1", srv.port, model=case.model, signed_currents=True, **FAST)
    socket_meter = modbus_tcp("127.0.0.1", srv.port, model=case.model, **FAST)
    try:
        r = wait_reading(grid)
        assert r.currents_a == pytest.approx(case.currents, abs=1e-3)
        assert r.voltages_v == pytest.approx(case.voltages, abs=1e-2)
        assert r.power_w == pytest.approx(case.power_w, abs=0.1)
        assert r.energy_wh == pytest.approx(case.import_wh, rel=1e-6)
        assert r.extra["export_wh"] == pytest.approx(case.export_wh, rel=1e-6, abs=1e-3)
        assert r.frequency_hz == pytest.approx(case.frequency, abs=1e-3)
        magnitudes = tuple(abs(c) for c in case.currents)
        assert wait_reading(socket_meter).currents_a == pytest.approx(magnitudes, abs=1e-3)  # safety: magnitudes
        assert set(srv.functions) == {case.function}
        probe = modbus_tcp("127.0.0.1", srv.port, model=case.model, start=False)  # no poll thread: one read
        try:
            probe.reader.read()
            assert probe.reader.requests == len(MODELS[case.model].blocks())  # one request per contiguous block
        finally:
            probe.close()
    finally:
        grid.close()
        socket_meter.close()


def test_a_model_read_with_the_wrong_function_code_is_a_meter_error(serve: Callable[..., RegisterServer]) -> None:
    abb = next(c for c in CASES if c.model == "abb_b23")
    srv = serve(4, abb.wire)  # the registers answer only to function 4: the ABB map reads holding registers
    meter = modbus_tcp("127.0.0.1", srv.port, model="abb_b23", **FAST)
    try:
        assert "exception 2 (illegal data address)" in wait_error(meter)
        with pytest.raises(DeviceError):
            meter.read()
    finally:
        meter.close()


def test_rtu_framing_reads_a_map_too(serve: Callable[..., RegisterServer]) -> None:
    em24 = next(c for c in CASES if c.model == "carlo_gavazzi_em24")
    srv = serve(4, em24.wire, framer="rtu", unit=3)
    meter = modbus_rtu(f"socket://127.0.0.1:{srv.port}", baudrate=115200, unit=3, model="carlo_gavazzi_em24", **FAST)
    try:
        assert wait_reading(meter).currents_a == pytest.approx((16.003, 15.0, 0.52), abs=1e-3)
    finally:
        meter.close()


IMPLAUSIBLE = [
    ("eastron_sdm630", {0x0000: 0x7FC0, 0x0001: 0x0000}, "implausible voltage_l1 nan"),  # float NaN
    ("eastron_sdm630", {0x0000: 0x7F80, 0x0001: 0x0000}, "implausible voltage_l1 inf"),
    ("eastron_sdm630", {0x0006: 0x4E6E, 0x0007: 0x6B28}, "implausible current_l1 1e+09"),  # 1e9 A
    ("eastron_sdm630", {0x0046: 0x0000, 0x0047: 0x0000}, "implausible frequency 0 Hz"),
    ("eastron_sdm630", {0x0048: 0xC2C8, 0x0049: 0x0000}, "implausible import_energy -100000 Wh"),
    ("abb_b23", {0x5B2C: 0xFFFF}, "frequency (0x5b2c) is not available"),
    ("abb_b23", {0x5B16: 0x7FFF, 0x5B17: 0xFFFF}, "power_l1 (0x5b16) is not available"),
    ("socomec_countis_e2x", {0xC558: 0x0001, 0xC559: 0x0000}, "implausible voltage_l1 655.36 V"),
]


@pytest.mark.parametrize(("model", "patch", "message"), IMPLAUSIBLE, ids=[m[2] for m in IMPLAUSIBLE])
def test_an_implausible_value_is_a_meter_error_not_a_reading(
    model: str, patch: dict[int, int], message: str, serve: Callable[..., RegisterServer]
) -> None:
    case = next(c for c in CASES if c.model == model)
    srv = serve(case.function, case.wire)
    meter = modbus_tcp("127.0.0.1", srv.port, model=model, stale_after_s=0.2, **FAST)
    try:
        good = wait_reading(meter)
        srv.words.update(patch)
        error = wait_error(meter)
        assert message in error
        end = time.monotonic() + 10.0
        while True:  # the last good reading ages out; the bad value is never served
            try:
                assert meter.read() == good
            except DeviceError as exc:
                assert message in str(exc)
                break
            assert time.monotonic() < end
            time.sleep(0.01)
    finally:
        meter.close()


def test_the_grid_meter_follows_the_key_model_unless_the_board_pins_one(serve: Callable[..., RegisterServer]) -> None:
    socomec = next(c for c in CASES if c.model == "socomec_countis_e2x")
    abb = next(c for c in CASES if c.model == "abb_b23")
    srv = serve(3, {**socomec.wire, **abb.wire})  # both maps on one server (holding registers)
    key = ["Socomec"]
    grid = modbus_tcp("127.0.0.1", srv.port, select=lambda: key[0], signed_currents=True, **FAST)
    pinned = modbus_tcp("127.0.0.1", srv.port, model="abb_b23", select=lambda: key[0], **FAST)
    try:
        assert wait_reading(grid).voltages_v == pytest.approx(socomec.voltages)
        assert wait_reading(pinned).voltages_v == pytest.approx(abb.voltages)
        key[0] = "None"
        grid.read()  # passes the key on (served from memory until the next poll)
        assert "the meter model is None" in wait_error(grid)
        key[0] = "abb_b23"
        grid.read()
        end = time.monotonic() + 10.0
        while wait_reading(grid).voltages_v != pytest.approx(abb.voltages):
            assert time.monotonic() < end
            time.sleep(0.01)
        assert pinned.reader.table is not None and pinned.reader.table.name == "abb_b23"
    finally:
        grid.close()
        pinned.close()


def test_a_failing_model_lookup_is_a_device_error() -> None:
    ok = ["Socomec"]

    def select() -> str:
        if not ok:
            raise KeyError("MBTCPSmart-SlaveMeterModel")
        return ok[0]

    meter = modbus_tcp("127.0.0.1", 1, select=select, start=False)
    try:
        ok.clear()
        with pytest.raises(DeviceError, match="cannot tell the meter model"):
            meter.read()
    finally:
        meter.close()


def test_a_modbus_meter_without_a_model_or_key_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a model"):
        modbus_tcp("127.0.0.1", 1502)
    with pytest.raises(ValueError, match="unknown meter model 'sdm999'"):
        modbus_tcp("127.0.0.1", 1502, model="sdm999")


def test_tables_are_consistent() -> None:
    assert KEY_MODELS["Socomec"] in MODELS  # every value the Alfen key offers (but None) has a table
    for name, table in MODELS.items():
        assert model_for(name) is table
        assert table.function in (3, 4) and table.source
        quantities = [r.quantity for r in table.registers]
        assert len(quantities) == len(set(quantities)), name
        required = REQUIRED_3P if table.phases == 3 else REQUIRED_1P
        assert set(required) <= set(quantities), name
        assert table.phases == 1 or {"power_l1", "power_l2", "power_l3"} <= set(quantities), name
        for r in table.registers:
            assert r.unit == UNITS[r.quantity], (name, r)
            assert r.unit in PLAUSIBLE
        covered = [a for r in table.registers for a in range(r.address, r.address + r.count)]
        assert len(covered) == len(set(covered)), f"{name}: registers overlap"
        blocks = table.blocks()
        assert all(c <= 125 for _, c in blocks)
        assert sorted(covered) == sorted(a for s, c in blocks for a in range(s, s + c))  # no gaps read


BOARD = """
[board]
name = "t"
connectors = 1
[[connector]]
id = 1
pilot = {{ driver = "sim" }}
contactor = {{ driver = "sim" }}
lock = {{ driver = "sim" }}
meter = {meter}
rcd = {{ driver = "sim" }}
pp = {{ driver = "sim" }}
[temperature]
driver = "sim"
[tilt]
driver = "sim"
[rfid]
driver = "none"
[leds]
driver = "none"
[grid_meter]
driver = "modbus_tcp"
host = "127.0.0.1"
tcp_port = {port}
poll_interval_s = 0.02
{pin}
[suspend_input]
driver = "sim"
"""


def test_board_grid_meter_follows_the_key_through_the_factory(tmp_path, serve) -> None:  # type: ignore[no-untyped-def]
    socomec = next(c for c in CASES if c.model == "socomec_countis_e2x")
    srv = serve(3, socomec.wire)
    path = tmp_path / "b.toml"
    path.write_text(BOARD.format(meter='{ driver = "sim" }', port=srv.port, pin=""))
    devices = build_station_devices(load_board(path), time.monotonic, lambda: [], meter_model=lambda: "Socomec")
    try:
        assert isinstance(devices.grid_meter, ModbusMeter)
        assert wait_reading(devices.grid_meter).currents_a == pytest.approx(socomec.currents, abs=1e-3)
    finally:
        devices.close()
    path.write_text(BOARD.format(meter='{ driver = "sim" }', port=srv.port, pin='model = "eastron_sdm630"'))
    devices = build_station_devices(load_board(path), time.monotonic, lambda: [], meter_model=lambda: "Socomec")
    try:  # pinned to the SDM630: the Socomec registers are not there
        assert isinstance(devices.grid_meter, ModbusMeter)
        assert "illegal data address" in wait_error(devices.grid_meter)
    finally:
        devices.close()


def test_a_socket_meter_must_name_its_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "b.toml"
    path.write_text(BOARD.format(meter='{ driver = "modbus_rtu", port = "socket://127.0.0.1:1502" }', port=502, pin=""))
    with pytest.raises(BoardError, match="model"):
        load_board(path)
    path.write_text(BOARD.format(meter='{ driver = "modbus_rtu", port = "socket://127.0.0.1:1502", model = "sdm999" }', port=502, pin=""))
    with pytest.raises(BoardError, match="sdm999"):
        load_board(path)
