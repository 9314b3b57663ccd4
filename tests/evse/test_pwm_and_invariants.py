"""The duty-cycle formula at its edges, and the invariant that the contactor is never closed outside C/D,
checked over random walks of a simulated car driven through the real control loop logic."""

from __future__ import annotations

import random

import pytest

from board.loader import builtin_board, load_board
from controller.evse.devio import write_outputs
from controller.evse.process import build_loop, read_inputs
from controller.evse.protocol import ConnectorLimits, Limits
from controller.evse.pwm import current_for_duty, duty_for_current
from hal.factory import build_power_path


@pytest.mark.parametrize(
    ("amps", "duty"),
    [
        (5.99, None),
        (0.0, None),
        (6.0, 10.0),
        (16.0, 26.66),
        (32.0, 53.33),
        (51.0, 85.0),
        (52.0, 84.8),
        (80.0, 96.0),
        (90.0, 96.0),  # capped at 80 A
    ],
)
def test_duty_for_current(amps: float, duty: float | None) -> None:
    assert duty_for_current(amps) == duty


@pytest.mark.parametrize(("duty", "amps"), [(10.0, 6.0), (53.33, 32.0), (85.0, 51.0), (96.0, 80.0), (5.0, 0.0), (97.0, 0.0)])
def test_current_for_duty(duty: float, amps: float) -> None:
    assert current_for_duty(duty) == pytest.approx(amps, abs=0.01)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("seed", range(6))
def test_contactor_never_closed_outside_c_or_d(seed: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    board = load_board(builtin_board("sim"))
    power = build_power_path(board, clock)
    world = power.world
    assert world is not None
    loop = build_loop(board, clock.t, main_silence_s=1e9)
    sock = world.sockets[1]
    closed_ticks = 0
    was_closed = False
    actions = [
        lambda: sock.ev.plug(),
        lambda: sock.ev.unplug(),
        lambda: setattr(sock.ev, "paused", not sock.ev.paused),
        lambda: loop.handle(
            clock.t, Limits({1: ConnectorLimits(rng.choice([0, 5, 6, 16, 32]), rng.random() < 0.8)})
        ),
        lambda: setattr(sock.ev, "shorted", rng.random() < 0.3),
        lambda: setattr(sock.ev, "diode_missing", rng.random() < 0.3),
        lambda: setattr(sock.rcd, "trip", rng.random() < 0.3),
    ]
    weights = [4, 2, 2, 4, 1, 1, 1]
    tests: dict[int, bool] = {}
    last_pilot: dict = {}
    for _ in range(20000):
        if rng.random() < 0.01:
            rng.choices(actions, weights)[0]()
        clock.t += 0.01
        world.step(clock.t)
        outs = loop.step(clock.t, read_inputs(power, tests))
        tests = write_outputs(power, outs, last_pilot)
        out = outs[1]
        if out.contactor:
            closed_ticks += 1
            state = loop.connectors[1].state.value
            assert state in ("C", "D"), f"contactor closed in state {state}"
            if not was_closed:  # a close happens only for an authorised session
                assert loop.commands[1].authorized
            assert not sock.rcd.trip
        was_closed = out.contactor
    assert closed_ticks > 0  # the walk did charge at some point
