"""The control process collects garbage between ticks only (controller/evse/gcpacer.py), from tables: the young
generation every `young_every` ticks and everything every `full_every_s`, when half a tick is left; put off
while there is no slack, but never for ever (memory stays bounded on an overloaded loop)."""

from __future__ import annotations

import pytest

from controller.evse.gcpacer import CollectorPacer

TICK = 0.01


def run(p: CollectorPacer, ticks: int, slack: float, t0: float = 0.0) -> list[tuple[int, int]]:
    """(tick index, generation) of each collection over `ticks` ticks with `slack` seconds left after each."""
    out = []
    for i in range(ticks):
        g = p.after_tick(t0 + i * TICK, slack, TICK)
        if g is not None:
            out.append((i, g))
    return out


@pytest.mark.parametrize(
    ("what", "slack", "ticks", "expected"),
    [
        ("plenty of slack: gen 0 every 200 ticks", 0.008, 601, [(199, 0), (399, 0), (599, 0)]),
        ("exactly half a tick left counts as room", 0.005, 200, [(199, 0)]),
        ("no slack: put off until four intervals", 0.001, 801, [(799, 0)]),
        ("no slack at all: still collected (bounded memory)", 0.0, 1601, [(799, 0), (1599, 0)]),
    ],
)
def test_young_collections(what: str, slack: float, ticks: int, expected: list[tuple[int, int]]) -> None:
    assert run(CollectorPacer(), ticks, slack) == expected, what


def test_a_full_collection_every_minute_with_room_and_forced_after_four() -> None:
    p = CollectorPacer(young_every=10**9)
    assert run(p, 6001, 0.008) == [(6000, 2)]  # 60 s of 10 ms ticks
    p = CollectorPacer(young_every=10**9)
    assert run(p, 24001, 0.0) == [(24000, 2)]  # no slack: after 4 minutes anyway


def test_a_full_collection_restarts_the_young_count() -> None:
    p = CollectorPacer(young_every=150, full_every_s=2.5)
    assert run(p, 401, 0.008) == [(149, 0), (250, 2), (400, 0)]  # not (299, 0): the full one took the young too
