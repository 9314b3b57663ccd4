"""The coordinator on the fake clock against model stations (`netmodel`): the network's offered current stays
within SCN-TotalStaticCurrent at every step through lost members, late and unanswered writes, a coordinator
killed and restarted while a member it cannot reach still holds its share, and a second coordinator.

The proof that the validity time and the start-up wait fit together is `test_restart_table`: for every
combination of when the member is cut off, how late writes arrive and how fast the coordinator comes back,
the sum holds; and `test_restart_without_the_wait_breaks_the_limit` shows the same scenario exceeding the
total when the restarted coordinator does not wait, so the table can fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from controller.clock import FakeClock
from controller.scn.coordinator import OWN, Coordinator
from controller.scn.ledger import startup_wait_s
from controller.scn.settings import MemberSpec, ScnBoard
from tests.scn.netmodel import ModelClient, ModelStation, OwnStation

V = 2.0  # MbsSlaveTCPIPValidityTime
TOTAL = 40.0
SAFE = 6.0
STEP = 0.05


class Keys:
    def __init__(self, **values: Any) -> None:
        self.values = {
            "SCN-TotalStaticCurrent": str(TOTAL), "SCN-SocketSafeCurrent": str(SAFE), "SCN-AlternatingPeriod": "900",
            "SCN-PhaseMapping-1": "4", "SCN-PhaseMapping-2": "4", "MbsSlaveTCPIPValidityTime": str(int(V)),
            "MbsSlaveTCPIPMode": "SCN",
        }
        self.values.update({k.replace("_", "-"): str(v) for k, v in values.items()})

    def get(self, name: str) -> str:
        return self.values[name]

    def get_bool(self, name: str) -> bool:
        return self.values[name].lower() == "true"


class Network:
    def __init__(self, clock: FakeClock, members: dict[str, ModelStation], own: ModelStation,
                 keys: Keys | None = None, follow_s: float = 0.0,
                 meter_room: Callable[[], Sequence[float] | None] = lambda: None) -> None:
        self.clock, self.members, self.own_model = clock, members, own
        self.own = OwnStation(own)
        self.keys = keys or Keys()
        self.follow_s = follow_s
        self.meter_room = meter_room
        self.coordinator: Coordinator | None = None
        self.task: asyncio.Task[None] | None = None
        self.worst = 0.0
        self.samples = 0
        self.traces: list[str] = []

    def start(self) -> Coordinator:
        specs = tuple(MemberSpec("10.0.0.1", 5020 + i, m.mapping, m.max_a) for i, m in enumerate(self.members.values()))
        c = Coordinator(self.keys, self.clock, self.own, {1: self.own_model.phases}, self.own, ScnBoard("coordinator", specs, False,
                        self.follow_s), self.traces.append, self.meter_room, round_s=0.25)
        for spec, m in zip(specs, self.members.values(), strict=True):
            c.clients[spec.name] = ModelClient(m)  # type: ignore[assignment]
        self.own_model.reset()  # its setpoints do not outlive the process
        self.coordinator = c
        self.task = asyncio.ensure_future(c.run())
        return c

    async def kill(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.task = None

    def total(self) -> list[float]:
        out = [0.0, 0.0, 0.0]
        for st in (*self.members.values(), self.own_model):
            for p, a in enumerate(st.offered()):
                out[p] += a
        return out

    async def run_for(self, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            self.own.sync()
            await self.clock.advance(STEP)
            worst = max(self.total())
            self.worst = max(self.worst, worst)
            self.samples += 1
            assert worst <= TOTAL + 1e-6, f"network draws {self.total()} A at t={self.clock.monotonic():.2f}"


def station(clock: FakeClock, asking: bool = True, **kw: Any) -> ModelStation:
    return ModelStation(clock, V, SAFE, {1: asking}, **kw)


async def test_three_stations_share_the_total_and_fall_back_when_the_coordinator_dies() -> None:
    clock = FakeClock()
    a, b = station(clock), station(clock)
    net = Network(clock, {"a": a, "b": b}, station(clock))
    net.start()
    await net.run_for(5.0)
    assert a.sp[0] == pytest.approx(13.33, abs=0.01) and net.own_model.sp[0] == pytest.approx(13.33, abs=0.01)
    assert max(net.total()) == pytest.approx(40.0, abs=0.05)
    await net.kill()
    await net.run_for(V + 0.1)
    assert a.offered() == [SAFE] * 3 and b.offered() == [SAFE] * 3  # fallen back within the validity time
    net.start()
    await net.run_for(2.0)
    assert a.offered() == [SAFE] * 3, "a restarted coordinator raises nobody during its start-up wait"
    await net.run_for(startup_wait_s(V))
    assert a.sp[0] == pytest.approx(13.33, abs=0.01)


async def test_a_lost_member_is_counted_at_what_it_may_hold_then_at_its_safe_current() -> None:
    clock = FakeClock()
    a, b = station(clock), station(clock, asking=False)
    net = Network(clock, {"a": a, "b": b}, station(clock, asking=False))
    c = net.start()
    await net.run_for(startup_wait_s(V) + 1.0)
    assert a.sp[0] == pytest.approx(28.0, abs=0.01)  # 40 - 2 x 6 (the idle sockets at their safe current)
    a.unreachable = True
    b.asking[1] = True  # a car arrives at b while a (still holding 28 A) cannot be told to lower
    await net.run_for(1.0)
    assert b.sp[0] <= 40 - 28 - SAFE + 1e-6, "b gets only what a's hold leaves"
    assert "10.0.0.1:5020" in c.problems
    await net.run_for(V + 1.5)
    assert b.sp[0] == pytest.approx(40 - 2 * SAFE, abs=0.01), "once a's hold ran out it counts at its safe current"
    a.unreachable = False
    await net.run_for(2.0)
    assert a.sp[0] == pytest.approx(b.sp[0], abs=0.01) and "10.0.0.1:5020" not in c.problems


@pytest.mark.parametrize("cut_before_kill", [0.0, 0.3, 1.0, 1.9])
@pytest.mark.parametrize("delay", [0.0, 0.4, 0.9])
@pytest.mark.parametrize("restart_after", [0.05, 0.5, 1.5, 4.0])
async def test_restart_table(cut_before_kill: float, delay: float, restart_after: float) -> None:
    """a holds 34 A of 40 (b idle at its safe 6 A); a is cut off, the coordinator dies and comes back at once
    while a car arrives at b: b may get a's share only once a has fallen back."""
    clock = FakeClock()
    a, b = station(clock, delay_s=delay), station(clock, asking=False, delay_s=delay)
    net = Network(clock, {"a": a, "b": b}, station(clock, asking=False))
    net.start()
    await net.run_for(startup_wait_s(V) + 3.0)
    assert a.sp[0] == pytest.approx(28.0, abs=0.01)
    await net.run_for(2.0 - cut_before_kill)
    a.unreachable = True
    await net.run_for(cut_before_kill)
    await net.kill()
    b.asking[1] = True
    net.own_model.asking[1] = True
    await net.run_for(restart_after)
    net.start()
    await net.run_for(startup_wait_s(V) + 3.0)
    assert b.sp[0] > SAFE, "b charges above its safe current in the end"
    assert net.worst <= TOTAL + 1e-6


