"""Who decides a relay socket's phase count (`controller.energy.phases.PhaseDecider`), as tables on fake time."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.manager import REACTION_S, EnergyManager
from controller.energy.phases import MIN_SWITCH_INTERVAL_S, PhaseDecider, PhaseWish
from controller.ocpp.smartcharging import SmartCharging
from tests.energy.test_manager import FakeGridMeter
from tests.station.test_parts import registry, sessions
from tests.station.test_services import PROFILE, Bus, NoJournal

T0 = 1000.0
ON = {"enabled": True, "max_allowed": 3}


def w(room_1: float, room_3: float, **kw: object) -> PhaseWish:
    return PhaseWish(**{**ON, "room_1": room_1, "room_3": room_3, **kw})  # type: ignore[arg-type]


# (name, start phases, wish, expected)
# fmt: off
SINGLE: list[tuple[str, int, PhaseWish, int]] = [
    ("plenty on three: stay on three", 3, w(16, 16), 3),
    ("below 6 A on three, 6 A on one: switch down", 3, w(6, 5.9), 1),
    ("below 6 A on three and on one: stay (nothing charges either way)", 3, w(5.9, 5.9), 3),
    ("on one, three phases get 6 A + the margin: switch up", 1, w(16, 7), 3),
    ("on one, three phases get 6.9 A: stay (hysteresis)", 1, w(16, 6.9), 1),
    ("switching disabled: three", 1, w(16, 2, enabled=False), 3),
    ("MaxAllowedPhases 1: one, even disabled", 3, w(16, 16, enabled=False, max_allowed=1), 1),
    ("a schedule's numberPhases 1: one", 3, w(16, 16, profile_phases=1), 1),
    ("a schedule's numberPhases 2 cannot be held: one (never more than allowed)", 3, w(16, 16, profile_phases=2), 1),
    ("a schedule's numberPhases 3: load balancing decides", 1, w(16, 16, profile_phases=3), 3),
    ("Modbus 1215 = 1: one", 3, w(16, 16, modbus_phases=1), 1),
    ("Modbus 1215 = 3: load balancing decides", 3, w(6, 5, modbus_phases=3), 1),
    ("numberPhases 1 without EnablePhaseSwitching: three", 3, w(16, 16, enabled=False, profile_phases=1), 3),
]
# fmt: on


@pytest.mark.parametrize(("name", "start", "wish", "expected"), SINGLE, ids=[s[0] for s in SINGLE])
def test_decision(name: str, start: int, wish: PhaseWish, expected: int) -> None:
    assert PhaseDecider(T0, start).decide(T0, wish) == expected


def test_minimum_time_between_load_balancing_switches() -> None:
    d = PhaseDecider(T0)
    assert d.decide(T0, w(8, 4)) == 1
    assert d.decide(T0 + 10, w(16, 16)) == 1, "room is back, but the last switch was 10 s ago"
    assert d.decide(T0 + MIN_SWITCH_INTERVAL_S - 0.1, w(16, 16)) == 1
    assert d.decide(T0 + MIN_SWITCH_INTERVAL_S, w(16, 16)) == 3
    assert d.decide(T0 + MIN_SWITCH_INTERVAL_S + 1, w(8, 4)) == 3, "down again waits its interval too"
    assert d.decide(T0 + 2 * MIN_SWITCH_INTERVAL_S, w(8, 4)) == 1


def test_a_limit_that_needs_one_phase_never_waits_for_the_interval() -> None:
    d = PhaseDecider(T0)
    assert d.decide(T0, w(8, 4)) == 1
    assert d.decide(T0 + MIN_SWITCH_INTERVAL_S, w(16, 16)) == 3
    assert d.decide(T0 + MIN_SWITCH_INTERVAL_S + 1, w(16, 16, max_allowed=1)) == 1
    assert d.decide(T0 + MIN_SWITCH_INTERVAL_S + 2, w(16, 16, modbus_phases=1)) == 1


def test_modbus_asking_for_three_acts_at_once_where_three_phases_can_charge() -> None:
    d = PhaseDecider(T0)
    assert d.decide(T0, w(16, 16, modbus_phases=1)) == 1
    assert d.decide(T0 + 1, w(16, 16)) == 1, "load balancing waits its interval"
    assert d.decide(T0 + 2, w(16, 5, modbus_phases=3)) == 1, "not where three phases get less than 6 A"
    assert d.decide(T0 + 3, w(16, 6, modbus_phases=3)) == 3


def test_flapping_room_switches_at_most_once_per_interval() -> None:
    d = PhaseDecider(T0)
    switches, last = 0, d.phases
    for i in range(3600):  # an hour of a room that swings around 6 A every second
        room_3 = 5.0 if i % 2 else 7.5
        now = d.decide(T0 + i, w(16, room_3))
        switches += now != last
        last = now
    assert switches <= 3600 / MIN_SWITCH_INTERVAL_S + 1


# -- in the EnergyManager --------------------------------------------------------------------------------------
P1 = {"Active-LoadBalancing": "On", "ALB-ProtocolSelection": "DSMR P1", "SmartMeter-MaxCurrent": "25",
      "EnablePhaseSwitching": "true"}  # fmt: skip


def relay_manager(
    tmp_path: Path, config: dict[str, str] | None = None, sockets: int = 1
) -> tuple[EnergyManager, FakeClock, FakeGridMeter]:
    """An EnergyManager whose sockets (1..`sockets`) all have a phase relay."""
    clock = FakeClock()
    reg = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    for k, v in {**P1, **(config or {})}.items():
        assert reg.set(k, v) in ("Accepted", "RebootRequired"), k
    ids = range(1, sockets + 1)
    currents: dict[int, list[float] | None] = {cid: [0.0, 0.0, 0.0] for cid in ids}
    meter = FakeGridMeter(currents)
    em = EnergyManager(reg, clock, dict.fromkeys(ids, 3), meter, lambda: currents, grid_driver="sim", relays=ids)
    return em, clock, meter


def test_the_manager_publishes_the_phases_and_counts_the_old_ones_while_the_car_follows(tmp_path: Path) -> None:
    """After a switch to one phase the car may still draw on L2/L3 for its reaction time: until then its
    offer is what three phases allow (8 A with 8 A left on L2), then what L1 alone allows (20 A)."""
    em, clock, meter = relay_manager(tmp_path)
    meter.house = [5.0, 17.0, 5.0]
    offers: list[tuple[int, float]] = []
    for i in range(30):
        clock.jump(1)
        em.poll_once()
        if i == 20:
            em.write_phases(1, 1)
        offers.append((em.offers({1: 32.0}, {1})[1], em.phases_for(1)))
    assert offers[19] == (8.0, 3)
    react = int(REACTION_S)
    assert offers[20 : 20 + react] == [(8.0, 1)] * react
    assert offers[20 + react :] == [(20.0, 1)] * (10 - react)
    assert em.status()["phase_switching"] == {"enabled": True, "relays": [1], "phases": {1: 1}}


def test_the_manager_follows_modbus_and_the_profile(tmp_path: Path) -> None:
    em, clock, _ = relay_manager(tmp_path)
    em.offers({1: 32.0}, {1})
    assert em.phases_for(1) == 3 and em.charging_phases(1) == 3
    em.write_phases(1, 1)
    em.offers({1: 32.0}, {1})
    assert em.phases_for(1) == 1 and em.charging_phases(1) == 1, "a limit in W is spread over one phase"
    em.write_phases(1, 3)
    em.offers({1: 32.0}, {1})
    assert em.phases_for(1) == 3
    em.profile_phases = lambda cid: 1
    em.offers({1: 32.0}, {1})
    assert em.phases_for(1) == 1


def test_a_socket_without_a_relay_publishes_any(tmp_path: Path) -> None:
    em, _, _ = relay_manager(tmp_path)
    assert em.phases_for(2) == 0


def test_smart_charging_tells_the_number_phases_in_force(tmp_path: Path) -> None:
    smart = SmartCharging(tmp_path, registry(tmp_path), FakeClock(), {1: 3}, sessions(1), NoJournal(),
                          lambda cid: 32.0, Bus(), lambda line: None)  # fmt: skip
    assert smart.number_phases(1) is None
    one = {**PROFILE, "chargingSchedule": {**PROFILE["chargingSchedule"],  # type: ignore[dict-item]
           "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1}]}}  # fmt: skip
    assert smart.set_profile(1, one) == "Accepted"
    assert smart.number_phases(1) == 1


def test_an_idle_socket_goes_back_to_three_phases_for_the_next_car(tmp_path: Path) -> None:
    em, clock, meter = relay_manager(tmp_path)
    meter.house = [5.0, 21.0, 5.0]
    clock.jump(1)
    em.poll_once()
    em.offers({1: 32.0}, {1})
    assert em.phases_for(1) == 1
    meter.house = [5.0, 5.0, 5.0]
    for _ in range(int(MIN_SWITCH_INTERVAL_S) + 2):  # the car left; the next one may come any time
        clock.jump(1)
        em.poll_once()
        em.offers({1: 32.0}, set())
    assert em.phases_for(1) == 3


def test_two_relay_sockets_are_each_decided_on_their_share(tmp_path: Path) -> None:
    """Two cars under a fuse with 20 A left on L1 and 10 A on L2: on three phases they would share L2's 10 A,
    which the first keeps (the lower id wins a tie: 10 + 0, not 5 + 5); the second would get nothing on three
    but 10 A on L1 alone, so it goes to one phase and both charge."""
    em, clock, meter = relay_manager(tmp_path, sockets=2)
    meter.house = [5.0, 15.0, 5.0]
    offers: dict[int, float] = {}
    for _ in range(30):
        clock.jump(1)
        em.poll_once()
        offers = em.offers({1: 32.0, 2: 32.0}, {1, 2})
    assert (em.phases_for(1), em.phases_for(2)) == (3, 1)
    assert offers == {1: 10.0, 2: 10.0}


def test_a_switch_of_one_socket_leaves_the_next_ones_decision_intact(tmp_path: Path) -> None:
    em, clock, _ = relay_manager(tmp_path, sockets=2)
    em.write_phases(1, 1)
    clock.jump(1)
    em.poll_once()
    em.offers({1: 32.0, 2: 32.0}, {1, 2})
    assert (em.phases_for(1), em.phases_for(2)) == (1, 3)
