"""The per-socket limits as tables with the clock at each edge: PWM pacing, the car's 5 s reaction window
and the 105 % rule, ContactorProtect counting, the Chameleon minimum, the station share."""

from __future__ import annotations

import math

import pytest

from controller.evse.limits import (
    ChameleonDetector,
    OfferHistory,
    SwitchCounter,
    chameleon_floor,
    overcurrent,
)
from controller.evse.pwm import PwmGovernor
from controller.evse.share import fair_fill, station_caps

T0 = 100.0


# -- PWM pacing -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "second", "after", "expect"),
    [
        (26.67, 53.33, 4.99, 26.67),  # a raise within 5 s of the last change waits
        (26.67, 53.33, 5.0, 53.33),  # ... and happens at 5 s
        (53.33, 26.67, 0.01, 26.67),  # lowering: at once
        (53.33, None, 0.01, None),  # stop/pause: at once
        (None, 26.67, 4.99, None),  # switching on again within 5 s of switching off waits
        (None, 26.67, 5.0, 26.67),
    ],
)
def test_pwm_pacing(first: float | None, second: float | None, after: float, expect: float | None) -> None:
    g = PwmGovernor(5.0)
    g.step(T0 - 10, 20.0)  # some earlier duty
    assert g.step(T0, first) == first
    assert g.step(T0 + after, second) == expect


def test_pwm_first_offer_and_after_reset_is_immediate() -> None:
    g = PwmGovernor(5.0)
    assert g.step(T0, 26.67) == 26.67
    assert g.step(T0 + 1, None) is None
    g.reset()  # a new car
    assert g.step(T0 + 1.01, 26.67) == 26.67


def test_pwm_held_raise_then_lower_in_between() -> None:
    g = PwmGovernor(5.0)
    g.step(T0, 26.67)
    assert g.step(T0 + 1, 53.33) == 26.67
    assert g.step(T0 + 2, 16.67) == 16.67  # lowering while a raise waits
    assert g.step(T0 + 6.99, 53.33) == 16.67  # 5 s from the lowering
    assert g.step(T0 + 7.0, 53.33) == 53.33


# -- the reaction window and 105 % ----------------------------------------------------------------------------
def test_offer_history_reference_edges() -> None:
    h = OfferHistory(5.0)
    h.update(T0, 32.0)
    h.update(T0 + 10, 16.0)  # lowered at T0+10
    assert h.reference(T0 + 10) == 32.0
    assert h.reference(T0 + 14.99) == 32.0  # just before the car's 5 s are over
    assert h.reference(T0 + 15.0) == 16.0  # at 5 s the lower offer counts
    h.update(T0 + 20, 20.0)  # a raise counts at once
    assert h.reference(T0 + 20) == 20.0
    h.update(T0 + 21, 0.0)  # PWM off
    assert h.reference(T0 + 25.99) == 20.0
    assert h.reference(T0 + 26.0) == 0.0


@pytest.mark.parametrize(
    ("currents", "reference", "trips"),
    [
        ((16.64, 0, 0), 16.0, False),  # 104 %
        ((16.8, 16.8, 16.8), 16.0, False),  # exactly 105 % is allowed
        ((16.0, 16.96, 3.0), 16.0, True),  # 106 % on one phase
        ((33.92, 0, 0), 32.0, True),  # 106 %
        ((33.28, 33.28, 33.28), 32.0, False),  # 104 %
        ((5.0, 5.0, 5.0), 0.0, False),  # no reference: PWM off for 5 s, the 6 s force-open covers it
    ],
)
def test_overcurrent_105_percent(currents: tuple[float, float, float], reference: float, trips: bool) -> None:
    assert overcurrent(currents, reference) is trips


# -- ContactorProtect ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("switches", "span", "window", "exceeded"),
    [
        (10, 50.0, 60, False),  # 10 within the window: accepted
        (11, 50.0, 60, True),  # 11: error
        (11, 59.99, 60, True),  # 11 just within the window
        (11, 60.0, 60, False),  # the first one has just left the window
        (11, 1.0, 0, False),  # ContactorProtect 0: the check is off
        (30, 5.0, 0, False),
        (11, 0.5, 1, True),
    ],
)
def test_contactor_protect_window(switches: int, span: float, window: int, exceeded: bool) -> None:
    c = SwitchCounter(10)
    times = [T0 + span * i / (switches - 1) for i in range(switches)]
    result = False
    for t in times:
        c.record(t)
        result = c.exceeded(t, window)
    assert result is exceeded