async def test_restart_without_the_wait_breaks_the_limit() -> None:
    """The same scenario with the start-up wait skipped: the network goes over its total."""
    clock = FakeClock()
    a, b = station(clock), station(clock, asking=False)
    net = Network(clock, {"a": a, "b": b}, station(clock, asking=False))
    net.start()
    await net.run_for(startup_wait_s(V) + 1.0)
    a.unreachable = True
    await net.kill()
    b.asking[1] = True
    c = net.start()
    c.ledger.started_at -= 100.0  # as if it had waited
    with pytest.raises(AssertionError, match="network draws"):
        await net.run_for(3.0)
    await net.kill()


async def test_late_writes_and_lost_answers_keep_the_total() -> None:
    clock = FakeClock()
    a = station(clock, delay_s=0.6, lose_answers=True)
    b = station(clock, asking=False)
    net = Network(clock, {"a": a, "b": b}, station(clock))
    net.start()
    await net.run_for(startup_wait_s(V) + 2.0)
    assert a.valid(clock.monotonic()), "a keeps its setpoints though no answer comes back"
    b.asking[1] = True
    await net.run_for(6.0)
    assert net.worst <= TOTAL


async def test_the_coordinator_counts_the_car_follow_time() -> None:
    """With `car_follow_s`, a share moves to another station only that long after the first was lowered."""
    clock = FakeClock()
    a, b = station(clock), station(clock, asking=False)
    net = Network(clock, {"a": a, "b": b}, station(clock, asking=False), follow_s=5.0)
    c = net.start()
    await net.run_for(startup_wait_s(V, follow_s=5.0) + 1.0)
    b.asking[1] = True
    await net.run_for(1.0)
    lowered_at = clock.monotonic()
    assert a.sp[0] == pytest.approx(17.0, abs=0.01) and b.sp[0] < 17.0  # 40 - 6 (own idle socket) = 2 x 17
    await net.run_for(3.5)
    assert c.ledger.books["10.0.0.1:5020"].bound(clock.monotonic())[0] == pytest.approx(28.0, abs=0.01)
    assert b.sp[0] < 17.0, f"raised {clock.monotonic() - lowered_at:.1f} s after a was lowered"
    await net.run_for(2.0)
    assert b.sp[0] == pytest.approx(17.0, abs=0.01)


