"""The 1/3-phase relay drivers: gpiozero on MockFactory pins (coil, auxiliary contact wired back to an input),
the simulated relay (delay, stuck, contacts that do not follow), and its board-file declaration."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from hal_fakes import make_system_root

from board.errors import BoardError
from board.loader import builtin_board, load_board
from hal.factory import build_power_path
from hal.gpio import PHASE_RELAY, GpioPhaseRelay
from hal.interfaces import PhaseRelay
from hal.real_drivers import BuildContext
from hal.sim.devices import SimPhaseRelay

COIL, AUX = 5, 6


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory()


def aux_follows_coil(factory: MockFactory, active_high: bool = True) -> None:
    """Wire the auxiliary contact to the coil: what the relay does when healthy."""
    coil, aux = factory.pin(COIL), factory.pin(AUX)
    level = coil.state if active_high else not coil.state
    aux.drive_high() if level else aux.drive_low()


def test_starts_at_rest_and_switches_with_its_feedback(factory: MockFactory) -> None:
    r = GpioPhaseRelay(COIL, AUX, pin_factory=factory)
    assert isinstance(r, PhaseRelay)
    assert factory.pin(COIL).state == 0 and r.commanded == 3, "coil off: the de-energised position (3)"
    aux_follows_coil(factory)
    assert r.feedback_phases() == 3
    r.set_phases(1)
    assert factory.pin(COIL).state == 1
    assert r.feedback_phases() == 3, "the auxiliary contact has not followed yet"
    aux_follows_coil(factory)
    assert r.feedback_phases() == 1
    r.set_phases(3)
    aux_follows_coil(factory)
    assert (factory.pin(COIL).state, r.feedback_phases()) == (0, 3)


def test_a_relay_at_rest_on_one_phase(factory: MockFactory) -> None:
    r = GpioPhaseRelay(COIL, AUX, rest_phases=1, pin_factory=factory)
    r.set_phases(3)
    assert factory.pin(COIL).state == 1
    aux_follows_coil(factory)
    assert r.feedback_phases() == 3
    r.to_safe_state()
    assert factory.pin(COIL).state == 0 and r.commanded == 1


def test_an_aux_contact_active_low_and_no_aux_contact(factory: MockFactory) -> None:
    r = GpioPhaseRelay(COIL, AUX, feedback_active_high=False, pin_factory=factory)
    factory.pin(AUX).drive_low()
    assert r.feedback_phases() == 1
    factory.pin(AUX).drive_high()
    assert r.feedback_phases() == 3
    bare = GpioPhaseRelay(7, pin_factory=factory)
    assert bare.feedback_phases() is None


@pytest.mark.parametrize("phases", [0, 2, 4, True])
def test_refuses_anything_but_one_or_three(factory: MockFactory, phases: int) -> None:
    r = GpioPhaseRelay(COIL, pin_factory=factory)
    with pytest.raises(ValueError):
        r.set_phases(phases)
    assert factory.pin(COIL).state == 0


def test_close_leaves_the_coil_off(factory: MockFactory) -> None:
    r = GpioPhaseRelay(COIL, AUX, pin_factory=factory)
    r.set_phases(1)
    r.close()
    assert factory.pin(COIL).state == 0


def test_declared_as_a_power_output_with_the_loops_settings() -> None:
    assert PHASE_RELAY.power_output, "claimed and driven off before anything else is built"
    assert PHASE_RELAY.params["settle_s"].default == 2.0
    assert PHASE_RELAY.params["rest_phases"].choices == (1, 3)


def test_sim_relay_follows_after_its_delay_and_fails_as_told() -> None:
    now = [0.0]
    r = SimPhaseRelay(lambda: now[0], feedback_delay_s=0.05)
    r.set_phases(1)
    assert (r.phases, r.feedback_phases()) == (3, 3)
    now[0] = 0.05
    assert (r.phases, r.feedback_phases(), r.switch_count) == (1, 1, 1)
    r.stuck = True
    r.set_phases(3)
    now[0] = 1.0
    assert (r.phases, r.feedback_phases()) == (1, 1), "stuck: nothing moves"
    r.stuck = False
    r.contacts_stuck = True
    r.set_phases(1)
    r.set_phases(3)
    now[0] = 2.0
    assert (r.phases, r.feedback_phases()) == (1, 3), "the aux contact follows, the power contacts do not"
    r.contacts_stuck = False
    r.to_safe_state()
    now[0] = 3.0
    assert r.phases == 3 and r.recorder.history[-1][1] == 3
    with pytest.raises(ValueError):
        r.set_phases(2)


def _board(tmp_path: Path, relay: str) -> Path:
    text = builtin_board("sim").read_text().replace('pp = { driver = "sim" }', 'pp = { driver = "sim" }\n' + relay)
    path = tmp_path / "relay.toml"
    path.write_text(text)
    return path


def test_the_board_file_declares_the_sim_relay_and_its_settle_time(tmp_path: Path) -> None:
    board = load_board(_board(tmp_path, 'phase_relay = { driver = "sim", settle_s = 4.5, rest_phases = 1 }'))
    pp = build_power_path(board, lambda: 0.0)
    relay = pp.sockets[1].phase_relay
    assert isinstance(relay, SimPhaseRelay) and relay.rest_phases == 1
    assert pp.world is not None and pp.world.sockets[1].phase_relay is relay


@pytest.mark.parametrize(
    "entry",
    [
        'phase_relay = { driver = "sim", settle_s = 61 }',
        'phase_relay = { driver = "sim", rest_phases = 2 }',
        'phase_relay = { driver = "sim", coil = 3 }',
    ],
)
def test_bad_relay_entries_are_refused_with_the_line(tmp_path: Path, entry: str) -> None:
    with pytest.raises(BoardError, match=r"relay.toml:\d+"):
        load_board(_board(tmp_path, entry))


def test_no_relay_and_none(tmp_path: Path) -> None:
    for path in (builtin_board("sim"), _board(tmp_path, 'phase_relay = { driver = "none" }')):
        pp = build_power_path(load_board(path), lambda: 0.0)
        assert pp.sockets[1].phase_relay is None


SYSTEM = """
[system]
config_txt = ["dtparam=strict_gpiod"]
coil_watchdog = "none (test board)"
"""


def test_a_gpiozero_relay_on_a_board_is_built_off(tmp_path: Path, factory: MockFactory) -> None:
    path = _board(tmp_path, 'phase_relay = { driver = "gpiozero", pin = 5, feedback_pin = 6 }')
    path.write_text(path.read_text() + SYSTEM)
    board = load_board(path)
    ctx = BuildContext(pin_factory=factory, system_root=str(make_system_root(tmp_path / "root")))
    pp = build_power_path(board, lambda: 0.0, hardware=ctx)
    try:
        relay = pp.sockets[1].phase_relay
        assert isinstance(relay, GpioPhaseRelay)
        assert factory.pin(COIL).state == 0
    finally:
        pp.close()
    assert factory.pin(COIL).state == 0
