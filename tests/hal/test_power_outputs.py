"""The power-path outputs when a process dies: on a fake GPIO chip whose lines outlive their processes (as
Raspberry Pi kernels keep released outputs driven unless dtparam=strict_gpiod), a fake sysfs PWM kernel and a
fake /sys/module. The coil must end up off after a failed restart, a refused start and `safe-outputs`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hal_fakes import (
    Clock,
    FakeAds1115,
    FakeAdxl345,
    FakeEv,
    FakeGpioChip,
    FakeMcp9808,
    FakePwmKernel,
    FakeSMBus,
    PilotFrontEnd,
    make_system_root,
)

from board.loader import builtin_board, load_board
from controller.__main__ import main
from hal.errors import DeviceOffline, UnsafeSystem
from hal.factory import build_power_path, park_outputs
from hal.interfaces import PilotOutput
from hal.real_drivers import BuildContext

CM4 = builtin_board("cm4-rev1")
COIL, LOCK = 17, 22


class Board:
    """The CM4 rev1 board's surroundings: GPIO chip, I2C bus, sysfs PWM kernel, /sys and /proc."""

    def __init__(self, tmp_path: Path, strict: bool = False, persist: str | None = "N") -> None:
        self.clock = Clock()
        self.chip = FakeGpioChip(strict=strict)
        self.kernel = FakePwmKernel(tmp_path / "pwm", self.clock, udev_delay_s=0.0)
        self.ev = FakeEv()
        self.kernel.channel(0, 0)
        self.front = PilotFrontEnd(tmp_path / "pwm/pwmchip0/pwm0", self.ev)
        self.bus = FakeSMBus(
            {0x48: FakeAds1115(self.clock, self.front.analog), 0x18: FakeMcp9808(), 0x53: FakeAdxl345()}
        )
        self.root = str(make_system_root(tmp_path / "root", persist))
        self.board = load_board(CM4)

    def context(self, pins) -> BuildContext:  # type: ignore[no-untyped-def]
        return BuildContext(
            pin_factory=pins,
            smbus=lambda n: self.bus,
            sysfs_root=str(self.kernel.root),
            sysfs=self.kernel,
            system_root=self.root,
            now=self.clock,
            sleep=self.kernel.sleep,
        )

    def start(self):  # type: ignore[no-untyped-def]
        """A control process: builds the power path on its own pin factory."""
        pins = self.chip.process()
        return pins, build_power_path(self.board, self.clock, hardware=self.context(pins))

    def crash_with_the_coil_on(self) -> None:
        pins, power = self.start()
        power.sockets[1].contactor.set_closed(True)
        power.sockets[1].lock.set_locked(True)
        assert self.chip.line(COIL).coil_on
        self.chip.kill(pins)  # SIGKILL: nothing closed, the kernel releases the lines

    def pwm(self, name: str) -> str:
        return (self.kernel.root / "pwmchip0/pwm0" / name).read_text().strip()


def test_without_strict_gpiod_a_killed_process_leaves_the_coil_on(tmp_path: Path) -> None:
    """The fact the rest rests on: the hardware pull-down never acts on a released, still driven line."""
    rig = Board(tmp_path, strict=False)
    rig.crash_with_the_coil_on()
    assert rig.chip.line(COIL).coil_on and rig.chip.line(LOCK).coil_on


def test_with_strict_gpiod_a_killed_process_leaves_the_coil_to_the_pull_down(tmp_path: Path) -> None:
    rig = Board(tmp_path, strict=True)
    rig.crash_with_the_coil_on()
    assert not rig.chip.line(COIL).coil_on and rig.chip.line(COIL).function == "input"


def test_a_restart_that_fails_on_the_adc_drives_the_coil_off_first(tmp_path: Path) -> None:
    rig = Board(tmp_path, strict=False)
    rig.crash_with_the_coil_on()
    del rig.bus.chips[0x48]  # the restart fails on the pilot's ADC
    with pytest.raises(DeviceOffline, match="ADS1115"):
        rig.start()
    assert not rig.chip.line(COIL).coil_on and not rig.chip.line(LOCK).coil_on
    assert ("drive", False) in rig.chip.line(COIL).history[-3:]
    # released: a new process can claim the lines again
    rig.bus.chips[0x48] = FakeAds1115(rig.clock, rig.front.analog)
    pins, power = rig.start()
    power.close()