async def test_a_second_coordinator_is_reported() -> None:
    clock = FakeClock()
    a, other = station(clock), station(clock, coordinator=True)
    net = Network(clock, {"a": a, "other": other}, station(clock))
    c = net.start()
    await net.run_for(startup_wait_s(V) + 1.0)
    assert any("coordinator too" in p for p in c.problems.values())
    assert any("coordinator too" in t for t in net.traces)
    assert net.worst <= TOTAL


async def test_a_member_not_in_scn_mode_is_counted_at_its_maximum() -> None:
    clock = FakeClock()
    a, rogue = station(clock), station(clock, scn=False, max_a=16)
    net = Network(clock, {"a": a, "rogue": rogue}, station(clock, asking=False))
    c = net.start()
    await net.run_for(startup_wait_s(V) + 1.0)
    assert a.sp[0] == pytest.approx(40 - 16 - SAFE, abs=0.01)
    assert "not SCN" in c.problems["10.0.0.1:5021"]
    assert c.status()["stations"][OWN]["reachable"]


@pytest.mark.parametrize("mappings, expected", [
    ((1, 2, 3), [20.0, 20.0, 20.0]),  # rotated: each single-phase socket has a feeder phase to itself
    ((1, 1, 1), [6.66, 6.66, 6.66]),  # all on L1: they share it
    ((1, 1, 2), [10.0, 10.0, 20.0]),
])
async def test_phase_mappings_rotate_single_phase_stations_over_the_feeder(
    mappings: tuple[int, int, int], expected: list[float]
) -> None:
    clock = FakeClock()
    keys = Keys(**{"SCN-TotalStaticCurrent": "20", "SCN-SocketSafeCurrent": "0", "SCN-PhaseMapping-1": str(mappings[0])})
    a = ModelStation(clock, V, 0.0, {1: True}, mapping=mappings[1], phases=1)
    b = ModelStation(clock, V, 0.0, {1: True}, mapping=mappings[2], phases=1)
    own = ModelStation(clock, V, 0.0, {1: True}, mapping=mappings[0], phases=1)
    net = Network(clock, {"a": a, "b": b}, own, keys)
    net.start()
    await net.run_for(startup_wait_s(V) + 1.0)
    assert [own.sp[0], a.sp[0], b.sp[0]] == pytest.approx(expected, abs=0.01)
    assert a.sp[1:] == [0.0, 0.0]  # a single-phase socket: nothing on the station's L2, L3


async def test_active_load_balancing_limits_the_network_to_the_meter_headroom() -> None:
    """The coordinator's grid meter leaves 20 A beyond the house (its own draw taken out); the members' draw
    that the meter also sees is added back, so the network may use 20 A + what the members take now."""
    clock = FakeClock()
    room = [20.0, 20.0, 20.0]
    a, b = station(clock, draw=5.0), station(clock, draw=5.0)
    net = Network(clock, {"a": a, "b": b}, station(clock), meter_room=lambda: room)
    net.start()
    await net.run_for(startup_wait_s(V) + 1.0)
    assert [net.own_model.sp[0], a.sp[0], b.sp[0]] == pytest.approx([10.0, 10.0, 10.0], abs=0.01)  # 20 + 2 x 5
    room[:] = [100.0, 100.0, 100.0]
    await net.run_for(1.0)
    assert a.sp[0] == pytest.approx(TOTAL / 3, abs=0.01)  # never above SCN-TotalStaticCurrent


async def test_own_station_with_two_feeder_cables_is_reported_and_counted_at_its_maximum() -> None:
    clock = FakeClock()
    a = station(clock)
    own = ModelStation(clock, V, SAFE, {1: True, 2: False})
    net = Network(clock, {"a": a}, own, Keys(**{"SCN-PhaseMapping-2": "8"}))
    c = net.start()
    await net.run_for(startup_wait_s(V) + 1.0)
    assert "SCN-PhaseMapping-2" in c.problems[OWN]
    assert a.sp[0] == 0.0 and "allocation" in c.problems  # 2 x 32 A leave no room: reported, nothing granted


async def test_a_member_with_a_longer_validity_time_is_counted_as_long_as_it_says_and_reported() -> None:
    """MbsSlaveTCPIPValidityTime must be identical in one SCN; a member whose setpoints run longer (5 s against
    the coordinator's 2 s) is counted as long as it reads back, so cutting it off does not hand its share to
    another station before it has really fallen back."""
    clock = FakeClock()
    a = ModelStation(clock, 5.0, SAFE, {1: True})
    b = station(clock, asking=False)
    net = Network(clock, {"a": a, "b": b}, station(clock, asking=False))
    c = net.start()
    await net.run_for(startup_wait_s(V) + 2.0)
    assert a.sp[0] == pytest.approx(28.0, abs=0.01)
    assert "longer than this coordinator's" in c.problems["10.0.0.1:5020"]
    a.unreachable = True
    b.asking[1] = True
    await net.run_for(8.0)  # run_for asserts the total at every step
    assert b.sp[0] == pytest.approx(28.0, abs=0.01)
