"""board/cm4-rev1.toml: it loads, and the factory builds every device from it on mock pins, fake I2C chips,
a sysfs-shaped directory, a real Modbus server and pseudo-terminals; each device then answers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from hal_fakes import (
    ContactorCoilPin,
    FakeAds1115,
    FakeAdxl345,
    FakeEv,
    FakeMcp9808,
    FakeSMBus,
    PilotFrontEnd,
    dsmr5_telegram,
    make_pwmchip,
)

from board.loader import builtin_board, load_board
from hal.errors import BoardError, DeviceError, DeviceOffline
from hal.factory import build_power_path, build_station_devices
from hal.gpio import GpioContactor, GpioLock, GpioRcd, GpioRgbLeds, GpioSuspendInput
from hal.i2c_devices import Adxl345Tilt, Mcp9808Temperature
from hal.modbus_meter import MeterValues, ModbusMeter, SdmMeterServer
from hal.p1_meter import P1Meter
from hal.pilot_sysfs import SysfsPilot
from hal.serial_rfid import Rdm6300Reader, rdm6300_frame

CM4 = builtin_board("cm4-rev1")


def test_board_file_loads() -> None:
    board = load_board(CM4)
    assert not board.is_simulated
    [conn] = board.connectors
    assert {k: d.driver for k, d in conn.devices.items()} == {
        "pilot": "sysfs_ads1115", "contactor": "gpiozero", "lock": "gpiozero", "meter": "sdm_rtu", "rcd": "gpiozero",
        "pp": "ads1115",
    }  # fmt: skip
    assert {k: d.driver for k, d in board.station.items()} == {
        "temperature": "mcp9808", "tilt": "adxl345", "rfid": "rdm6300", "leds": "gpiozero", "grid_meter": "p1",
        "suspend_input": "gpiozero",
    }  # fmt: skip
    assert board.station["grid_meter"].params["port"] == "/dev/ttyAMA0"


def test_the_pwm_pin_takes_part_in_the_double_use_check(tmp_path: Path) -> None:
    text = CM4.read_text().replace("lock = { driver = \"gpiozero\", pin = 22", "lock = { driver = \"gpiozero\", pin = 12")
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(BoardError, match="pin 12 is used twice"):
        load_board(path)


def test_unknown_driver_parameter_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(CM4.read_text().replace("address = 0x18", "adress = 0x18"))
    with pytest.raises(BoardError, match="unknown key 'adress'"):
        load_board(path)


class Hardware:
    """Everything the CM4 board's drivers talk to, faked or real-on-loopback."""

    def __init__(self, tmp_path: Path) -> None:
        chip = make_pwmchip(tmp_path / "pwm", 0, exported=(0,))
        self.sysfs_root = str(tmp_path / "pwm")
        self.ev = FakeEv()
        self.front = PilotFrontEnd(chip / "pwm0", self.ev)
        self.bus = FakeSMBus(
            {0x48: FakeAds1115(time.monotonic, self.front.analog), 0x18: FakeMcp9808(34.5), 0x53: FakeAdxl345()}  # type: ignore[arg-type]
        )
        self.buses_opened: list[int] = []
        self.pins = MockFactory()
        self.pins.pin(17, pin_class=ContactorCoilPin, mirror_pin=self.pins.pin(27))  # coil + NC mirror contact
        self.led_pins = MockFactory(pin_class=MockPWMPin)

    def smbus(self, number: int) -> FakeSMBus:
        self.buses_opened.append(number)
        return self.bus


def test_original_board_builds_and_missing_serial_ports_are_just_offline(tmp_path: Path) -> None:
    hw = Hardware(tmp_path)
    board = load_board(CM4)
    power = build_power_path(board, time.monotonic, pin_factory=hw.pins, smbus=hw.smbus, sysfs_root=hw.sysfs_root)
    station = build_station_devices(board, time.monotonic, lambda: [], pin_factory=hw.led_pins)
    try:
        sock = power.sockets[1]
        assert isinstance(sock.pilot, SysfsPilot)
        assert isinstance(sock.contactor, GpioContactor)
        assert isinstance(sock.lock, GpioLock)
        assert isinstance(sock.rcd, GpioRcd)
        assert isinstance(sock.meter, ModbusMeter)
        assert isinstance(power.temperature, Mcp9808Temperature)
        assert isinstance(power.tilt, Adxl345Tilt)
        assert isinstance(power.suspend, GpioSuspendInput)
        assert power.world is None
        assert hw.buses_opened == [1]  # one bus object shared by the ADC, the thermometer and the accelerometer
        assert isinstance(station.rfid, Rdm6300Reader)
        assert isinstance(station.leds, GpioRgbLeds)
        assert isinstance(station.grid_meter, P1Meter)
        if not os.path.exists("/dev/ttyAMA1"):
            with pytest.raises(DeviceOffline):
                sock.meter.read()
        assert station.rfid.poll() is None  # never raises, even without its port
    finally:
        power.close()
        station.close()


