"""Temperature and tilt drivers against register-level fakes of the MCP9808, TMP102 and ADXL345."""

from __future__ import annotations

import pytest
from hal_fakes import Clock, FakeAdxl345, FakeMcp9808, FakeSMBus, FakeTmp102

from hal.errors import DeviceError, DeviceOffline
from hal.i2c_devices import Adxl345Tilt, Mcp9808Temperature, Tmp102Temperature, angle_deg
from hal.interfaces import TemperatureSensor, TiltSensor


@pytest.mark.parametrize("celsius", [23.5, 0.0, -10.25, 85.0625])
def test_mcp9808_temperature(celsius: float) -> None:
    bus = FakeSMBus({0x18: FakeMcp9808(celsius)})
    sensor = Mcp9808Temperature(bus, 0x18)
    assert isinstance(sensor, TemperatureSensor)
    assert sensor.read_celsius() == celsius
    assert ("read", 0x18, 0x06, (0x00, 0x54)) in bus.log  # identity checked at start-up


def test_mcp9808_wrong_chip_and_missing_chip() -> None:
    with pytest.raises(DeviceError, match="not an MCP9808"):
        Mcp9808Temperature(FakeSMBus({0x18: FakeMcp9808(manufacturer=0x1234)}), 0x18)
    with pytest.raises(DeviceOffline, match="MCP9808 at 0x19"):
        Mcp9808Temperature(FakeSMBus({0x18: FakeMcp9808()}), 0x19)


def test_temperature_reads_are_throttled_and_a_lost_sensor_is_offline() -> None:
    clock = Clock()
    chip = FakeMcp9808(30.0)
    bus = FakeSMBus({0x18: chip})
    sensor = Mcp9808Temperature(bus, 0x18, now=clock, min_interval_s=0.5)
    assert sensor.read_celsius() == 30.0
    n = bus.transfers()
    chip.celsius = 31.0
    for _ in range(10):  # ten 10 ms ticks: served from memory
        clock.advance(0.01)
        assert sensor.read_celsius() == 30.0
    assert bus.transfers() == n
    clock.advance(0.5)
    assert sensor.read_celsius() == 31.0
    del bus.chips[0x18]
    clock.advance(0.5)
    for _ in range(3):
        with pytest.raises(DeviceOffline, match="Remote I/O error"):
            sensor.read_celsius()
    bus.chips[0x18] = chip
    clock.advance(0.5)
    assert sensor.read_celsius() == 31.0


@pytest.mark.parametrize(("celsius", "extended"), [(25.0, False), (-25.0, False), (-0.0625, False), (150.0, True), (-40.5, True)])
def test_tmp102_normal_and_extended_format(celsius: float, extended: bool) -> None:
    sensor = Tmp102Temperature(FakeSMBus({0x48: FakeTmp102(celsius, extended)}), 0x48)
    assert sensor.read_celsius() == celsius


def test_adxl345_start_up_and_upright() -> None:
    chip = FakeAdxl345()
    bus = FakeSMBus({0x53: chip})
    tilt = Adxl345Tilt(bus, 0x53)
    assert isinstance(tilt, TiltSensor)
    assert chip.writes == [(0x31, 0x08), (0x2C, 0x0A), (0x2D, 0x08)]
    assert tilt.read_tilt_deg() == pytest.approx(0.0, abs=0.5)


def test_adxl345_tilt_angle_is_averaged() -> None:
    clock = Clock()
    chip = FakeAdxl345()
    tilt = Adxl345Tilt(FakeSMBus({0x53: chip}), 0x53, now=clock, min_interval_s=0.1, average=5)
    for _ in range(5):
        clock.advance(0.1)
        tilt.read_tilt_deg()
    chip.tilt(20.0)
    clock.advance(0.1)
    assert 0.0 < tilt.read_tilt_deg() < 5.0  # one of five samples tilted: a knock, not a tilt
    for _ in range(5):
        clock.advance(0.1)
        angle = tilt.read_tilt_deg()
    assert angle == pytest.approx(20.0, abs=0.5)


def test_adxl345_calibrated_vertical_for_a_sideways_mounted_chip() -> None:
    chip = FakeAdxl345(gravity=(0.0, -1.0, 0.0))  # mounted on the back wall: -Y points up
    tilt = Adxl345Tilt(FakeSMBus({0x53: chip}), 0x53, average=1, min_interval_s=0.0)
    assert tilt.read_tilt_deg() == pytest.approx(90.0, abs=0.5)  # wrong vertical: looks knocked over
    vertical = tilt.calibrate(samples=3, interval_s=0.0)
    assert vertical == pytest.approx((0.0, -1.0, 0.0), abs=0.01)
    assert tilt.read_tilt_deg() == pytest.approx(0.0, abs=0.5)
    chip.gravity = (0.0, -0.94, 0.342)  # leaning 20 degrees
    assert tilt.read_tilt_deg() == pytest.approx(20.0, abs=0.5)


