"""The Smart Charging Network's allocation, from tables: safe currents reserved, rotation when the current does
not suffice, max-min fair fill, phase mappings."""

from __future__ import annotations

import pytest

from controller.scn.allocation import (
    NetSocket,
    allocate,
    feeder_phases,
    station_setpoints,
    turn_of,
)

L123 = (0, 1, 2)


def sock(station: str, cid: int = 1, phases: tuple[int, ...] = L123, max_a: float = 32.0, asking: bool = True,
         reachable: bool = True) -> NetSocket:
    return NetSocket((station, cid), phases, max_a, asking, reachable)


def loads(sockets: list[NetSocket], grants: dict[tuple[str, int], float], safe: float) -> list[float]:
    out = [0.0, 0.0, 0.0]
    for s in sockets:
        for p in s.phases:
            out[p] += max(grants[s.key], safe)
    return out


@pytest.mark.parametrize(
    "sockets, total, safe, turn, expected",
    [
        # three cars share 40 A equally
        ([sock("a"), sock("b"), sock("c")], 40, 6, 0, {"a": 13.33, "b": 13.33, "c": 13.33}),
        # a car that cannot use its share leaves it to the others
        ([sock("a", max_a=10), sock("b"), sock("c")], 40, 6, 0, {"a": 10, "b": 15, "c": 15}),
        # an idle socket gets nothing but is still counted at its safe current
        ([sock("a"), sock("b", asking=False)], 40, 6, 0, {"a": 32, "b": 0}),
        # an unreachable station is counted at its safe current and granted nothing
        ([sock("a"), sock("b", reachable=False)], 30, 6, 0, {"a": 24, "b": 0}),
        # 15 A, safe 0, three cars: two fit at 6 A; the rotation picks which
        ([sock("a"), sock("b"), sock("c")], 15, 0, 0, {"a": 7.5, "b": 7.5, "c": 0}),
        ([sock("a"), sock("b"), sock("c")], 15, 0, 1, {"a": 0, "b": 7.5, "c": 7.5}),
        ([sock("a"), sock("b"), sock("c")], 15, 0, 2, {"a": 7.5, "b": 0, "c": 7.5}),
        # rotated feeder phases: a one-phase socket on L2 leaves L1 and L3 to the three-phase one
        ([sock("a", phases=(1,)), sock("b")], 20, 0, 0, {"a": 10, "b": 10}),
        ([sock("a", phases=(1,), max_a=8), sock("b")], 20, 0, 0, {"a": 8, "b": 12}),
        # a socket rated below 6 A cannot charge
        ([sock("a", max_a=5), sock("b")], 20, 0, 0, {"a": 0, "b": 20}),
    ],
)
def test_allocation_table(sockets: list[NetSocket], total: float, safe: float, turn: int,
                          expected: dict[str, float]) -> None:
    alloc = allocate(sockets, [total] * 3, safe, turn)
    assert alloc.problem is None
    assert {k[0]: g for k, g in alloc.grants.items()} == pytest.approx(expected, abs=0.01)
    assert max(loads(sockets, alloc.grants, safe)) <= total + 1e-6
    assert list(alloc.counted) == pytest.approx(loads(sockets, alloc.grants, safe), abs=0.01)


def test_safe_currents_that_do_not_fit_are_a_configuration_error() -> None:
    sockets = [sock(n) for n in "abcd"]
    alloc = allocate(sockets, [20, 20, 20], 6.0)
    assert alloc.problem is not None and "SCN-SocketSafeCurrent" in alloc.problem
    assert set(alloc.grants.values()) == {0.0}


def test_every_car_gets_its_turn_over_the_alternating_period() -> None:
    sockets = [sock(n) for n in "abcd"]
    period = 900.0
    served: dict[str, float] = {}
    for t in range(0, 900, 5):
        alloc = allocate(sockets, [13, 13, 13], 0.0, turn_of(float(t), period, 4))
        assert max(loads(sockets, alloc.grants, 0.0)) <= 13 + 1e-6
        for k, g in alloc.grants.items():
            served[k[0]] = served.get(k[0], 0.0) + (5 if g >= 6 else 0)
    assert served == {"a": 450, "b": 450, "c": 450, "d": 450}  # two at a time, each half the period


def test_turns_and_mappings() -> None:
    assert turn_of(0, 900, 3) == 0 and turn_of(299.9, 900, 3) == 0 and turn_of(300, 900, 3) == 1
    assert turn_of(5000, 900, 1) == 0
    assert feeder_phases(4) == (0, 1, 2) and feeder_phases(8) == (2, 0, 1) and feeder_phases(8, 1) == (2,)
    assert feeder_phases(2) == (1,) and feeder_phases(0) == ()


def test_station_setpoints_sum_its_sockets_per_phase() -> None:
    grants = {("a", 1): 10.0, ("a", 2): 6.0, ("b", 1): 32.0}
    assert station_setpoints(grants, "a", {1: 3, 2: 1}) == (16.0, 10.0, 10.0)
    assert station_setpoints(grants, "a", {1: 3, 2: 3}) == (16.0, 16.0, 16.0)
