"""End to end on the fake clock: the real EnergyManager (active load balancing on a grid meter) decides, the
real control loop switches the simulated relay, and the simulated three-phase car follows the phases it is
given: a house load on L2 leaves less than 6 A on three phases, so the socket goes to one phase (L1) and keeps
charging; when the load goes, and the minimum time between switches has passed, it goes back to three.

At every tick (20 ms) the station's own current is checked on each grid phase against the limit: never above
Station-MaxCurrent, never above the room load balancing had on that phase within the car's reaction window
(IEC 61851: 5 s to follow a lowered PWM, plus 1 s for the limits to reach the loop), and during a switch not
above what it drew before it."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.manager import REACTION_S, EnergyManager
from hal.interfaces import MeterReading
from tests.evse.harness import Harness, board_file

FUSE_A = 25.0
STATION_MAX_A = 32.0
CONFIG = {
    "Active-LoadBalancing": "On",
    "ALB-ProtocolSelection": "DSMR P1",
    "SmartMeter-MaxCurrent": str(FUSE_A),
    "Station-MaxCurrent": str(STATION_MAX_A),
    "EnablePhaseSwitching": "true",
}
TICK = 0.02
MIN_INTERVAL_S = 60.0  # the decider's minimum time between switches, shortened from 300 s for a fast test


class Grid:
    """The grid meter: the house load plus what the socket draws (Phase-Connected L1L2L3)."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.house = [5.0, 5.0, 5.0]

    def read(self) -> MeterReading:
        cur = self.h.sock().meter.currents
        total = [self.house[p] + cur[p] for p in range(3)]
        return MeterReading(currents_a=(total[0], total[1], total[2]))


class Station:
    """The main process's part played on the fake clock: poll the meter every second, publish the limits."""

    def __init__(self, tmp_path: Path) -> None:
        path = board_file(tmp_path, lambda t: t.replace('pp = { driver = "sim" }', 'pp = { driver = "sim" }\nphase_relay = { driver = "sim" }'))
        self.h = Harness(path, tick=TICK)
        self.clock = FakeClock(start=self.h.now)
        self.config = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
        for k, v in CONFIG.items():
            assert self.config.set(k, v) in ("Accepted", "RebootRequired"), k
        self.grid = Grid(self.h)
        self.changed = True
        self.trace: list[str] = []
        self.em = EnergyManager(
            self.config, self.clock, {1: 3}, self.grid, lambda: {1: list(self.h.sock().meter.currents)},
            self._changed, self.trace.append, grid_driver="sim", relays=[1],
        )  # fmt: skip
        self.em.deciders[1].min_interval_s = MIN_INTERVAL_S
        self.next_poll = self.h.now
        self.rooms: deque[tuple[float, list[float]]] = deque()
        self.max_seen = [0.0, 0.0, 0.0]

    def _changed(self) -> None:
        self.changed = True

    def publish(self) -> None:
        offer = self.em.offers({1: 32.0}, {1})[1]
        self.h.limits(1, offer, phases=self.em.phases_for(1))

    def tick(self) -> None:
        self.h.tick()
        self.clock.jump(self.h.now - self.clock.monotonic())
        if self.h.now >= self.next_poll:
            self.next_poll = self.h.now + 1.0
            self.em.poll_once()
        if self.changed:
            self.changed = False
            self.publish()
        self.check()

    def check(self) -> None:
        """The station's draw per grid phase against every limit, this tick."""
        now, draw = self.h.now, self.h.sock().meter.currents
        room = [min(STATION_MAX_A, FUSE_A - self.grid.house[p]) for p in range(3)]
        self.rooms.append((now, room))
        while self.rooms and self.rooms[0][0] < now - REACTION_S:
            self.rooms.popleft()
        for p in range(3):
            assert draw[p] <= STATION_MAX_A, (now, draw)
            allowed = max(r[p] for _, r in self.rooms)
            assert draw[p] <= allowed + 1e-6, f"L{p + 1}: {draw[p]} A above the room {allowed} A at {now}"
        switch = self.h.loop.switches[1]
        if not switch.settled:
            for p in range(3):
                assert draw[p] <= self.max_seen[p] + 1e-6, f"L{p + 1} rose during a switch: {draw}"
        else:
            self.max_seen = list(draw)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / TICK)):
            self.tick()

    def until(self, pred: object, timeout: float, what: str) -> None:
        t0 = self.h.now
        while not pred():  # type: ignore[operator]
            assert self.h.now - t0 <= timeout, f"not within {timeout} s: {what}; {self.h.status()} {self.trace}"
            self.tick()


def test_load_balancing_switches_a_car_to_one_phase_and_back(tmp_path: Path) -> None:
    st = Station(tmp_path)
    h = st.h
    relay = h.sock().phase_relay
    assert relay is not None
    h.plug()
    st.until(lambda: min(h.sock().meter.currents) > 19.0, 30, "the car draws 20 A on three phases")
    assert relay.phases == 3

    st.grid.house = [5.0, 21.0, 5.0]  # a load on L2: 4 A left there, 20 A on L1
    st.until(lambda: relay.phases == 1, 30, "switched to one phase")
    t_down = h.now
    st.until(lambda: h.sock().meter.currents[0] > 19.0, 30, "the car draws 20 A on L1")
    assert h.sock().meter.currents[1:] == (0.0, 0.0)
    assert any("3 -> 1 phases" in line for line in st.trace)
    st.run(10.0)
    assert h.sock().meter.currents[0] > 19.0, "it keeps charging on one phase"

    st.grid.house = [5.0, 5.0, 5.0]  # the load is gone
    st.run(20.0)
    assert relay.phases == 1, "not back before the minimum time between switches"
    st.until(lambda: relay.phases == 3, MIN_INTERVAL_S, "back to three phases")
    assert h.now - t_down >= MIN_INTERVAL_S
    st.until(lambda: min(h.sock().meter.currents) > 19.0, 30, "the car draws on three phases again")
    assert h.faults() == []
    assert h.loop.switches[1].switches == 2