def test_adxl345_wrong_chip_and_no_measurement() -> None:
    with pytest.raises(DeviceError, match="not an ADXL345"):
        Adxl345Tilt(FakeSMBus({0x53: FakeAdxl345(devid=0x33)}), 0x53)
    chip = FakeAdxl345()
    tilt = Adxl345Tilt(FakeSMBus({0x53: chip}), 0x53, average=1, min_interval_s=0.0)
    chip.regs[0x2D] = 0x00  # the chip lost power and came back in standby: all zeros
    with pytest.raises(DeviceError, match="no gravity"):
        tilt.read_tilt_deg()


def test_the_fake_bus_is_strict() -> None:
    bus = FakeSMBus({0x53: FakeAdxl345()})
    with pytest.raises(OSError):
        bus.read_byte_data(0x53, 0x10)  # a register the model does not have
    with pytest.raises(OSError):
        bus.read_byte_data(0x54, 0x00)  # nobody at that address


def test_angle() -> None:
    assert angle_deg((0, 0, 1), (0, 0, 2)) == 0.0
    assert angle_deg((1, 0, 0), (0, 0, 1)) == pytest.approx(90.0)
    with pytest.raises(ValueError):
        angle_deg((0, 0, 0), (0, 0, 1))


def test_adxl345_after_a_brown_out_is_re_armed_and_recovers() -> None:
    """Back in standby after a supply dip: the data reads zeros ("tilted", fail-safe); the next read re-checks
    DEVID and rewrites the configuration, the one after it measures again."""
    clock = Clock()
    chip = FakeAdxl345()
    tilt = Adxl345Tilt(FakeSMBus({0x53: chip}), 0x53, now=clock, min_interval_s=0.1, average=5)
    assert tilt.read_tilt_deg() == pytest.approx(0.0, abs=0.5)
    chip.brown_out()
    chip.writes.clear()
    clock.advance(0.1)
    with pytest.raises(DeviceError, match="no gravity"):
        tilt.read_tilt_deg()
    clock.advance(0.1)
    with pytest.raises(DeviceError, match="re-armed"):
        tilt.read_tilt_deg()
    assert chip.writes == [(0x31, 0x08), (0x2C, 0x0A), (0x2D, 0x08)] and tilt.rearms == 1
    clock.advance(0.1)
    assert tilt.read_tilt_deg() == pytest.approx(0.0, abs=0.5)


def test_a_re_arm_finds_another_chip_and_keeps_failing() -> None:
    clock = Clock()
    bus = FakeSMBus({0x53: FakeAdxl345()})
    tilt = Adxl345Tilt(bus, 0x53, now=clock, min_interval_s=0.1)
    bus.chips[0x53] = FakeAdxl345(devid=0x33)
    bus.chips[0x53].regs[0x2D] = 0x00
    for _ in range(3):
        clock.advance(0.1)
        with pytest.raises(DeviceError):
            tilt.read_tilt_deg()
    clock.advance(0.1)
    with pytest.raises(DeviceError, match="not an ADXL345"):
        tilt.read_tilt_deg()


@pytest.mark.parametrize(
    "sensor",
    [
        lambda bus, clock: Mcp9808Temperature(bus, 0x18, now=clock),
        lambda bus, clock: Tmp102Temperature(bus, 0x48, now=clock),
        lambda bus, clock: Adxl345Tilt(bus, 0x53, now=clock),
    ],
)
def test_a_bus_reading_all_ones_is_a_sensor_fault_not_a_value(sensor) -> None:  # type: ignore[no-untyped-def]
    """All ones would decode as -0.0625 °C (MCP9808, TMP102) or a tiny acceleration: never a value."""
    clock = Clock()
    bus = FakeSMBus({0x18: FakeMcp9808(), 0x48: FakeTmp102(), 0x53: FakeAdxl345()})
    dev = sensor(bus, clock)
    read = dev.read_celsius if hasattr(dev, "read_celsius") else dev.read_tilt_deg
    read()
    bus.all_ones = True
    clock.advance(1.0)
    with pytest.raises(DeviceError):
        read()
    bus.all_ones = False
    for _ in range(3):  # re-armed, then measuring again
        clock.advance(1.0)
        try:
            value = read()
            break
        except DeviceError:
            continue
    assert value == pytest.approx(21.0 if hasattr(dev, "read_celsius") else 0.0, abs=0.5)


def test_tmp102_at_the_pilot_adcs_address_is_refused() -> None:
    """A TMP102 at its default 0x48 on the CM4 board would read the ADS1115: its identity check refuses it."""
    from hal_fakes import FakeAds1115

    with pytest.raises(DeviceError, match="not a TMP102"):
        Tmp102Temperature(FakeSMBus({0x48: FakeAds1115(Clock(), lambda ch: 1.65)}), 0x48)
    with pytest.raises(DeviceError, match="not a TMP102"):
        Tmp102Temperature(FakeSMBus({0x48: FakeMcp9808()}), 0x48)


def test_impossible_temperatures_are_errors() -> None:
    chip = FakeMcp9808(celsius=140.0)  # outside the MCP9808's -40..125 °C
    with pytest.raises(DeviceError, match="outside its range"):
        Mcp9808Temperature(FakeSMBus({0x18: chip}), 0x18).read_celsius()