def test_every_device_answers(tmp_path: Path) -> None:
    """The board file with its serial ports pointed at a real Modbus RTU server and pseudo-terminals."""
    hw = Hardware(tmp_path)
    meter_server = SdmMeterServer(MeterValues(currents=(16.0, 16.0, 16.0), import_kwh=10.0), framer="rtu")
    meter_server.start()
    p1_master, p1_slave = os.openpty()
    rfid_master, rfid_slave = os.openpty()
    text = (
        CM4.read_text()
        .replace("/dev/ttyAMA1", f"socket://127.0.0.1:{meter_server.port}")
        .replace("/dev/ttyAMA0", os.ttyname(p1_slave))
        .replace("/dev/ttyAMA2", os.ttyname(rfid_slave))
        .replace("poll_interval_s = 0.5", "poll_interval_s = 0.02")
    )
    path = tmp_path / "cm4-test.toml"
    path.write_text(text)
    board = load_board(path)
    power = build_power_path(board, time.monotonic, pin_factory=hw.pins, smbus=hw.smbus, sysfs_root=hw.sysfs_root)
    station = build_station_devices(board, time.monotonic, lambda: [], pin_factory=hw.led_pins)
    try:
        sock = power.sockets[1]
        assert sock.pilot.read().high_v == pytest.approx(12.0, abs=0.01)
        assert sock.contactor.feedback_closed() is False
        sock.contactor.set_closed(True)
        assert hw.pins.pin(17).state is True
        assert sock.contactor.feedback_closed() is True  # the mirror contact opened
        sock.contactor.to_safe_state()
        assert sock.contactor.feedback_closed() is False
        assert power.temperature.read_celsius() == 34.5
        assert power.tilt is not None and power.tilt.read_tilt_deg() == pytest.approx(0.0, abs=0.5)
        assert power.suspend is not None and power.suspend.active() is False

        deadline = time.monotonic() + 3.0
        while True:
            try:
                assert sock.meter.read().currents_a == pytest.approx((16.0, 16.0, 16.0))
                break
            except DeviceError:
                assert time.monotonic() < deadline
                time.sleep(0.02)

        assert station.grid_meter is not None and station.rfid is not None
        time.sleep(0.05)
        os.write(p1_master, dsmr5_telegram(currents=(20, 4, 4)))
        os.write(rfid_master, rdm6300_frame("0A0B0C0D0E"))
        deadline = time.monotonic() + 3.0
        while True:
            try:
                assert station.grid_meter.read().currents_a[0] == pytest.approx(20.0, abs=0.01)
                break
            except DeviceError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        time.sleep(0.02)
        assert station.rfid.poll() == "0A0B0C0D0E"
        station.leds.show("green", "solid", 100)
        assert hw.led_pins.pin(19).state == 1.0
    finally:
        power.close()
        station.close()
        meter_server.stop()
        for fd in (p1_master, p1_slave, rfid_master, rfid_slave):
            os.close(fd)


def test_a_failing_device_leaves_nothing_running(tmp_path: Path) -> None:
    hw = Hardware(tmp_path)
    del hw.bus.chips[0x53]  # no accelerometer: the build fails after the meter thread has started
    board = load_board(CM4)
    import threading

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(DeviceOffline, match="ADXL345"):
        build_power_path(board, time.monotonic, pin_factory=hw.pins, smbus=hw.smbus, sysfs_root=hw.sysfs_root)
    time.sleep(0.05)
    assert {t.name for t in threading.enumerate()} - before == set()
    # the pins were released: the same board builds again on the same pin factory
    hw.bus.chips[0x53] = FakeAdxl345()
    power = build_power_path(board, time.monotonic, pin_factory=hw.pins, smbus=hw.smbus, sysfs_root=hw.sysfs_root)
    power.close()
