"""Table tests of load balancing's pure parts: the meter the keys select, the house load and its validity,
the hysteresis of the offer, demand sharing, Modbus setpoints and the external suspend signal."""

from __future__ import annotations

import pytest

from controller.energy.balance import DemandTracker, Hysteresis, OfferSmoother
from controller.energy.meter import Arrival, GridWatch, MeterSource, board_serves, select_source
from controller.energy.setpoints import Setpoints
from controller.energy.settings import SUSPEND_P1, SUSPEND_WHEN_CLOSED, SUSPEND_WHEN_OPENED, EnergySettings
from controller.energy.suspend import external_suspend

ON = {"active_lb": True}


@pytest.mark.parametrize(
    ("settings", "kind", "problem"),
    [
        ({}, None, None),  # Active-LoadBalancing Off: no meter, nothing missing
        ({**ON, "protocol": "DSMR P1"}, "DSMR P1", None),
        ({**ON, "protocol": "DSMR P1", "suspend_mode": SUSPEND_WHEN_CLOSED}, None, "RJ11 port"),
        ({**ON, "protocol": "Modbus TCP/IP"}, None, "IsEnabled"),
        ({**ON, "protocol": "Modbus TCP/IP", "smart_enabled": True}, "Modbus TCP/IP", None),
        ({**ON, "protocol": "Modbus TCP/IP", "central_enabled": True}, "Modbus TCP/IP", None),
        ({**ON, "protocol": "Modbus TCP/IP", "smart_enabled": True, "smart_model": "None"}, None, "Model is None"),
        ({**ON, "protocol": "None"}, None, "ALB-ProtocolSelection is None"),
    ],
)
def test_meter_source_from_keys(settings: dict[str, object], kind: str | None, problem: str | None) -> None:
    src = select_source(EnergySettings(**settings))  # type: ignore[arg-type]
    assert src.kind == kind
    if problem is None:
        assert src.problem is None
    else:
        assert src.problem is not None and problem in src.problem


def test_smart_meter_wins_over_central() -> None:
    s = EnergySettings(active_lb=True, protocol="Modbus TCP/IP", smart_enabled=True, smart_ip="192.168.000.005",
                       smart_unit=7, central_enabled=True, central_ip="192.168.000.004")
    assert select_source(s) == MeterSource("Modbus TCP/IP", host="192.168.000.005", unit=7, model="Socomec")


@pytest.mark.parametrize(
    ("kind", "driver", "params", "usable", "note"),
    [
        ("DSMR P1", "sim", {}, True, None),
        ("Modbus TCP/IP", "sim", {}, True, None),
        ("DSMR P1", "p1", {}, True, None),
        ("Modbus TCP/IP", "p1", {}, False, "board's grid meter is 'p1'"),
        ("DSMR P1", "sdm_tcp", {}, False, "board's grid meter"),
        ("Modbus TCP/IP", "sdm_tcp", {"host": "192.168.0.5", "unit": 5}, True, None),
        ("Modbus TCP/IP", "sdm_tcp", {"host": "10.0.0.9", "unit": 5}, True, "10.0.0.9"),
        ("DSMR P1", "none", {}, False, "board's grid meter"),
        ("DSMR P1", None, {}, False, "no grid meter"),
    ],
)
def test_board_meter_matches_the_selected_kind(
    kind: str, driver: str | None, params: dict[str, object], usable: bool, note: str | None
) -> None:
    src = MeterSource(kind, host="192.168.000.005", unit=5)
    ok, text = board_serves(src, driver, params)
    assert ok is usable
    assert (text is None) if note is None else (text is not None and note in text)


@pytest.mark.parametrize(
    ("includes", "measured", "own", "room"),
    [
        (True, (20, 10, 5), (16, 0, 0), (21, 15, 20)),  # the meter sees the car: house = 4 / 10 / 5
        (False, (20, 10, 5), (16, 0, 0), (5, 15, 20)),  # it does not: the reading is the house
        (True, (-8, 2, 2), (0, 0, 0), (33, 23, 23)),  # export (signed currents) leaves more room
    ],
)
def test_grid_watch_room(includes: bool, measured: tuple[float, ...], own: tuple[float, ...], room: tuple[float, ...]) -> None:
    w = GridWatch(validity_s=10)
    w.note_own(0.0, own)
    assert w.update(0.0, measured, includes)
    assert w.room(0.0, 25.0) == pytest.approx(room)


