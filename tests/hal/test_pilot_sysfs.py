"""The sysfs PWM + ADS1115 control pilot against a sysfs-shaped directory and a register-level ADS1115 whose
inputs come from the board's gated sample-and-hold front end and a car."""

from __future__ import annotations

from pathlib import Path

import pytest
from hal_fakes import Clock, FakeAds1115, FakeEv, FakePwmKernel, FakeSMBus, PilotFrontEnd, make_pwmchip

from board.schema import PILOT_BANDS_DEFAULT
from controller.evse.pilot import CpLevel, classify
from hal.errors import DeviceError, DeviceOffline
from hal.i2c_devices import Ads1115
from hal.interfaces import PilotOutput
from hal.pilot_sysfs import SysfsPilot, SysfsPwm


class Rig:
    def __init__(self, tmp_path: Path, inverted: bool = False, exported: bool = True) -> None:
        self.chip = make_pwmchip(tmp_path, 0, exported=(0,) if exported else ())
        self.root = tmp_path
        self.clock = Clock()
        self.ev = FakeEv()
        self.front = PilotFrontEnd(self.chip / "pwm0", self.ev, inverted=inverted)
        self.ads = FakeAds1115(self.clock, self.front.analog)
        self.bus = FakeSMBus({0x48: self.ads})
        self.inverted = inverted

    def pilot(self, settle_s: float = 0.02) -> SysfsPilot:
        pwm = SysfsPwm(0, 0, sysfs_root=self.root, now=self.clock, sleep=self.clock.advance)
        adc = Ads1115(self.bus, 0x48, sleep=self.clock.advance)
        return SysfsPilot(
            pwm, adc, inverted=self.inverted, settle_s=settle_s, now=self.clock, sleep=self.clock.advance
        )

    def file(self, name: str) -> str:
        return (self.chip / "pwm0" / name).read_text().strip()

    def ticks(self, pilot: SysfsPilot, n: int = 4) -> None:
        for _ in range(n):
            self.clock.advance(0.01)
            pilot.read()


