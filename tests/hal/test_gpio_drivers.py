"""The gpiozero drivers on MockFactory pins wired like the hardware: a contactor with its NC mirror contact,
an RDC-DD module with test and reset inputs, the lock, the suspend contact and the RGB status LED."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from hal_fakes import Clock, ContactorCoilPin, RcdResetPin, RcdTestPin

from hal.gpio import GpioContactor, GpioLock, GpioRcd, GpioRgbLeds, GpioSuspendInput
from hal.interfaces import ConnectorLock, Contactor, ExternalSuspendInput, Leds, ResidualCurrentMonitor


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory()


def contactor_rig(factory: MockFactory) -> tuple[GpioContactor, ContactorCoilPin]:
    mirror = factory.pin(27)
    coil = factory.pin(17, pin_class=ContactorCoilPin, mirror_pin=mirror)
    return GpioContactor(17, feedback_pin=27, feedback_active_high=False, pin_factory=factory), coil


def test_contactor_starts_open_and_the_mirror_contact_follows(factory: MockFactory) -> None:
    contactor, coil = contactor_rig(factory)
    assert isinstance(contactor, Contactor)
    assert coil.state is False and [s.state for s in coil.states] == [False]
    assert contactor.feedback_closed() is False
    contactor.set_closed(True)
    assert coil.state is True
    assert contactor.feedback_closed() is True
    contactor.set_closed(False)
    assert contactor.feedback_closed() is False
    assert [s.state for s in coil.states] == [False, True, False]


def test_welded_contactor_is_seen_through_the_mirror_contact(factory: MockFactory) -> None:
    contactor, coil = contactor_rig(factory)
    contactor.set_closed(True)
    coil.welded = True
    contactor.to_safe_state()
    assert coil.state is False  # coil off ...
    assert contactor.feedback_closed() is True  # ... but the main contacts still conduct


def test_contactor_without_feedback_and_active_low_coil(factory: MockFactory) -> None:
    contactor = GpioContactor(5, active_high=False, pin_factory=factory)
    pin = factory.pin(5)
    assert pin.state is True  # active low: coil off = pin high, from the first instant
    assert contactor.feedback_closed() is None
    contactor.set_closed(True)
    assert pin.state is False
    contactor.close()


def test_lock_with_feedback(factory: MockFactory) -> None:
    lock = GpioLock(22, feedback_pin=23, pin_factory=factory)
    assert isinstance(lock, ConnectorLock)
    out, fb = factory.pin(22), factory.pin(23)
    assert out.state is False and lock.feedback_locked() is False
    lock.set_locked(True)
    assert out.state is True
    fb.drive_high()  # the end switch closes
    assert lock.feedback_locked() is True
    lock.to_safe_state()
    assert out.state is False


def test_inputs_cannot_be_driven_through_the_driver(factory: MockFactory) -> None:
    from gpiozero.exc import PinSetInput

    GpioLock(22, feedback_pin=23, pin_factory=factory)
    with pytest.raises(PinSetInput):
        factory.pin(23).state = True


def test_suspend_contact_to_ground(factory: MockFactory) -> None:
    suspend = GpioSuspendInput(6, active_high=False, pin_factory=factory)
    assert isinstance(suspend, ExternalSuspendInput)
    pin = factory.pin(6)
    assert pin.pull == "up" and suspend.active() is False
    pin.drive_low()
    assert suspend.active() is True
    pin.drive_high()
    assert suspend.active() is False


def rcd_rig(factory: MockFactory, clock: Clock | None = None) -> tuple[GpioRcd, RcdTestPin, RcdResetPin]:
    fault = factory.pin(24)
    test = factory.pin(25, pin_class=RcdTestPin, fault_pin=fault)
    reset = factory.pin(26, pin_class=RcdResetPin, fault_pin=fault)
    rcd = GpioRcd(24, 25, reset_pin=26, test_timeout_s=0.05, reset_pulse_s=0.0, pin_factory=factory, now=clock or time.monotonic)
    return rcd, test, reset


def test_rcd_self_test_passes_on_a_healthy_module(factory: MockFactory) -> None:
    rcd, test, reset = rcd_rig(factory)
    assert isinstance(rcd, ResidualCurrentMonitor)
    assert rcd.tripped() is False
    assert rcd.self_test() is True
    assert test.trips == 1 and reset.pulses == 1
    assert test.state is False  # test current off again
    assert rcd.tripped() is False


def test_rcd_self_test_fails_when_the_module_does_not_trip(factory: MockFactory) -> None:
    clock = Clock()
    rcd, test, _ = rcd_rig(factory, clock)
    test.dead = True
    rcd.start_self_test()
    assert test.state is True
    assert rcd.poll_self_test() is None  # still waiting for the trip
    clock.advance(0.06)
    assert rcd.poll_self_test() is False
    assert test.state is False
    assert rcd.self_test_failures == 1


def test_rcd_self_test_fails_when_the_latch_does_not_clear(factory: MockFactory) -> None:
    rcd, _, reset = rcd_rig(factory)
    reset.stuck = True
    assert rcd.self_test() is False
    assert rcd.tripped() is True


def test_rcd_trip_and_reset(factory: MockFactory) -> None:
    rcd, _, _ = rcd_rig(factory)
    factory.pin(24).drive_high()  # a real 6 mA DC fault
    assert rcd.tripped() is True
    rcd.reset()
    assert rcd.tripped() is False


def test_rgb_leds_colours_patterns_and_safe_state() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    leds = GpioRgbLeds(13, 19, 16, nfc_pin=20, pin_factory=factory)
    assert isinstance(leds, Leds)
    r, g, b = factory.pin(13), factory.pin(19), factory.pin(16)
    leds.show("green", "solid", 50)
    assert (r.state, g.state, b.state) == (0.0, 0.5, 0.0)
    leds.show("blue", "pulse", 100)
    time.sleep(0.15)
    assert 0.0 < b.state < 1.0 and r.state == 0.0  # fading in, in gpiozero's background thread
    leds.show("red", "blink2", 100)
    time.sleep(0.05)
    assert r.state == 1.0 and b.state == 0.0
    leds.show("purple", "solid", 100)  # unknown colour: white rather than dark
    assert (r.state, g.state, b.state) == (1.0, 1.0, 1.0) and leds.unknown_colors == 1
    leds.show_nfc(40)
    assert factory.pin(20).state == pytest.approx(0.4)
    leds.to_safe_state()
    assert (r.state, g.state, b.state, factory.pin(20).state) == (0.0, 0.0, 0.0, 0.0)
    leds.close()


def test_lgpio_is_installed_for_gpiozero() -> None:
    """gpiozero's native factory cannot use gpiochip0 at base 512 (kernels 6.6+) and has no PWM: lgpio is
    pinned in pyproject.toml and imports on this machine too (the unit sets GPIOZERO_PIN_FACTORY=lgpio)."""
    import lgpio  # noqa: F401
    from gpiozero.pins.lgpio import LGPIOFactory  # noqa: F401


def test_each_process_gets_its_own_lgpio_directory(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """lgpio puts its FIFOs (.lgd-nfy0, numbered per process) in LG_WD or the current directory: the unit
    starts in the state directory; each process gets a sibling directory, children inherit the base."""
    import os

    from hal.gpio import use_lgpio_workdir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARGEPOINT_LGPIO_DIR", "")
    monkeypatch.setenv("LG_WD", "")
    assert use_lgpio_workdir("main") == tmp_path / "lgpio-main"
    assert os.environ["LG_WD"] == str(tmp_path / "lgpio-main")
    # the control process, started by the main one, inherits both variables
    assert use_lgpio_workdir("control") == tmp_path / "lgpio-control"
    assert (tmp_path / "lgpio-main").is_dir() and (tmp_path / "lgpio-control").is_dir()
    assert oct((tmp_path / "lgpio-control").stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize(("value", "ok"), [("N", True), ("Y", False), (None, False)])
def test_released_outputs_check(tmp_path, value, ok) -> None:  # type: ignore[no-untyped-def]
    from hal_fakes import make_system_root

    from hal.errors import UnsafeSystem
    from hal.gpio import check_released_outputs_return_to_inputs

    root = make_system_root(tmp_path / "root", value)
    if ok:
        check_released_outputs_return_to_inputs(root)
    else:
        with pytest.raises(UnsafeSystem, match="Refusing to run"):
            check_released_outputs_return_to_inputs(root)
