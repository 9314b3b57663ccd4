"""SDM meters over Modbus TCP and Modbus RTU against pymodbus's real server on loopback (SdmMeterServer, in
the adapter module: the only place that imports pymodbus)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from hal.errors import DeviceError, DeviceOffline
from hal.interfaces import EnergyMeter, MeterReading
from hal.modbus_meter import FREQUENCY, MeterValues, ModbusMeter, SdmMeterServer, sdm_rtu, sdm_tcp

FAST = {"poll_interval_s": 0.02, "timeout_s": 0.2}


def wait_for(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def reading(meter: ModbusMeter, timeout: float = 3.0) -> MeterReading:
    box: list[MeterReading] = []

    def ok() -> bool:
        try:
            box.append(meter.read())
        except DeviceError:
            return False
        return True

    wait_for(ok, timeout)
    return box[-1]


@pytest.fixture
def server() -> Iterator[SdmMeterServer]:
    srv = SdmMeterServer(
        MeterValues(
            voltages=(229.5, 230.5, 231.0),
            currents=(15.9, 16.1, 0.0),
            powers=(3650.0, 3700.0, 0.0),
            frequency=49.98,
            import_kwh=1234.5,
        )
    )
    srv.start()
    yield srv
    srv.stop()


def test_tcp_meter_reads_the_sdm_registers(server: SdmMeterServer) -> None:
    meter = sdm_tcp("127.0.0.1", server.port, **FAST)
    try:
        assert isinstance(meter, EnergyMeter)
        r = reading(meter)
        assert r.voltages_v == pytest.approx((229.5, 230.5, 231.0))
        assert r.currents_a == pytest.approx((15.9, 16.1, 0.0), abs=1e-3)
        assert r.power_w == pytest.approx(7350.0)
        assert r.energy_wh == pytest.approx(1234500.0, abs=100)  # 0x0048 import kWh, float32
        assert r.frequency_hz == pytest.approx(49.98, abs=1e-3)
        server.values.currents = (6.0, 6.0, 6.0)
        wait_for(lambda: meter.read().currents_a == pytest.approx((6.0, 6.0, 6.0)))
    finally:
        meter.close()


def test_rtu_framing_through_a_pyserial_url() -> None:
    srv = SdmMeterServer(MeterValues(currents=(10.0, 0.0, 0.0), import_kwh=2.0), framer="rtu", unit=7)
    srv.start()
    meter = sdm_rtu(f"socket://127.0.0.1:{srv.port}", baudrate=115200, unit=7, **FAST)
    try:
        r = reading(meter)
        assert r.currents_a[0] == pytest.approx(10.0)
        assert r.energy_wh == pytest.approx(2000.0)
    finally:
        meter.close()
        srv.stop()


def test_read_is_served_from_memory(server: SdmMeterServer) -> None:
    meter = sdm_tcp("127.0.0.1", server.port, **FAST)
    try:
        reading(meter)
        t0 = time.perf_counter()
        for _ in range(1000):
            meter.read()
        assert (time.perf_counter() - t0) / 1000 < 0.0005  # far below a 10 ms tick
    finally:
        meter.close()


def test_meter_offline_then_back(server: SdmMeterServer) -> None:
    meter = sdm_tcp("127.0.0.1", server.port, stale_after_s=0.3, **FAST)
    try:
        reading(meter)
        port = server.port
        server.stop()
        stopped = time.monotonic()
        meter.read()  # the last reading is still fresh
        wait_for(lambda: meter.latest.failures > 0)

        def offline() -> bool:
            try:
                meter.read()
            except DeviceOffline:
                return True
            return False

        wait_for(offline)
        assert time.monotonic() - stopped >= 0.25
        t0 = time.perf_counter()
        with pytest.raises(DeviceOffline, match="Modbus TCP 127.0.0.1"):
            meter.read()
        assert time.perf_counter() - t0 < 0.005  # an offline meter does not slow the reader down
        again = SdmMeterServer(server.values, port=port)
        again.start()
        try:
            assert reading(meter).currents_a[0] == pytest.approx(15.9, abs=1e-3)
        finally:
            again.stop()
    finally:
        meter.close()


def test_illegal_address_is_a_device_error_not_offline() -> None:
    srv = SdmMeterServer(MeterValues(), omit=(FREQUENCY,))  # a meter model without the frequency register
    srv.start()
    meter = sdm_tcp("127.0.0.1", srv.port, **FAST)
    try:
        wait_for(lambda: meter.latest.failures > 0)
        with pytest.raises(DeviceError, match=r"exception 2 \(illegal data address\) reading 0x0046") as exc:
            meter.read()
        assert not isinstance(exc.value, DeviceOffline)
        assert srv.requests > 0
    finally:
        meter.close()
        srv.stop()


def test_no_meter_at_all_is_offline_and_does_not_flood_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """Two unplugged meters (two sockets) polled 50 times a second: pymodbus's own "Repeating...." only
    folds consecutive identical lines, these alternate; the adapter's filter keeps one line per meter."""
    ports = []
    for _ in range(2):
        srv = SdmMeterServer()
        ports.append(srv.start())
        srv.stop()  # a port nobody listens on
    caplog.set_level(logging.INFO, logger="pymodbus")
    meters = [sdm_tcp("127.0.0.1", port, **FAST) for port in ports]
    try:
        wait_for(lambda: all(m.latest.failures >= 10 for m in meters))
        for m in meters:
            with pytest.raises(DeviceOffline, match="cannot connect|no answer"):
                m.read()
    finally:
        for m in meters:
            m.close()
    for port in ports:
        refused = [r for r in caplog.records if str(port) in r.getMessage()]
        assert len(refused) == 1, [r.getMessage() for r in refused]


def test_grid_meter_currents_carry_the_direction_of_power() -> None:
    srv = SdmMeterServer(MeterValues(currents=(8.0, 2.0, 0.5), powers=(-1800.0, 450.0, 0.0)))
    srv.start()
    grid = sdm_tcp("127.0.0.1", srv.port, signed_currents=True, **FAST)
    socket_meter = sdm_tcp("127.0.0.1", srv.port, signed_currents=False, **FAST)
    try:
        assert reading(grid).currents_a == pytest.approx((-8.0, 2.0, 0.5))
        assert reading(socket_meter).currents_a == pytest.approx((8.0, 2.0, 0.5))  # safety sees magnitudes
    finally:
        grid.close()
        socket_meter.close()
        srv.stop()


def test_bad_parity_is_refused() -> None:
    with pytest.raises(ValueError, match="parity"):
        sdm_rtu("loop://", parity="X")
