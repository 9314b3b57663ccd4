"""board/cm4-rev1.toml: it loads, and the factory builds every device from it on mock pins, fake I2C chips,
a sysfs-shaped directory, a real Modbus server and pseudo-terminals; each device then answers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from hal_fakes import (
    Clock,
    ContactorCoilPin,
    FakeAds1115,
    FakeAdxl345,
    FakeEv,
    FakeMcp9808,
    FakeSMBus,
    PilotFrontEnd,
    PpCircuit,
    dsmr5_telegram,
    make_pwmchip,
    make_system_root,
)
from pn532_emulator import PtyPn532

from board.errors import BoardError
from board.loader import builtin_board, load_board
from controller.evse.pilot import cable_rating
from hal.errors import DeviceError, DeviceOffline
from hal.factory import build_power_path, build_station_devices
from hal.gpio import GpioContactor, GpioLock, GpioRcd, GpioRgbLeds, GpioSuspendInput
from hal.i2c_devices import Adxl345Tilt, Mcp9808Temperature
from hal.modbus_meter import MeterValues, ModbusMeter, SdmMeterServer
from hal.p1_meter import P1Meter
from hal.pilot_sysfs import SysfsPilot
from hal.pn532 import Pn532Reader
from hal.proximity import AdsProximity
from hal.real_drivers import BuildContext

CM4 = builtin_board("cm4-rev1")


def test_board_file_loads() -> None:
    board = load_board(CM4)
    assert not board.is_simulated
    [conn] = board.connectors
    assert {k: d.driver for k, d in conn.devices.items()} == {
        "pilot": "sysfs_ads1115", "contactor": "gpiozero", "lock": "gpiozero", "meter": "modbus_rtu", "rcd": "gpiozero",
        "pp": "ads1115",
    }  # fmt: skip
    assert {k: d.driver for k, d in board.station.items()} == {
        "temperature": "mcp9808", "tilt": "adxl345", "rfid": "pn532_hsu", "leds": "gpiozero", "grid_meter": "p1",
        "suspend_input": "gpiozero",
    }  # fmt: skip
    assert board.station["grid_meter"].params["port"] == "/dev/ttyAMA0"
    assert conn.devices["meter"].params["port"] == "/dev/ttyAMA3"  # dtoverlay=uart3 on kernels 6.x
    assert board.station["rfid"].params["port"] == "/dev/ttyAMA4"  # dtoverlay=uart4
    assert board.system is not None and board.system.strict_gpiod


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
        self.pp = PpCircuit(channel=0, pullup_ohms=1000.0, reference_v=3.3)  # as the board file's comment says
        self.pp.plug(680.0)  # a 20 A cable in the socket
        self.pp_adc = FakeAds1115(time.monotonic, self.pp)  # type: ignore[arg-type]
        self.bus = FakeSMBus(
            {0x48: FakeAds1115(time.monotonic, self.front.analog), 0x49: self.pp_adc, 0x18: FakeMcp9808(34.5), 0x53: FakeAdxl345()}  # type: ignore[arg-type]
        )
        self.buses_opened: list[int] = []
        self.pins = MockFactory()
        self.pins.pin(17, pin_class=ContactorCoilPin, mirror_pin=self.pins.pin(27))  # coil + NC mirror contact
        self.led_pins = MockFactory(pin_class=MockPWMPin)

        self.system_root = str(make_system_root(tmp_path / "root"))

    def smbus(self, number: int) -> FakeSMBus:
        self.buses_opened.append(number)
        return self.bus

    def power(self, board):  # type: ignore[no-untyped-def]
        ctx = BuildContext(pin_factory=self.pins, smbus=self.smbus, sysfs_root=self.sysfs_root, system_root=self.system_root)
        return build_power_path(board, time.monotonic, hardware=ctx)

    def station(self, board):  # type: ignore[no-untyped-def]
        return build_station_devices(board, time.monotonic, lambda: [], hardware=BuildContext(pin_factory=self.led_pins, system_root=self.system_root))


def test_original_board_builds_and_missing_serial_ports_are_just_offline(tmp_path: Path) -> None:
    hw = Hardware(tmp_path)
    board = load_board(CM4)
    power = hw.power(board)
    station = hw.station(board)
    try:
        sock = power.sockets[1]
        assert isinstance(sock.pilot, SysfsPilot)
        assert isinstance(sock.contactor, GpioContactor)
        assert isinstance(sock.lock, GpioLock)
        assert isinstance(sock.rcd, GpioRcd)
        assert isinstance(sock.pp, AdsProximity)
        assert isinstance(sock.meter, ModbusMeter)
        assert isinstance(power.temperature, Mcp9808Temperature)
        assert isinstance(power.tilt, Adxl345Tilt)
        assert isinstance(power.suspend, GpioSuspendInput)
        assert power.world is None
        assert hw.buses_opened == [1]  # one bus object shared by the ADC, the thermometer and the accelerometer
        assert isinstance(station.rfid, Pn532Reader)
        assert isinstance(station.leds, GpioRgbLeds)
        assert isinstance(station.grid_meter, P1Meter)
        if not os.path.exists("/dev/ttyAMA3"):
            with pytest.raises(DeviceOffline):
                sock.meter.read()
        assert station.rfid.poll() is None  # never raises, even without its port
    finally:
        power.close()
        station.close()


def test_the_socket_reads_its_cable_through_the_pp_adc(tmp_path: Path) -> None:
    """The board's PP: the second ADS1115 (0x49, AIN0), its own chip on the shared bus, read to the loop's
    cable rating; with the chip gone the read raises (the loop then sees no valid cable)."""
    hw = Hardware(tmp_path)
    clock = Clock()  # the loop's clock: when the next PP conversion is due
    ctx = BuildContext(pin_factory=hw.pins, smbus=hw.smbus, sysfs_root=hw.sysfs_root, system_root=hw.system_root, now=clock)
    power = build_power_path(load_board(CM4), clock, hardware=ctx)
    try:
        pp = power.sockets[1].pp
        assert pp is not None
        assert cable_rating(pp.read_ohms()) == 20.0  # the start-up conversion of the 680 Ohm cable
        assert hw.pp_adc.started and set(hw.pp_adc.started) == {0}
        assert hw.buses_opened == [1]  # the pilot's ADC, the PP's and the sensors share one bus object
        del hw.bus.chips[0x49]
        clock.advance(0.1)  # the next conversion is due
        with pytest.raises(DeviceError):
            pp.read_ohms()
    finally:
        power.close()


def test_every_device_answers(tmp_path: Path) -> None:
    """The board file with its serial ports pointed at a real Modbus RTU server and pseudo-terminals."""
    hw = Hardware(tmp_path)
    meter_server = SdmMeterServer(MeterValues(currents=(16.0, 16.0, 16.0), import_kwh=10.0), framer="rtu")
    meter_server.start()
    p1_master, p1_slave = os.openpty()
    nfc = PtyPn532()
    text = (
        CM4.read_text()
        .replace("/dev/ttyAMA3", f"socket://127.0.0.1:{meter_server.port}")
        .replace("/dev/ttyAMA0", os.ttyname(p1_slave))
        .replace("/dev/ttyAMA4", nfc.name)
        .replace("poll_interval_s = 0.5", "poll_interval_s = 0.02")
    )
    path = tmp_path / "cm4-test.toml"
    path.write_text(text)
    board = load_board(path)
    power = hw.power(board)
    station = hw.station(board)
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
        deadline = time.monotonic() + 3.0
        while True:
            try:
                assert station.grid_meter.read().currents_a[0] == pytest.approx(20.0, abs=0.01)
                break
            except DeviceError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        nfc.core.card = bytes.fromhex("04A1B2C3D4E5F6")
        deadline = time.monotonic() + 3.0
        while (uid := station.rfid.poll()) is None:
            assert time.monotonic() < deadline, station.rfid.last_error  # type: ignore[attr-defined]
            time.sleep(0.01)
        assert uid == "04A1B2C3D4E5F6"
        station.leds.show("green", "solid", 100)
        assert hw.led_pins.pin(19).state == 1.0
    finally:
        power.close()
        station.close()
        meter_server.stop()
        nfc.close()
        for fd in (p1_master, p1_slave):
            os.close(fd)


def test_a_failing_device_leaves_nothing_running(tmp_path: Path) -> None:
    hw = Hardware(tmp_path)
    del hw.bus.chips[0x53]  # no accelerometer: the build fails after the meter thread has started
    board = load_board(CM4)
    import threading

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(DeviceOffline, match="ADXL345"):
        hw.power(board)
    time.sleep(0.05)
    assert {t.name for t in threading.enumerate()} - before == set()
    # the pins were released: the same board builds again on the same pin factory
    hw.bus.chips[0x53] = FakeAdxl345()
    power = hw.power(board)
    power.close()


def test_a_serial_console_on_the_p1_port_is_refused(tmp_path: Path) -> None:
    """The stock cmdline.txt puts the kernel console (and a getty) on serial0 = ttyAMA0, the P1 port: the
    telegrams would fail their CRC. The main process refuses to start and says how to fix it."""
    from hal.errors import UnsafeSystem

    hw = Hardware(tmp_path)
    (Path(hw.system_root) / "proc/cmdline").write_text("console=serial0,115200 console=tty1 root=/dev/mmcblk0p2\n")
    with pytest.raises(UnsafeSystem, match=r"/dev/ttyAMA0 carries the kernel console \(console=serial0"):
        hw.station(load_board(CM4))


def test_board_setup_writes_config_txt_and_removes_the_serial_console(tmp_path: Path) -> None:
    from controller.__main__ import main

    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "config.txt").write_text("# stock\ndtparam=audio=on\n[pi4]\narm_boost=1\n")
    stock = "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
    (boot / "cmdline.txt").write_text(stock)
    assert main(["board-setup", "--board", str(CM4), "--boot", str(boot)]) == 0
    config = (boot / "config.txt").read_text()
    board = load_board(CM4)
    assert board.system is not None
    for line in board.system.config_txt:
        assert f"\n{line}\n" in config
    assert config.index("[all]") < config.index("dtparam=strict_gpiod")  # not under the [pi4] filter
    cmdline = (boot / "cmdline.txt").read_text()
    assert cmdline == "console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
    assert main(["board-setup", "--board", str(CM4), "--boot", str(boot)]) == 0  # idempotent
    assert (boot / "config.txt").read_text() == config and (boot / "cmdline.txt").read_text() == cmdline