# -- Chameleon ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("offer", "minimum", "active", "out"),
    [(10.0, 14.0, True, 0.0), (14.0, 14.0, True, 14.0), (16.0, 14.0, True, 16.0), (10.0, 14.0, False, 10.0)],
)
def test_chameleon_floor(offer: float, minimum: float, active: bool, out: float) -> None:
    assert chameleon_floor(offer, minimum, active) == out


def test_chameleon_detection_edges() -> None:
    d = ChameleonDetector(detect_s=10.0)
    idle = (0.0, 0.0, 0.0)
    assert not d.step(T0, True, True, 10.0, 14.0, idle)
    assert not d.step(T0 + 9.99, True, True, 10.0, 14.0, idle)
    assert d.step(T0 + 10.0, True, True, 10.0, 14.0, idle)
    d.reset()
    assert not d.step(T0, True, True, 10.0, 14.0, idle)
    assert not d.step(T0 + 5, True, True, 10.0, 14.0, (10.0, 10.0, 10.0))  # it draws: not a Chameleon
    assert not d.step(T0 + 12, True, True, 10.0, 14.0, idle)
    assert not d.step(T0 + 13, True, True, 16.0, 14.0, idle)  # offered enough: nothing to learn


# -- station share --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "demands", "fill"),
    [
        (32.0, {1: 32.0, 2: 0.0}, {1: 32.0, 2: 0.0}),
        (32.0, {1: 32.0, 2: 32.0}, {1: 16.0, 2: 16.0}),
        (32.0, {1: 10.0, 2: 32.0}, {1: 10.0, 2: 22.0}),
        (10.0, {1: 16.0, 2: 16.0}, {1: 10.0, 2: 0.0}),  # 5 + 5 cannot charge: one gets it all
        (5.0, {1: 16.0}, {1: 0.0}),
        (40.0, {1: 16.0, 2: 16.0}, {1: 16.0, 2: 16.0}),
    ],
)
def test_fair_fill(total: float, demands: dict[int, float], fill: dict[int, float]) -> None:
    assert fair_fill(total, demands) == fill


def test_station_caps_leave_room_for_a_car_still_following() -> None:
    # connector 1 charges at 32 A; connector 2 starts: 1 is lowered at once, 2 waits for 1's car
    caps = station_caps(32.0, {1: 32.0, 2: 32.0}, {1: 32.0, 2: 0.0})
    assert caps == {1: 16.0, 2: 0.0}
    caps = station_caps(32.0, {1: 32.0, 2: 32.0}, {1: 16.0, 2: 0.0})  # 5 s later
    assert caps == {1: 16.0, 2: 16.0}
    assert station_caps(None, {1: 32.0, 2: 20.0}, {}) == {1: 32.0, 2: 20.0}
    caps = station_caps(20.0, {1: 16.0, 2: 16.0, 3: 16.0}, {})
    assert sum(caps.values()) <= 20.0 and all(c == 0 or c >= 6 for c in caps.values())
    assert not any(math.isnan(c) for c in caps.values())


def test_offer_history_matches_brute_force_and_stays_bounded() -> None:
    import random

    rng = random.Random(3)
    h = OfferHistory(5.0)
    changes: list[tuple[float, float]] = [(-1e9, 0.0)]
    t = 0.0
    for _ in range(5000):
        t += rng.choice([0.001, 0.01, 0.5, 2.0])
        offer = rng.choice([0.0, 6.0, 10.0, 16.0, 32.0])
        h.update(t, offer)
        if offer != changes[-1][1]:
            changes.append((t, offer))
        # brute force: every offer whose segment ends after the horizon, plus the current one
        expect = max(o for i, (_, o) in enumerate(changes) if i + 1 == len(changes) or changes[i + 1][0] > t - 5.0)
        assert h.reference(t) == expect
        assert h.kept <= 5  # strictly decreasing among 5 possible offers
