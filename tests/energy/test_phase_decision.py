"""Who decides a relay socket's phase count (`controller.energy.phases.PhaseDecider`), as tables on fake time."""

from __future__ import annotations

import pytest

from controller.energy.phases import MIN_SWITCH_INTERVAL_S, PhaseDecider, PhaseWish

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