def test_grid_watch_rises_at_once_and_falls_after_the_release_window() -> None:
    w = GridWatch(validity_s=10, release_s=3)
    w.update(0.0, (5, 5, 5), True)
    w.update(1.0, (15, 5, 5), True)
    assert w.house(1.0) == (15, 5, 5)  # a rise counts at once
    w.update(2.0, (5, 5, 5), True)
    assert w.house(2.0) == (15, 5, 5)  # a fall only after 3 s
    w.update(3.0, (5, 5, 5), True)
    w.update(4.5, (5, 5, 5), True)
    assert w.house(4.5) == (5, 5, 5)


def test_grid_watch_lost_before_the_first_reading_and_after_the_validity_time() -> None:
    w = GridWatch(validity_s=10)
    assert w.lost(0.0) and w.room(0.0, 25) is None
    w.update(1.0, (1, 1, 1), True)
    for t, reading in ((2.0, None), (5.0, (1.0, float("nan"), 1.0)), (8.0, (1.0, 2.0))):
        assert not w.update(t, reading, True)  # offline, NaN, broken: not valid
    assert not w.lost(11.0) and w.room(11.0, 25) == (24, 24, 24)  # the last valid reading still counts
    assert w.lost(11.01) and w.room(11.01, 25) is None
    assert w.errors == 3


def test_grid_watch_subtracts_the_station_current_of_when_the_reading_was_measured() -> None:
    w = GridWatch(validity_s=15, skew_s=2.5)
    w.note_own(0.0, (0, 0, 0))
    w.update(1.0, (5, 5, 5), True, Arrival(0.0, 1.0))  # a telegram: house 5 A, the car not charging yet
    assert w.house(1.0) is None  # not usable before the socket samples of its time are in
    assert w.house(3.5) == (5, 5, 5) and not w.uncertain
    w.note_own(4.0, (20, 20, 20))  # the car starts after the telegram
    assert w.house(9.0) == (5, 5, 5)  # 5 A, not 5 - 20 = -15 A: the telegram is never re-measured


def test_grid_watch_cannot_tell_a_car_step_from_the_house_and_says_so() -> None:
    w = GridWatch(validity_s=15, skew_s=2.5)
    w.note_own(0.0, (0, 0, 0))
    w.update(1.0, (5, 5, 5), True, Arrival(0.0, 1.0))
    w.note_own(1.5, (20, 20, 20))  # the car's 20 A show in the samples half a second after the reading
    w.update(2.0, (25, 25, 25), True, Arrival(1.0, 2.0))  # taken before or after the car's step?
    w.note_own(2.5, (20, 20, 20))
    assert w.house(4.5) == (5, 5, 5) and w.uncertain  # the certain part: no rise at all
    w.update(5.0, (31, 25, 25), True, Arrival(4.0, 5.0))  # the station's current held still: 11 A on L1
    assert w.house(7.5) == (11, 5, 5) and not w.uncertain


H = Hysteresis(step_a=1.0, resume_margin_a=1.0, resume_delay_s=5.0, min_pause_s=15.0)


def run(sm: OfferSmoother, steps: list[tuple[float, float, float]]) -> list[float]:
    return [sm.step(t, target, unconstrained) for t, target, unconstrained in steps]


def test_smoother_lowers_at_once_and_raises_only_by_a_step_while_the_meter_limits() -> None:
    sm = OfferSmoother(H)
    out = run(sm, [(0, 16, 32), (1, 12, 32), (2, 12.6, 32), (3, 12.9, 32), (4, 13.2, 32), (5, 11.5, 32), (6, 32, 32)])
    assert out == [16, 12, 12, 12, 13.2, 11.5, 32]


def test_smoother_follows_limits_that_are_not_the_meter_at_once() -> None:
    sm = OfferSmoother(H)
    assert run(sm, [(0, 10, 10), (1, 10.4, 10.4), (2, 6, 6), (3, 16, 16)]) == [10, 10.4, 6, 16]


def test_smoother_pauses_below_6_and_resumes_with_margin_delay_and_minimum_pause() -> None:
    sm = OfferSmoother(H)
    out = run(sm, [(0, 10, 32), (1, 5, 32)])
    assert out == [10, 0]
    assert sm.paused_by_meter
    # 6.5 A is not enough (6 + 1 A margin), 7 A must hold 5 s, and the pause must have lasted 15 s
    out = run(sm, [(2, 6.5, 32), (3, 7, 32), (7, 7, 32), (8, 7.2, 32), (12, 8, 32), (15.9, 8, 32), (16, 8, 32)])
    assert out == [0, 0, 0, 0, 0, 0, 8]
    assert not sm.paused_by_meter


def test_smoother_resume_timer_restarts_when_the_room_drops_again() -> None:
    sm = OfferSmoother(H)
    run(sm, [(0, 10, 32), (1, 0, 32), (16, 8, 32), (19, 6.5, 32), (20, 8, 32), (24, 8, 32)])
    assert sm.offer == 0
    assert sm.step(25, 8, 32) == 8


