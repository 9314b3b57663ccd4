"""Table tests of the composite-schedule maths (controller.energy.schedules): pure, no station."""

from __future__ import annotations

from typing import Any

import pytest

from controller.energy import schedules as sch
from controller.timefmt import parse_time

T0 = parse_time("2026-01-01T12:00:00Z")
assert T0 is not None


def prof(
    pid: int,
    purpose: str,
    level: int,
    periods: list[tuple[int, float]] | list[tuple[int, float, int]],
    *,
    connector: int = 1,
    kind: str = "Absolute",
    unit: str = "A",
    start: str | None = "2026-01-01T12:00:00Z",
    duration: int | None = None,
    recurrency: str | None = None,
    valid_from: str | None = None,
    valid_to: str | None = None,
    tx: int | None = None,
) -> sch.Profile:
    sched: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1], **({"numberPhases": p[2]} if len(p) > 2 else {})}  # type: ignore[misc]
            for p in periods
        ],
    }
    if start is not None:
        sched["startSchedule"] = start
    if duration is not None:
        sched["duration"] = duration
    d: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": sched,
    }
    if recurrency:
        d["recurrencyKind"] = recurrency
    if valid_from:
        d["validFrom"] = valid_from
    if valid_to:
        d["validTo"] = valid_to
    if tx is not None:
        d["transactionId"] = tx
    return sch.profile_from_ocpp(d, connector)


IDLE = sch.TxContext(1)
TX = sch.TxContext(1, tx_active=True, tx_id=7, tx_start=T0 - 600)


def amps(profiles: list[sch.Profile], offset: float, ctx: sch.TxContext = IDLE) -> float | None:
    got = sch.limit_at(profiles, T0 + offset, ctx, origin=T0)
    return None if got is None else round(got[0], 2)