def test_a_kernel_that_keeps_released_outputs_driven_is_refused_after_the_coil_is_off(tmp_path: Path) -> None:
    rig = Board(tmp_path, strict=False, persist="Y")
    line = rig.chip.line(COIL)
    line.function, line.level = "output", True  # left driven by a run that crashed with the coil on
    with pytest.raises(UnsafeSystem, match="persist_gpio_outputs = Y.*dtparam=strict_gpiod"):
        rig.start()
    assert not line.coil_on
    assert rig.pwm("enable") == "0"  # nothing after the outputs was built: the pilot was never touched


def test_a_kernel_without_the_parameter_is_refused(tmp_path: Path) -> None:
    rig = Board(tmp_path, persist=None)
    with pytest.raises(UnsafeSystem, match="cannot read .*persist_gpio_outputs"):
        rig.start()


def test_strict_kernel_builds(tmp_path: Path) -> None:
    rig = Board(tmp_path, strict=True, persist="N")
    pins, power = rig.start()
    try:
        assert power.sockets[1].pilot.read().high_v == pytest.approx(12.0, abs=0.01)
    finally:
        power.close()


def test_safe_outputs_after_a_crash_turns_the_coil_off_and_parks_the_pwm(tmp_path: Path) -> None:
    """ExecStopPost after a SIGKILL: a fresh process drives the coil lines off and leaves the PWM at the
    board's on_exit state (disabled), without needing the ADC."""
    rig = Board(tmp_path, strict=False)
    rig.front.update()
    pins, power = rig.start()
    power.sockets[1].pilot.set_output(PilotOutput.pwm(16.0))
    power.sockets[1].contactor.set_closed(True)
    rig.chip.kill(pins)
    assert rig.chip.line(COIL).coil_on and rig.pwm("enable") == "1" and rig.pwm("duty_cycle") == "160000"
    del rig.bus.chips[0x48]
    report = park_outputs(rig.board, hardware=rig.context(rig.chip.process()))
    assert report.failed == []
    assert not rig.chip.line(COIL).coil_on and not rig.chip.line(LOCK).coil_on
    assert rig.pwm("enable") == "0"
    assert report.done[0].startswith("connector 1 contactor: contactor coil off (GPIO17)")
    assert any("pilot PWM pwmchip0/pwm0 disabled" in line for line in report.done)


def test_safe_outputs_goes_on_when_one_device_fails(tmp_path: Path) -> None:
    rig = Board(tmp_path, strict=False)
    rig.crash_with_the_coil_on()
    ctx = rig.context(rig.chip.process())
    ctx.sysfs_root = str(tmp_path / "nowhere")
    report = park_outputs(rig.board, hardware=ctx)
    assert not rig.chip.line(COIL).coil_on
    assert len(report.failed) == 1 and "connector 1 pilot" in report.failed[0] and "no PWM chip" in report.failed[0]


@pytest.mark.parametrize(("board", "sockets"), [("sim", 1), ("sim-double", 2)])
def test_safe_outputs_command_on_the_simulated_board(board: str, sockets: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["safe-outputs", "--board", str(builtin_board(board))]) == 0
    out = capsys.readouterr().out
    for cid in range(1, sockets + 1):
        for kind in ("contactor", "pilot", "lock"):
            assert f"safe: connector {cid} {kind}: simulated, safe state" in out


def test_safe_outputs_command_reports_a_failure_with_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On this machine there is no GPIO chip and no PWM class: every real output fails, loudly."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    monkeypatch.setattr(Device, "pin_factory", MockFactory())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARGEPOINT_LGPIO_DIR", "")
    monkeypatch.setenv("LG_WD", "")
    status = main(["safe-outputs", "--board", str(CM4)])
    captured = capsys.readouterr()
    assert "safe: connector 1 contactor: contactor coil off (GPIO17)" in captured.out
    assert "coil watchdog: rev1 has NO hardware watchdog" in captured.out
    assert Path(os.environ["LG_WD"]) == tmp_path / "lgpio-park"  # its own lgpio directory, not cwd
    if not Path("/sys/class/pwm/pwmchip0").exists():
        assert status == 1 and "FAILED: connector 1 pilot" in captured.err
