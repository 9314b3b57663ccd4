"""The end-to-end energy property: random installations, house loads, cars, profiles, Modbus setpoints and
suspends, and every limit holds on the cars' real currents at every tick (see `energy_sim.Checker`).

`make test` runs a CI-sized profile with a fixed seed (the same 80 scenarios of 180 simulated seconds every
time); `make fuzz-energy` a long random one (ENERGY_FUZZ_EXAMPLES examples of ENERGY_FUZZ_SECONDS simulated
seconds each, 400 x 600 s by default); a failure is shrunk and kept in hypothesis' example database
(.hypothesis/), so the next run replays it first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from controller.energy import schedules as sch
from tests.energy.energy_sim import CarSpec, ProfileSpec, Scenario, simulate

FUZZ = int(os.environ.get("ENERGY_FUZZ_EXAMPLES", "0"))
DURATION_S = float(os.environ.get("ENERGY_FUZZ_SECONDS", "600" if FUZZ else "180"))

settings.register_profile(
    "energy-ci", max_examples=80, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
T = TypeVar("T", bound=Callable[..., Any])
CI_SEED = 16  # the number; any fixed seed keeps `make test` deterministic
settings.register_profile(
    "energy-fuzz", max_examples=max(FUZZ, 1), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("energy-fuzz" if FUZZ else "energy-ci")


def _t(draw: st.DrawFn, lo: float, hi: float) -> float:
    """A time on the 0.1 s grid."""
    return round(draw(st.floats(lo, hi)), 1)


def _windows(draw: st.DrawFn, n_max: int, duration: float, lo: float, hi: float) -> tuple[tuple[float, float], ...]:
    out = []
    for _ in range(draw(st.integers(0, n_max))):
        a = _t(draw, 0, duration)
        out.append((a, a + _t(draw, lo, hi)))
    return tuple(sorted(out))


@st.composite
def scenarios(draw: st.DrawFn, duration: float = DURATION_S) -> Scenario:
    sockets = draw(st.integers(1, 2))
    suspends = _windows(draw, 2, duration, 5, 40) if draw(st.booleans()) else ()
    cars: list[CarSpec] = []
    for cid in range(1, sockets + 1):
        t = _t(draw, 0, duration / 3)
        for _ in range(draw(st.integers(1, 2))):
            if t >= duration - 10:
                break
            leave = min(duration, t + _t(draw, 30, duration))
            idle = _windows(draw, 1, duration, 5, 40)
            cars.append(CarSpec(
                cid, t, leave, draw(st.sampled_from([1, 1, 2, 3, 3, 3])), float(draw(st.integers(6, 32))),
                _t(draw, 0.5, 5.0), idle,
            ))
            t = leave + _t(draw, 1, 30)
    profiles: list[ProfileSpec] = []
    for _ in range(draw(st.integers(0, 2))):
        purpose = draw(st.sampled_from([sch.CP_MAX, sch.TX_DEFAULT]))
        connector = 0 if purpose == sch.CP_MAX else draw(st.integers(0, sockets))
        unit = draw(st.sampled_from(["A", "W"]))
        starts = sorted({0, *(int(draw(st.floats(1, duration))) for _ in range(draw(st.integers(0, 2))))})
        limits = [
            float(draw(st.integers(0, 32))) if unit == "A" else float(draw(st.integers(1000, 22000)))
            for _ in starts
        ]
        profiles.append(ProfileSpec(purpose, connector, unit, draw(st.sampled_from([None, 1, 3])),
                                    tuple(zip(starts, limits, strict=True))))
    modbus = draw(st.sampled_from([None, None, "Socket", "SCN"]))
    writes: list[tuple[float, int, float]] = []
    if modbus is not None:
        for _ in range(draw(st.integers(0, 8))):
            target = draw(st.integers(1, sockets)) if modbus == "Socket" else draw(st.integers(0, 2))
            writes.append((_t(draw, 0, duration), target, float(draw(st.sampled_from([0, 6, 8, 10, 13, 16, 25, 32])))))
    steps = tuple(
        (_t(draw, 0, duration), draw(st.integers(0, 2)), float(draw(st.integers(-10, 15))))
        for _ in range(draw(st.integers(0, 5)))
    )
    pulses = tuple(
        (a, b, _t(draw, 4, 20), draw(st.integers(0, 2)), float(draw(st.integers(3, 10))))
        for a, b in _windows(draw, 2, duration, 20, 120)
    )
    return Scenario(
        duration_s=duration,
        meter_interval_s=draw(st.sampled_from([1.0, 10.0])),
        meter_offset_s=_t(draw, 0.1, 9.9),
        includes_charger=draw(st.sampled_from([True, True, True, False])),
        phase_connected=draw(st.sampled_from(["L1L2L3", "L1L2L3", "L3L2L1", "L2L3L1", "L2", "L1L3"])),
        fuse_a=float(draw(st.integers(16, 40))),
        station_max_a=float(draw(st.integers(10, 40))),
        safe_a=float(draw(st.sampled_from([0, 6, 6, 8, 10]))),
        max_imbalance_a=float(draw(st.sampled_from([0, 0, 6, 10, 16, 20]))),
        static_lb=draw(st.booleans()),
        house_base=(float(draw(st.integers(0, 15))), float(draw(st.integers(0, 15))), float(draw(st.integers(0, 15)))),
        house_steps=steps,
        house_pulses=pulses,
        cars=tuple(cars),
        profiles=tuple(profiles),
        modbus_mode=modbus,
        modbus_validity_s=draw(st.integers(10, 60)),
        modbus_writes=tuple(sorted(writes)),
        suspends=suspends,
        meter_offline=_windows(draw, 1, duration, 5, 40),
        sockets=sockets,
        board_phases=draw(st.sampled_from([3, 3, 3, 1])),
    )


def _ci_seed(test: T) -> T:
    return test if FUZZ else seed(CI_SEED)(test)


@_ci_seed
@PROFILE
@given(scenarios())
def test_every_limit_holds_on_the_real_currents_at_every_tick(sc: Scenario) -> None:
    report = simulate(sc)
    assert report.violations == [], (sc, report.violations)