DEFAULT_16 = prof(1, sch.TX_DEFAULT, 0, [(0, 16.0)], connector=0)
CASES: list[tuple[str, list[sch.Profile], float, sch.TxContext, float | None]] = [
    ("no profile", [], 0, IDLE, None),
    ("TxDefault on connector 0 applies to connector 1", [DEFAULT_16], 10, IDLE, 16.0),
    ("TxProfile ignored without a transaction", [DEFAULT_16, prof(2, sch.TX, 0, [(0, 8.0)])], 10, IDLE, 16.0),
    ("TxProfile overrides TxDefault, even a higher one", [DEFAULT_16, prof(2, sch.TX, 0, [(0, 20.0)])], 10, TX, 20.0),
    ("ChargePointMax caps TxProfile", [prof(3, sch.CP_MAX, 0, [(0, 10.0)], connector=0),
                                       prof(2, sch.TX, 0, [(0, 20.0)])], 10, TX, 10.0),
    ("highest stack level wins", [DEFAULT_16, prof(4, sch.TX_DEFAULT, 2, [(0, 6.0)], connector=0)], 10, IDLE, 6.0),
    ("periods: second period", [prof(5, sch.TX_DEFAULT, 0, [(0, 16.0), (300, 8.0)])], 301, IDLE, 8.0),
    ("periods: before the second", [prof(5, sch.TX_DEFAULT, 0, [(0, 16.0), (300, 8.0)])], 299, IDLE, 16.0),
    ("after the duration a lower level takes over",
     [DEFAULT_16, prof(6, sch.TX_DEFAULT, 3, [(0, 6.0)], duration=60)], 61, IDLE, 16.0),
    ("within the duration the higher level", [DEFAULT_16, prof(6, sch.TX_DEFAULT, 3, [(0, 6.0)], duration=60)],
     59, IDLE, 6.0),
    ("before startSchedule nothing", [prof(7, sch.TX_DEFAULT, 0, [(0, 6.0)], start="2026-01-01T13:00:00Z")],
     0, IDLE, None),
    ("validTo passed", [DEFAULT_16, prof(8, sch.TX_DEFAULT, 1, [(0, 6.0)], valid_to="2026-01-01T12:00:30Z")],
     31, IDLE, 16.0),
    ("validFrom not reached", [DEFAULT_16, prof(8, sch.TX_DEFAULT, 1, [(0, 6.0)], valid_from="2026-01-01T12:10:00Z")],
     0, IDLE, 16.0),
    ("W to A with 3 phases", [prof(9, sch.TX_DEFAULT, 0, [(0, 11040.0)], unit="W")], 0, IDLE, 16.0),
    # numberPhases 1 does not make a three-phase car draw on one phase (no phase-switch relay): 3 680 W is
    # 5.33 A on each of its three phases; a car seen on one phase (ctx.phases 1) gets 16 A
    ("W over the car's 3 phases, not numberPhases 1", [prof(9, sch.TX_DEFAULT, 0, [(0, 3680.0, 1)], unit="W")],
     0, IDLE, 5.33),
    ("W to A for a single-phase car", [prof(9, sch.TX_DEFAULT, 0, [(0, 3680.0, 1)], unit="W")], 0,
     sch.TxContext(1, phases=1), 16.0),
    ("W to A for a single-phase car, numberPhases 3", [prof(9, sch.TX_DEFAULT, 0, [(0, 3680.0, 3)], unit="W")], 0,
     sch.TxContext(1, phases=1), 16.0),
    ("Recurring daily: next day, second period",
     [prof(10, sch.TX_DEFAULT, 0, [(0, 10.0), (3600, 20.0)], kind="Recurring", recurrency="Daily",
           start="2025-12-31T12:00:00Z")], 3700, IDLE, 20.0),
    ("Recurring daily: back to the first period",
     [prof(10, sch.TX_DEFAULT, 0, [(0, 10.0), (3600, 20.0)], kind="Recurring", recurrency="Daily",
           start="2025-12-31T12:00:00Z")], 86400 + 10, IDLE, 10.0),
    ("Recurring weekly with a duration: outside",
     [DEFAULT_16, prof(11, sch.TX_DEFAULT, 1, [(0, 6.0)], kind="Recurring", recurrency="Weekly",
                       start="2025-12-25T12:00:00Z", duration=3600)], 7200, IDLE, 16.0),
    ("Relative: from the transaction start", [prof(12, sch.TX_DEFAULT, 0, [(0, 6.0), (900, 12.0)], kind="Relative",
                                              start=None)], 301, TX, 12.0),
    ("Relative without transaction: from the composite start",
     [prof(12, sch.TX_DEFAULT, 0, [(0, 6.0), (900, 12.0)], kind="Relative", start=None)], 301, IDLE, 6.0),
    ("TxProfile for another transaction id", [DEFAULT_16, prof(13, sch.TX, 0, [(0, 6.0)], tx=99)], 0, TX, 16.0),
    ("connector-specific TxDefault beats connector 0 on equal level",
     [DEFAULT_16, prof(14, sch.TX_DEFAULT, 0, [(0, 10.0)], connector=1)], 0, IDLE, 10.0),
    ("a TxDefault for connector 2 does not touch connector 1",
     [prof(15, sch.TX_DEFAULT, 0, [(0, 10.0)], connector=2)], 0, IDLE, None),
]


@pytest.mark.parametrize(("name", "profiles", "offset", "ctx", "expected"), CASES, ids=[c[0] for c in CASES])
def test_limit_at(name: str, profiles: list[sch.Profile], offset: float, ctx: sch.TxContext, expected: float | None) -> None:
    assert amps(profiles, offset, ctx) == expected


def test_composite_merges_and_converts() -> None:
    profiles = [
        prof(1, sch.TX_DEFAULT, 0, [(0, 16.0), (600, 10.0), (1200, 10.0), (1800, 20.0)], connector=0),
        prof(2, sch.CP_MAX, 0, [(0, 18.0)], connector=0),
    ]
    c = sch.composite(profiles, IDLE, T0, 3600, "A", cap=32.0)
    assert [(p.start, p.limit) for p in c.periods] == [(0, 16.0), (600, 10.0), (1800, 18.0)]
    w = sch.composite(profiles, IDLE, T0, 3600, "W", cap=32.0)
    assert [(p.start, p.limit) for p in w.periods] == [(0, 11040.0), (600, 6900.0), (1800, 12420.0)]
    wire = sch.composite_to_ocpp(c)
    assert wire["startSchedule"] == "2026-01-01T12:00:00Z" and wire["duration"] == 3600
    assert wire["chargingSchedulePeriod"][0] == {"startPeriod": 0, "limit": 16.0}


