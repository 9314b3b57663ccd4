"""Table tests of the pure allocation: phases, fuse headroom, two sockets, imbalance, the 6 A rule."""

from __future__ import annotations

import pytest

from controller.energy.allocator import SocketAsk, allocate, allocate_sockets, fill, offer_if_joined
from controller.energy.phases import (
    charging_phase_count,
    drawn_phases,
    format_phases,
    parse_phase_connected,
    socket_phases,
    to_grid,
)

A = SocketAsk
ALL = (0, 1, 2)
NONE3: list[float | None] = [None, None, None]


@pytest.mark.parametrize(
    ("asks", "room", "imbalance", "expected"),
    [
        # one socket: min(its cap, the room of every phase it draws on)
        ({1: A(32)}, [32, 32, 32], None, {1: 32.0}),
        ({1: A(16)}, [32, 32, 32], None, {1: 16.0}),
        ({1: A(32)}, [20, 25, 12.5], None, {1: 12.5}),  # the tightest phase decides
        ({1: A(32)}, [None, None, 9.99], None, {1: 9.99}),
        # below 6 A: pause, never less than 6 A
        ({1: A(32)}, [5.9, 32, 32], None, {1: 0.0}),
        ({1: A(5)}, [32, 32, 32], None, {1: 0.0}),
        ({1: A(32)}, [-3, 32, 32], None, {1: 0.0}),  # the house alone is above the fuse
        # a single-phase socket (on grid L2) only needs room on L2
        ({1: A(32, (1,))}, [0, 20, 0], None, {1: 20.0}),
        # two sockets share fairly; what one cannot use goes to the other
        ({1: A(32), 2: A(32)}, [32, 32, 32], None, {1: 16.0, 2: 16.0}),
        ({1: A(32), 2: A(10)}, [32, 32, 32], None, {1: 22.0, 2: 10.0}),
        ({1: A(32), 2: A(32)}, [25, 40, 40], None, {1: 12.5, 2: 12.5}),
        # two sockets, not enough for both at 6 A: one charges, the other pauses (the lower id wins a tie)
        ({1: A(32), 2: A(32)}, [10, 32, 32], None, {1: 10.0, 2: 0.0}),
        ({1: A(8), 2: A(32)}, [11, 32, 32], None, {1: 8.0, 2: 0.0}),  # equal shares: the higher id pauses
        ({1: A(32), 2: A(32)}, [11, 32, 32], None, {1: 11.0, 2: 0.0}),
        ({1: A(32), 2: A(32), 3: A(32)}, [17, 32, 32], None, {1: 8.5, 2: 8.5, 3: 0.0}),
        # sockets on different phases (single-phase sockets) do not compete
        ({1: A(32, (0,)), 2: A(32, (1,))}, [16, 16, 16], None, {1: 16.0, 2: 16.0}),
        # imbalance: a single-phase car may load its phase at most MaxImbalanceCurrent more than the others
        ({1: A(32, (0,))}, NONE3, 16.0, {1: 16.0}),
        ({1: A(32, ALL, (0,))}, NONE3, 20.0, {1: 20.0}),  # three-phase socket, single-phase car
        ({1: A(32, (0,)), 2: A(32)}, NONE3, 10.0, {1: 10.0, 2: 32.0}),
        ({1: A(32, (0,)), 2: A(32, (1,))}, NONE3, 10.0, {1: 10.0, 2: 10.0}),
        ({1: A(32, (0,))}, NONE3, 5.0, {1: 0.0}),  # the imbalance limit leaves less than 6 A
        ({1: A(32)}, NONE3, 5.0, {1: 32.0}),  # a balanced three-phase car causes no imbalance
        # caps of 0 (a Modbus 0, a socket switched off) get nothing and leave everything to the other
        ({1: A(0), 2: A(32)}, [20, 20, 20], None, {1: 0.0, 2: 20.0}),
    ],
)
def test_allocate_sockets(
    asks: dict[int, SocketAsk], room: list[float | None], imbalance: float | None, expected: dict[int, float]
) -> None:
    assert allocate_sockets(asks, room, imbalance) == pytest.approx(expected, abs=0.011)


def test_allocation_never_exceeds_the_room_and_rounds_down() -> None:
    x = allocate_sockets({1: A(32), 2: A(32)}, [13.337, 32, 32])
    assert x[1] + x[2] <= 13.337
    assert x == {1: 6.66, 2: 6.66}


def test_fill_is_max_min_fair_over_phases() -> None:
    # socket 1 on L1 only, socket 2 on all phases; L1 has room 20, the others 30
    x = fill({1: A(32, (0,)), 2: A(32)}, [20, 30, 30])
    assert x[1] == pytest.approx(10, abs=0.01) and x[2] == pytest.approx(10, abs=0.01)


def test_offer_if_joined_shows_an_idle_socket_its_share() -> None:
    asks = {1: A(32), 2: A(32)}
    assert offer_if_joined(asks, {1}, 2, [32, 32, 32]) == 16.0
    assert offer_if_joined(asks, set(), 2, [32, 32, 32]) == 32.0


def test_simple_allocate_kept_for_callers() -> None:
    assert allocate(32, {1: 32, 2: 32}, {1, 2}) == {1: 16.0, 2: 16.0}
    assert allocate(32, {1: 32, 2: 32}, set()) == {1: 32, 2: 32}


@pytest.mark.parametrize(
    ("value", "phases"),
    [("L1L2L3", (0, 1, 2)), ("L3L2L1", (2, 1, 0)), ("L2", (1,)), ("L2L3L1", (1, 2, 0)), ("L1L3", (0, 2)),
     ("l3l1l2", (2, 0, 1)), ("L1L1", (0, 1, 2)), ("", (0, 1, 2)), ("X", (0, 1, 2))],
)
def test_phase_connected(value: str, phases: tuple[int, ...]) -> None:
    assert parse_phase_connected(value) == phases


def test_phase_mapping_station_to_grid() -> None:
    assert to_grid([10, 20, 30], (2, 1, 0)) == [30, 20, 10]
    assert to_grid([16, 0, 0], (1,)) == [0, 16, 0]  # single-phase station on grid L2
    assert format_phases((2, 1, 0)) == "L3L2L1"
    assert drawn_phases([16, 0.2, 0.1], (2, 1, 0)) == (2,)
    assert drawn_phases([0, 0, 0], (0, 1, 2)) is None


@pytest.mark.parametrize(
    ("connected", "board_phases", "max_allowed", "relay", "expected"),
    [
        ((0, 1, 2), 3, 3, False, (0, 1, 2)),
        ((0, 1, 2), 1, 3, False, (0,)),  # a single-phase socket on the station's L1
        ((2, 1, 0), 1, 3, False, (2,)),
        ((1,), 3, 3, False, (1,)),  # a three-phase socket on a single-phase connection
        ((0, 1, 2), 3, 1, False, (0, 1, 2)),  # MaxAllowedPhases 1 without a relay: the car may still use 3
        ((0, 1, 2), 3, 1, True, (0,)),  # with a relay it would charge on the first phase only
    ],
)
def test_socket_phases(
    connected: tuple[int, ...], board_phases: int, max_allowed: int, relay: bool, expected: tuple[int, ...]
) -> None:
    assert socket_phases(connected, board_phases, max_allowed, relay) == expected
    assert charging_phase_count(connected, board_phases, max_allowed, relay) == len(expected)