def test_a_pause_that_is_not_the_meters_ends_at_once() -> None:
    sm = OfferSmoother(H)
    assert run(sm, [(0, 16, 16), (1, 0, 0), (2, 6, 6)]) == [16, 0, 6]  # Modbus 0 then 6: resumes at once
    sm.reset()
    assert sm.step(3, 10, 32) == 10  # a fresh session under the meter's limit starts at once


def test_demand_tracker_releases_what_a_car_does_not_take() -> None:
    d = DemandTracker(margin_a=2.0, use_margin_a=1.0, release_after_s=10.0)
    assert d.step(0, 32, 16, 15.5) == 32  # takes its offer
    assert d.step(1, 32, 16, 8.0) == 32  # takes less: not yet
    assert d.step(10.9, 32, 16, 8.0) == 32
    assert d.step(11, 32, 16, 8.0) == 10.0  # for 10 s: ask for 8 + 2 A
    assert d.step(12, 32, 10, 8.5) == 10.0  # holds while it takes 8..9 A
    assert d.step(13, 32, 10, 9.5) == 32  # takes (nearly) all: full cap again
    assert d.step(14, 32, 16, None) == 32  # not charging: no limit


def test_setpoints_validity_and_modes() -> None:
    sp = Setpoints((1, 2))
    assert sp.socket_limit(1, 0.0, "Socket", 60, 6.0) == 6.0  # never written: the safe current
    sp.write_socket(1, 10.5, 100.0)
    assert sp.socket_limit(1, 159.9, "Socket", 60, 6.0) == 10.5
    assert sp.sockets[1].remaining(130.0, 60) == 30.0
    assert sp.socket_limit(1, 160.0, "Socket", 60, 6.0) == 6.0  # expired
    assert sp.socket_limit(1, 120.0, "Off", 60, 6.0) is None
    assert sp.socket_limit(1, 120.0, "SCN", 60, 6.0) is None
    sp.write_phase(2, 20.0, 100.0)
    assert sp.phase_limits(120.0, "SCN", 60, 6.0) == [6.0, 6.0, 20.0]
    assert sp.phase_limits(120.0, "Socket", 60, 6.0) == [None, None, None]
    assert sp.next_expiry(120.0, 60) == 160.0
    assert not Setpoints.acceptable(float("nan")) and not Setpoints.acceptable(-1) and Setpoints.acceptable(0)


@pytest.mark.parametrize(
    ("mode", "closed", "suspended"),
    [
        (SUSPEND_P1, True, False),
        (SUSPEND_P1, False, False),
        (SUSPEND_WHEN_CLOSED, True, True),
        (SUSPEND_WHEN_CLOSED, False, False),
        (SUSPEND_WHEN_OPENED, True, False),
        (SUSPEND_WHEN_OPENED, False, True),
        (SUSPEND_WHEN_OPENED, None, False),  # not reported (yet): unknown, nothing suspended
    ],
)
def test_external_suspend(mode: str, closed: bool | None, suspended: bool) -> None:
    assert external_suspend(mode, closed) is suspended


def test_settings_take_defaults_and_ranges_from_the_key_table() -> None:
    from controller.config.keys import KEYS
    from controller.energy.settings import FIELDS

    specs = {k.name: k for k in KEYS}
    assert all(key in specs for key, _ in FIELDS.values())
    d = EnergySettings()
    assert (d.fuse_a, d.safe_a, d.station_max_a) == tuple(
        float(specs[k].default) for k in ("SmartMeter-MaxCurrent", "Safe-MaxCurrent", "Station-MaxCurrent")
    )
    assert d.mbs_validity_s == int(specs["MbsSlaveTCPIPValidityTime"].default) and d.connected == (0, 1, 2)

    class Corrupt:
        """A store holding what the registry would never accept (only a corrupt file can)."""

        values = {"Safe-MaxCurrent": "-3", "MaxImbalanceCurrent": "abc", "MbsSlaveTCPIPValidityTime": "0",
                  "MaxAllowedPhases": "2", "Active-LoadBalancing": "maybe", "SmartMeter-MaxCurrent": "40.5",
                  "MbsSlaveTCPIPMode": "scn"}

        def get(self, name: str) -> str:
            return self.values[name]  # KeyError for the rest: an unknown key

    s = EnergySettings.read(Corrupt())
    assert (s.safe_a, s.max_imbalance_a, s.mbs_validity_s, s.max_allowed_phases, s.active_lb) == (
        d.safe_a, d.max_imbalance_a, d.mbs_validity_s, d.max_allowed_phases, d.active_lb)
    assert s.fuse_a == 40.5 and s.mbs_mode == "SCN"  # valid values count, options in their canonical case