def test_composite_in_w_is_what_the_car_may_draw() -> None:
    # the limit a three-phase car gets from "3 680 W on 1 phase" reads back as 3 680 W, and as 5.3 A
    profiles = [prof(1, sch.TX_DEFAULT, 0, [(0, 3680.0, 1)], unit="W")]
    w = sch.composite(profiles, IDLE, T0, 600, "W", cap=32.0)
    assert [(p.start, p.limit, p.phases) for p in w.periods] == [(0, 3680.0, 1)]
    a = sch.composite(profiles, IDLE, T0, 600, "A", cap=32.0)
    assert [(p.start, p.limit) for p in a.periods] == [(0, 5.3)]


def test_power_phases_only_a_relay_could_make_fewer() -> None:
    assert sch.power_phases(1, 3) == 3  # no relay: the car's phases
    assert sch.power_phases(None, 1) == 1
    assert sch.power_phases(1, 3, relay=True) == 1  # a relay holds the car to one phase
    assert sch.power_phases(3, 1, relay=True) == 1  # never more than the car uses


def test_station_limit_in_w_over_the_station_phases() -> None:
    profiles = [prof(1, sch.CP_MAX, 0, [(0, 11040.0, 1)], unit="W", connector=0)]
    assert sch.station_limit(profiles, T0) == 16.0
    assert sch.station_limit(profiles, T0, phases=1) == 48.0  # a single-phase station (Phase-Connected L2)


def test_composite_without_profiles_is_the_cap() -> None:
    c = sch.composite([], IDLE, T0, 600, "A", cap=32.0)
    assert [(p.start, p.limit) for p in c.periods] == [(0, 32.0)]


def test_composite_stacking_falls_back_after_duration() -> None:
    profiles = [
        prof(1, sch.TX_DEFAULT, 0, [(0, 16.0)], connector=0),
        prof(2, sch.TX_DEFAULT, 1, [(0, 8.0)], connector=0, duration=300),
        prof(3, sch.TX_DEFAULT, 2, [(0, 6.0)], connector=0, duration=120),
    ]
    c = sch.composite(profiles, IDLE, T0, 600, "A")
    assert [(p.start, p.limit) for p in c.periods] == [(0, 6.0), (120, 8.0), (300, 16.0)]


def test_next_change() -> None:
    profiles = [prof(1, sch.TX_DEFAULT, 0, [(0, 16.0), (600, 10.0)], connector=0)]
    assert sch.next_change(profiles, T0 + 10, [IDLE]) == T0 + 600
    assert sch.next_change(profiles, T0 + 700, [IDLE]) is None


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (prof(1, sch.CP_MAX, 0, [(0, 10.0)], connector=1), "ChargePointMaxProfile only on connector 0"),
        (prof(1, sch.TX, 0, [(0, 10.0)], connector=0), "TxProfile needs a connector"),
        (prof(1, sch.TX_DEFAULT, 9, [(0, 10.0)]), "stackLevel 9 outside 0..5"),
        (prof(1, sch.TX_DEFAULT, 0, [(10, 10.0)]), "the first period must start at 0"),
        (prof(1, sch.TX_DEFAULT, 0, [(0, 10.0), (0, 8.0)]), "periods must start in increasing order"),
        (prof(1, sch.TX_DEFAULT, 0, [(i * 60, 10.0) for i in range(11)]), "11 periods, at most 10"),
        (prof(1, sch.TX_DEFAULT, 0, [(0, 1000.0)], unit="W"), "chargingRateUnit W not allowed"),
        (prof(1, sch.TX_DEFAULT, 0, [(0, 10.0)], kind="Recurring", start=None), "a Recurring profile needs"),
        (prof(1, sch.TX_DEFAULT, 0, [(0, 10.0)]), None),
    ],
)
def test_validate(profile: sch.Profile, reason: str | None) -> None:
    got = sch.validate(profile, max_stack_level=5, max_periods=10, allowed_units=["Current"])
    if reason is None:
        assert got is None
    else:
        assert got is not None and got.startswith(reason)


def test_parse_rejects_bad_unit() -> None:
    with pytest.raises(sch.ProfileError):
        prof(1, sch.TX_DEFAULT, 0, [(0, 10.0)], unit="kW")