def test_starts_in_safe_state_steady_high_and_reads_state_a(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    assert (rig.file("period"), rig.file("duty_cycle"), rig.file("enable")) == ("1000000", "1000000", "1")
    reading = pilot.read()
    assert reading.high_v == pytest.approx(12.0, abs=0.01)
    assert reading.low_v is None


def test_exports_the_channel_and_waits_for_udev_to_grant_the_files(tmp_path: Path) -> None:
    """The kernel creates pwm0 with root-only files; udev gives them to the service's group 50 ms later: the
    first writes fail with EACCES and are retried within the export timeout (on the fake clock)."""
    clock = Clock()
    kernel = FakePwmKernel(tmp_path, clock, udev_delay_s=0.05)
    pwm = SysfsPwm(0, 0, sysfs_root=tmp_path, io=kernel, now=clock, sleep=kernel.sleep)
    pwm.set_duty_ns(pwm.period_ns)
    pwm.enable()
    channel = tmp_path / "pwmchip0" / "pwm0"
    assert [(channel / n).read_text().strip() for n in ("period", "duty_cycle", "enable")] == ["1000000", "1000000", "1"]
    assert kernel.denied >= 1 and pwm.permission_retries == kernel.denied
    assert ("pwmchip0/export", "0") in kernel.writes


def test_a_service_udev_never_grants_fails_loudly_within_the_timeout(tmp_path: Path) -> None:
    clock = Clock()
    kernel = FakePwmKernel(tmp_path, clock, udev_delay_s=float("inf"))
    with pytest.raises(DeviceError, match="Permission denied.*group"):
        SysfsPwm(0, 0, sysfs_root=tmp_path, io=kernel, now=clock, sleep=kernel.sleep, export_timeout_s=0.5)
    assert clock() - 1000.0 == pytest.approx(0.5, abs=0.02)


def test_polarity_left_inversed_is_set_normal_while_disabled(tmp_path: Path) -> None:
    """A channel left enabled with inversed polarity: the kernel refuses a polarity change while enabled."""
    clock = Clock()
    kernel = FakePwmKernel(tmp_path, clock)
    kernel.channel(0, 0, period="1000000", duty_cycle="300000", enable="1", polarity="inversed")
    SysfsPwm(0, 0, sysfs_root=tmp_path, io=kernel, now=clock, sleep=kernel.sleep)
    assert (tmp_path / "pwmchip0/pwm0/polarity").read_text().strip() == "normal"
    assert kernel.writes[:2] == [("pwmchip0/pwm0/enable", "0"), ("pwmchip0/pwm0/polarity", "normal")]


def test_missing_chip_or_channel_is_offline(tmp_path: Path) -> None:
    with pytest.raises(DeviceOffline, match="no PWM chip"):
        SysfsPwm(3, 0, sysfs_root=tmp_path)
    make_pwmchip(tmp_path, 0)
    clock = Clock()
    with pytest.raises(DeviceOffline, match="did not appear"):
        SysfsPwm(0, 1, sysfs_root=tmp_path, export_timeout_s=0.05, now=clock, sleep=clock.advance)


def test_pwm_duty_and_both_phases(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    rig.ev.state = "B"
    pilot.set_output(PilotOutput.pwm(16.0))  # 10 A
    assert rig.file("duty_cycle") == "160000"
    rig.ticks(pilot)
    reading = pilot.read()
    assert reading.high_v == pytest.approx(9.0, abs=0.01)
    assert reading.low_v == pytest.approx(-12.0, abs=0.01)
    assert classify(reading, PILOT_BANDS_DEFAULT, -10.5, True) is CpLevel.B
    rig.ev.state = "C"
    rig.ticks(pilot)
    assert classify(pilot.read(), PILOT_BANDS_DEFAULT, -10.5, True) is CpLevel.C


def test_missing_diode_is_seen_in_the_low_phase(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    rig.ev.state, rig.ev.diode = "B", False
    pilot.set_output(PilotOutput.pwm(50.0))
    rig.ticks(pilot)
    reading = pilot.read()
    assert reading.low_v == pytest.approx(-9.0, abs=0.01)
    assert classify(reading, PILOT_BANDS_DEFAULT, -10.5, True) is CpLevel.DIODE_FAULT


def test_read_never_waits_and_costs_at_most_three_transfers(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    pilot.set_output(PilotOutput.pwm(25.0))
    before = rig.bus.transfers()
    pilot.read()  # nothing running: starts a conversion
    assert rig.bus.transfers() - before == 1
    before = rig.bus.transfers()
    pilot.read()  # no clock time passed: still converting -> one config poll, no new start
    assert rig.bus.transfers() - before == 1
    rig.clock.advance(0.002)
    before = rig.bus.transfers()
    pilot.read()  # done: poll, fetch the result, start the other input
    assert rig.bus.transfers() - before == 3
    assert rig.ads.started[-2:] == [0, 1] or rig.ads.started[-2:] == [1, 0]


def test_values_from_before_a_mode_change_are_not_used(tmp_path: Path) -> None:
    """Steady +12 V -> PWM: the low-phase S/H held its power-up 0 V; no low value until it was measured."""
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    rig.ev.state = "B"
    rig.ticks(pilot)
    pilot.set_output(PilotOutput.pwm(16.0))
    first = pilot.read()
    assert first.low_v is None
    rig.ticks(pilot)
    assert pilot.read().low_v == pytest.approx(-12.0, abs=0.01)


def test_steady_negative_reads_the_low_phase_hold(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    rig.ev.state = "B"
    rig.ticks(pilot)
    pilot.set_output(PilotOutput.negative())
    assert rig.file("duty_cycle") == "0"
    rig.ticks(pilot)
    reading = pilot.read()
    assert reading.high_v == pytest.approx(-12.0, abs=0.01)
    assert reading.low_v is None
    assert classify(reading, PILOT_BANDS_DEFAULT, -10.5, False) is CpLevel.F
    pilot.to_safe_state()
    assert rig.file("duty_cycle") == "1000000"
    rig.ticks(pilot)
    assert pilot.read().high_v == pytest.approx(9.0, abs=0.01)


def test_inverted_stage(tmp_path: Path) -> None:
    rig = Rig(tmp_path, inverted=True)
    pilot = rig.pilot()
    assert rig.file("duty_cycle") == "0"  # +12 V through an inverting stage
    pilot.set_output(PilotOutput.pwm(16.0))
    assert rig.file("duty_cycle") == "840000"
    rig.ev.state = "C"
    rig.ticks(pilot)
    reading = pilot.read()
    assert (round(reading.high_v, 2), round(reading.low_v or 0, 2)) == (6.0, -12.0)


def test_off_is_refused(tmp_path: Path) -> None:
    from hal.interfaces import PilotMode

    pilot = Rig(tmp_path).pilot()
    with pytest.raises(ValueError, match="0 V"):
        pilot.set_output(PilotOutput(PilotMode.OFF))


def test_adc_gone_is_offline(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    del rig.bus.chips[0x48]
    with pytest.raises(DeviceOffline, match="ADS1115 at 0x48"):
        pilot.read()


def test_no_adc_at_start_up_fails_construction(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.bus.chips.clear()
    with pytest.raises(DeviceOffline):
        rig.pilot()


def test_period_change_keeps_duty_within_period(tmp_path: Path) -> None:
    chip = make_pwmchip(tmp_path, 0, exported=(0,))
    (chip / "pwm0" / "period").write_text("5000000")
    (chip / "pwm0" / "duty_cycle").write_text("4000000")
    pwm = SysfsPwm(0, 0, sysfs_root=tmp_path)
    assert (chip / "pwm0" / "period").read_text() == "1000000"
    assert (chip / "pwm0" / "duty_cycle").read_text() == "0"
    pwm.set_duty_ns(2_000_000)  # clamped to the period
    assert (chip / "pwm0" / "duty_cycle").read_text() == "1000000"


def test_a_stale_low_phase_value_is_never_reported(tmp_path: Path) -> None:
    """PWM (low phase -12 V measured) -> steady high -> the car loses its diode -> PWM again: the old -12 V
    must not be reported for the new PWM period; the first fresh measurement shows the fault."""
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    rig.ev.state = "B"
    pilot.set_output(PilotOutput.pwm(16.0))
    rig.ticks(pilot)
    assert pilot.read().low_v == pytest.approx(-12.0, abs=0.01)
    pilot.set_output(PilotOutput.high())
    rig.ticks(pilot)
    rig.ev.diode = False
    pilot.set_output(PilotOutput.pwm(16.0))
    lows = []
    for _ in range(4):
        rig.clock.advance(0.01)
        lows.append(pilot.read().low_v)
    assert -12.0 not in [round(v, 2) for v in lows if v is not None]
    assert lows[-1] == pytest.approx(-9.0, abs=0.01)


def test_a_stuck_conversion_is_an_error_not_a_frozen_reading(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    rig.ticks(pilot)
    rig.ads.busy_until = float("inf")
    rig.ads.pending = 0
    with pytest.raises(DeviceError, match="never finished"):
        for _ in range(pilot.max_busy_polls + 2):
            rig.clock.advance(0.01)
            pilot.read()
    rig.ads.busy_until = 0.0  # the chip recovers
    rig.ticks(pilot)
    assert pilot.read().high_v == pytest.approx(12.0, abs=0.01)


def test_no_low_phase_reading_until_the_stage_and_the_holds_have_settled(tmp_path: Path) -> None:
    """After PWM is enabled, or its duty changes, a conversion started within `settle_s` is not a reading:
    low_v stays None (the loop must not take an unsettled low phase for the car's diode)."""
    rig = Rig(tmp_path)
    pilot = rig.pilot(settle_s=0.05)
    rig.ev.state = "B"
    pilot.set_output(PilotOutput.pwm(16.0))
    lows = []
    for _ in range(5):  # 50 ms: every conversion so far started before the output settled
        rig.clock.advance(0.01)
        lows.append(pilot.read().low_v)
    assert lows == [None] * 5
    for _ in range(4):
        rig.clock.advance(0.01)
        reading = pilot.read()
    assert reading.low_v == pytest.approx(-12.0, abs=0.01)
    pilot.set_output(PilotOutput.pwm(25.0))  # a new duty: settle again
    assert pilot.read().low_v is None
    rig.clock.advance(0.01)
    assert pilot.read().low_v is None
    pilot.set_output(PilotOutput.pwm(25.0))  # the same output again: nothing to settle
    rig.ticks(pilot, 10)
    assert pilot.read().low_v == pytest.approx(-12.0, abs=0.01)


@pytest.mark.parametrize(
    ("state", "inverted", "files"),
    [
        ("disabled", False, ("160000", "0")),
        ("negative", False, ("0", "1")),
        ("high", False, ("1000000", "1")),
        ("negative", True, ("1000000", "1")),
    ],
)
def test_park_leaves_the_declared_steady_state(tmp_path: Path, state: str, inverted: bool, files: tuple[str, str]) -> None:
    clock = Clock()
    kernel = FakePwmKernel(tmp_path, clock)
    kernel.channel(0, 0, period="1000000", duty_cycle="160000", enable="1")  # a dead controller's last PWM
    SysfsPwm(0, 0, sysfs_root=tmp_path, io=kernel, now=clock, sleep=kernel.sleep).park(state, inverted)
    d = tmp_path / "pwmchip0" / "pwm0"
    assert ((d / "duty_cycle").read_text().strip(), (d / "enable").read_text().strip()) == files


def test_an_adc_that_was_reset_is_an_error_then_rechecked(tmp_path: Path) -> None:
    """The ADS1115's config register back at its power-up value mid-conversion: not a reading; the next
    read re-checks the chip and measures again."""
    rig = Rig(tmp_path)
    pilot = rig.pilot()
    rig.ticks(pilot)
    rig.ads.config = 0x0583  # power-up config (OS bit apart)
    rig.ads.pending = None
    with pytest.raises(DeviceError, match="config reads 0x8583"):
        pilot.read()
    rig.ticks(pilot)
    assert pilot.read().high_v == pytest.approx(12.0, abs=0.01) and pilot.rearms == 1


def test_another_chip_at_the_adc_address_fails_at_start_up(tmp_path: Path) -> None:
    from hal_fakes import FakeTmp102

    rig = Rig(tmp_path)
    rig.bus.chips[0x48] = FakeTmp102(89.0)
    with pytest.raises(DeviceError, match="not an ADS1115"):
        rig.pilot()
