"""A small plant around the real EnergyManager, on the fake clock, for the end-to-end energy property test.

What is real: `EnergyManager` (with its poll task on the `FakeClock`), the allocator, the configuration
registry, the smart charging maths (`controller.energy.schedules`) and the control loop's own pure pieces
that decide what the car is offered (`controller.evse.share.station_caps`, `PwmGovernor`, `OfferHistory`,
the PWM duty rounding). What is modelled here (the plant): the house load per grid phase (steps and pulses),
a grid meter that measures the real currents once per `meter_interval_s` (1 s for DSMR 5, 10 s for DSMR 4)
and serves that telegram until the next one, socket meters polled once a second, the loop's samples once a
second, and cars that follow the PWM after their own reaction time (0.5..5 s) on 1, 2 or 3 phases.

`Checker` holds the invariants on the *real* currents at every tick (see its docstring).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy import schedules as sch
from controller.energy.allocator import SocketAsk, allocate_sockets
from controller.energy.balance import Hysteresis
from controller.energy.manager import POLL_S, EnergyManager
from controller.energy.meter import OWN_SAMPLE_SKEW_S, RELEASE_S
from controller.energy.phases import parse_phase_connected, socket_phases
from controller.energy.settings import SUSPEND_WHEN_CLOSED
from controller.evse.limits import OfferHistory
from controller.evse.pwm import PwmGovernor, current_for_duty, duty_for_current
from controller.evse.share import station_caps
from hal.errors import DeviceOffline
from hal.interfaces import MeterReading

TICK_S = 0.1
VOLTAGE = sch.VOLTAGE
CAR_REACTION_MAX_S = 5.0  # IEC 61851: a car follows a lowered PWM within 5 s
SOCKET_MAX_A = 32.0
METER_VALIDITY_S = 15.0
SOCKET_METER_POLL_S = 1.0
SAMPLE_S = 1.0
HYSTERESIS = Hysteresis()  # the documented delays: 15 s minimum pause, 5 s resume delay, 1 A margin
T0 = 1000.0  # the fake clock's start


# -- the scenario --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CarSpec:
    socket: int
    arrive: float  # seconds into the run: plugged in, authorised, transaction started
    leave: float
    phases: int  # 1, 2 or 3
    max_a: float
    reaction_s: float
    idle: tuple[tuple[float, float], ...] = ()  # the car itself takes nothing (state B) in these windows


@dataclass(frozen=True)
class ProfileSpec:
    purpose: str
    connector: int
    unit: str  # "A" or "W"
    number_phases: int | None
    periods: tuple[tuple[int, float], ...]  # (start s into the run, limit)


@dataclass(frozen=True)
class Scenario:
    duration_s: float
    meter_interval_s: float  # 1 (DSMR 5) or 10 (DSMR 4)
    meter_offset_s: float
    includes_charger: bool
    phase_connected: str
    fuse_a: float
    station_max_a: float
    safe_a: float
    max_imbalance_a: float
    static_lb: bool
    house_base: tuple[float, float, float]
    house_steps: tuple[tuple[float, int, float], ...]  # (at, grid phase, delta A), cumulative
    house_pulses: tuple[tuple[float, float, float, int, float], ...]  # (from, to, period, grid phase, A)
    cars: tuple[CarSpec, ...]
    profiles: tuple[ProfileSpec, ...] = ()
    modbus_mode: str | None = None  # None: MbsSlaveTCPIP Off; "Socket" or "SCN"
    modbus_validity_s: int = 30
    modbus_writes: tuple[tuple[float, int, float], ...] = ()  # (at, socket id or grid phase, value)
    suspends: tuple[tuple[float, float], ...] = ()  # external suspend contact closed in these windows
    meter_offline: tuple[tuple[float, float], ...] = ()
    sockets: int = 2
    board_phases: int = 3

    @property
    def grid_driver(self) -> str:
        return "sdm_tcp" if self.suspends else "p1"

    def config(self) -> dict[str, str]:
        c = {
            "Active-LoadBalancing": "On",
            "ALB-ProtocolSelection": "DSMR P1",
            "SmartMeter-MaxCurrent": f"{self.fuse_a:g}",
            "SmartMeterIncludesCharger": "true" if self.includes_charger else "false",
            "Station-MaxCurrent": f"{self.station_max_a:g}",
            "Safe-MaxCurrent": f"{self.safe_a:g}",
            "Phase-Connected": self.phase_connected,
            "MaxImbalanceCurrent": f"{self.max_imbalance_a:g}",
            "Static-LoadBalancing": "On" if self.static_lb else "Off",
        }
        if self.suspends:  # the RJ11 port is the suspend input: the grid meter is a Modbus TCP one then
            c.update({"DirectExternalSuspendSignal": SUSPEND_WHEN_CLOSED, "ALB-ProtocolSelection": "Modbus TCP/IP",
                      "MBTCPSmart-IsEnabled": "true"})
        if self.modbus_mode is not None:
            c.update({"MbsSlaveTCPIP": "On", "MbsSlaveTCPIPMode": self.modbus_mode,
                      "MbsSlaveTCPIPValidityTime": str(self.modbus_validity_s)})
        return c


def _in(windows: tuple[tuple[float, float], ...], t: float) -> bool:
    return any(a <= t < b for a, b in windows)


# -- the plant -------------------------------------------------------------------------------------------------
class Car:
    """Follows the PWM offer after its reaction time (both ways), on its phases; takes at most `max_a`."""

    def __init__(self, spec: CarSpec) -> None:
        self.spec = spec
        self.draw_a = 0.0
        self._asked = 0.0
        self._pending: deque[tuple[float, float]] = deque()
        self.ever_drew = False

    def step(self, now: float, t_run: float, offered_a: float) -> None:
        want = 0.0 if offered_a < 6.0 or _in(self.spec.idle, t_run) else min(self.spec.max_a, offered_a)
        if want != self._asked:
            self._asked = want
            self._pending.append((now + self.spec.reaction_s, want))
        while self._pending and self._pending[0][0] <= now + 1e-9:
            self.draw_a = self._pending.popleft()[1]
        if self.draw_a > 0.5:
            self.ever_drew = True


class PushMeter:
    """A grid meter that measures once per interval and serves that telegram (the same object) until the
    next one, as the P1 driver does; DeviceOffline while offline."""

    def __init__(self, interval_s: float, offset_s: float) -> None:
        self.interval_s = interval_s
        self.next_at = T0 + offset_s
        self.latest: MeterReading | None = None
        self.offline = False

    def due(self, now: float) -> bool:
        return now >= self.next_at - 1e-9

    def publish(self, now: float, currents: list[float]) -> None:
        self.latest = MeterReading(currents_a=(currents[0], currents[1], currents[2]))
        self.next_at += self.interval_s

    def read(self) -> MeterReading:
        if self.offline or self.latest is None:
            raise DeviceOffline("grid meter does not answer")
        return self.latest


class LoopModel:
    """The control loop's part that decides the PWM: the main process's offer, the socket's own maximum, the
    loop's Station-MaxCurrent share (controller.evse.share) and the PWM pace (raises 5 s apart)."""

    def __init__(self, sockets: list[int], station_max_a: float) -> None:
        self.station_max_a = station_max_a
        self.pwm = {cid: PwmGovernor() for cid in sockets}
        self.history = {cid: OfferHistory(CAR_REACTION_MAX_S) for cid in sockets}
        self.offered = {cid: 0.0 for cid in sockets}

    def step(self, now: float, limits: dict[int, tuple[float, bool, bool]], plugged: set[int]) -> dict[int, float]:
        demands = {
            cid: min(cur, SOCKET_MAX_A) if authorized and not suspended and cid in plugged else 0.0
            for cid, (cur, authorized, suspended) in limits.items()
        }
        caps = station_caps(self.station_max_a, demands, {c: h.reference(now) for c, h in self.history.items()})
        for cid, demand in demands.items():
            offer = min(demand, caps[cid])
            duty = self.pwm[cid].step(now, duty_for_current(offer))
            self.offered[cid] = current_for_duty(duty) if duty is not None else 0.0
            self.history[cid].update(now, self.offered[cid])
            if cid not in plugged:
                self.pwm[cid].reset()
        return dict(self.offered)


# -- the invariants --------------------------------------------------------------------------------------------
@dataclass
class Telegram:
    measured_at: float
    house: tuple[float, float, float]


@dataclass
class LimitTrack:
    """One limit over time: `history` of (t, value); a value is checked against the highest of the window."""

    window_s: float
    history: deque[tuple[float, float]] = field(default_factory=deque)

    def note(self, t: float, value: float) -> None:
        if not self.history or self.history[-1][1] != value:
            self.history.append((t, value))
        while len(self.history) > 1 and self.history[1][0] <= t - self.window_s:
            self.history.popleft()

    def allowed(self, t: float) -> float:
        """The highest value in force at any time in [t - window, t]."""
        return max(v for _, v in self.history)

    def now(self) -> float:
        return self.history[-1][1]


@dataclass
class Report:
    ticks: int = 0
    violations: list[str] = field(default_factory=list)
    overshoot_ticks: dict[str, int] = field(default_factory=dict)  # over the instantaneous limit, excused
    longest_overshoot_s: dict[str, float] = field(default_factory=dict)
    starving_s: float = 0.0  # the longest a socket was paused with a share of 6 A or more
    start_stops_max: int = 0  # the most PWM on->off changes of a socket in any 60 s

    def fail(self, text: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(text)


class Checker:
    """The invariants, on the cars' real currents, every tick:

    - every limit L (fuse headroom per connected grid phase, Station-MaxCurrent, each W and A limit of the
      profiles, Modbus setpoints, Safe-MaxCurrent once the meter is lost, MaxImbalanceCurrent, the external
      suspend) holds as `use(t) <= max(L over [t - window, t])`: while a limit is steady it holds at every
      tick; after it drops, the cars have their reaction window (5 s) plus the time the station needs to
      know of the drop (a poll for the meter's and the setpoints' expiry; for the fuse, the reading also has to
      be matched with the socket samples, `OWN_SAMPLE_SKEW_S`). Over the instantaneous limit inside that
      window is counted, and each stretch is bounded by the window.
    - For the fuse the limit is SmartMeter-MaxCurrent minus the house load the meter last reported, from the
      telegram's arrival. When the station's own current moved while it was measured (the meter cannot tell a
      car's step from a step of the house), the station may count on as little as that house load less the
      move, until a telegram taken while its current held still. A house step between telegrams is the
      meter's interval, not the station's doing.
    - No socket is paused (PWM off while its car is in session and wants current) for longer than the
      documented delays while its share of every limit (the same allocator, fed with the true limits) is
      6 A or more (7 A while the meter is what limits it: the resume margin).
    - ContactorProtect: no socket's PWM goes off more than 10 times in any 60 s.
    """

    def __init__(self, sc: Scenario, sim: Simulation) -> None:
        self.sc = sc
        self.sim = sim
        self.connected = parse_phase_connected(sc.phase_connected)
        self.report = Report()
        poll = POLL_S + 2 * TICK_S
        self.react = CAR_REACTION_MAX_S + 2 * TICK_S
        self.tracks: dict[str, LimitTrack] = {}
        self.window = {
            "fuse": OWN_SAMPLE_SKEW_S + poll + self.react,
            "safe": poll + self.react,
            "modbus": poll + self.react,
            "instant": self.react,
        }
        self.telegrams: deque[Telegram] = deque()
        self.house_known: tuple[float, float, float] | None = None
        self._over_since: dict[str, float] = {}
        self._starving_since: dict[int, float] = {}
        self._pwm_offs: dict[int, deque[float]] = {cid: deque() for cid in sim.sockets}
        self._was_on: dict[int, bool] = {cid: False for cid in sim.sockets}
        self._station_moves: deque[tuple[float, tuple[float, float, float]]] = deque()
        self.resume_bound_s = (
            HYSTERESIS.min_pause_s + HYSTERESIS.resume_delay_s + RELEASE_S + OWN_SAMPLE_SKEW_S
            + 2 * sc.meter_interval_s + 6.0 + 5.0 + 2 * POLL_S
        )

    # -- helpers ---------------------------------------------------------------------------------------------
    def check(self, name: str, kind: str, t: float, limit: float, use: float, tol: float = 0.06) -> None:
        track = self.tracks.setdefault(name, LimitTrack(self.window[kind]))
        track.note(t, limit)
        if use > limit + tol:
            since = self._over_since.setdefault(name, t)
            self.report.overshoot_ticks[name] = self.report.overshoot_ticks.get(name, 0) + 1
            self.report.longest_overshoot_s[name] = max(self.report.longest_overshoot_s.get(name, 0.0), t - since)
            if use > track.allowed(t) + tol:
                self.report.fail(f"t={t - T0:.1f}s {name}: {use:.2f} > {limit:.2f} (highest of the window "
                                 f"{track.allowed(t):.2f})")
        else:
            self._over_since.pop(name, None)

    def note_telegram(self, t: float, house: tuple[float, float, float]) -> None:
        self.telegrams.append(Telegram(t, house))

    def note_station(self, t: float, station: tuple[float, float, float]) -> None:
        if not self._station_moves or self._station_moves[-1][1] != station:
            self._station_moves.append((t, station))
        while len(self._station_moves) > 2 and self._station_moves[1][0] < t - 30:
            self._station_moves.popleft()

    def _moves_between(self, a: float, b: float) -> list[float]:
        """Per grid phase, how far the station's real current moved within [a, b]."""
        before: tuple[float, float, float] | None = None
        low: list[float] | None = None
        high: list[float] | None = None
        for t, cur in self._station_moves:
            if t <= a:
                before = cur
                continue
            if t > b:
                break
            if low is None or high is None:
                start = before if before is not None else cur
                low, high = list(start), list(start)
            for p in range(3):
                low[p], high[p] = min(low[p], cur[p]), max(high[p], cur[p])
        if low is None or high is None:
            return [0.0, 0.0, 0.0]
        return [high[p] - low[p] for p in range(3)]

    def _update_house_known(self, t: float) -> None:
        """The house load the station can know: a telegram's, from its arrival, when the station's current held
        still around it. One measured while the station's current moved cannot be told apart from the house:
        until the next steady one the station may count on as little as its house load less that move."""
        # the controller looks at the station's samples from a poll (1 s) and a sample (2 s) before a reading
        # to OWN_SAMPLE_SKEW_S after the poll that saw it: a superset of that window
        lead, lag = POLL_S + 2.0 + 2 * TICK_S, POLL_S + OWN_SAMPLE_SKEW_S + 2 * TICK_S
        while self.telegrams and t >= self.telegrams[0].measured_at + lag:
            tg = self.telegrams.popleft()
            if not self.sc.includes_charger:
                self.house_known = tg.house
                continue
            moved = self._moves_between(tg.measured_at - lead, tg.measured_at + lag)
            if max(moved) <= 0.05:
                self.house_known = tg.house
            else:
                least = [tg.house[p] - moved[p] for p in range(3)]
                if self.house_known is not None:
                    least = [min(least[p], self.house_known[p]) for p in range(3)]
                self.house_known = (least[0], least[1], least[2])

    # -- every tick ------------------------------------------------------------------------------------------
    def tick(self, t: float, t_run: float) -> None:
        sim, sc = self.sim, self.sc
        self.report.ticks += 1
        draws = sim.grid_draws()
        station = [sum(d[p] for d in draws.values()) for p in range(3)]
        self.note_station(t, (station[0], station[1], station[2]))
        self._update_house_known(t)

        meter_ok = sim.meter_valid_since is not None and not sim.meter.offline
        if meter_ok and self.house_known is not None:
            for p in self.connected:
                self.check(f"fuse L{p + 1}", "fuse", t, max(0.0, sc.fuse_a - self.house_known[p]), station[p])
        else:  # no reading (yet, or lost): the station cannot know the fuse's headroom; from the next one on
            for p in self.connected:
                self.check(f"fuse L{p + 1}", "fuse", t, math.inf, 0.0)
        lost = not meter_ok and sim.meter_lost_at is not None and t >= sim.meter_lost_at
        for p in self.connected:  # Safe-MaxCurrent once the meter is lost
            self.check(f"safe L{p + 1}", "safe", t, sc.safe_a if lost else math.inf, station[p] if lost else 0.0)
        for p in range(3):
            self.check(f"station L{p + 1}", "instant", t, sc.station_max_a, station[p])
        if sc.max_imbalance_a > 0:
            self.check("imbalance", "instant", t, sc.max_imbalance_a, max(station) - min(station))
        if sim.suspended:
            self.check("external suspend", "instant", t, 0.0, max(station))
        else:
            self.check("external suspend", "instant", t, math.inf, 0.0)
        for name, (limit, use) in sim.profile_limits(t, draws, station).items():
            self.check(name, "instant", t, limit, use)
        for name, (limit, use) in sim.modbus_limits(t, draws, station).items():
            self.check(name, "modbus", t, limit, use)
        self._liveness(t, t_run)

    def _liveness(self, t: float, t_run: float) -> None:
        sim = self.sim
        paused: list[int] = []
        for cid in sim.sockets:
            on = sim.loop.offered[cid] >= 6.0
            if self._was_on[cid] and not on:
                offs = self._pwm_offs[cid]
                offs.append(t)
                while offs and offs[0] <= t - 60:
                    offs.popleft()
                self.report.start_stops_max = max(self.report.start_stops_max, len(offs))
                if len(offs) > 10:
                    self.report.fail(f"t={t_run:.1f}s socket {cid}: {len(offs)} start/stops in 60 s")
            self._was_on[cid] = on
            car = sim.car_on(cid, t_run)
            if car is not None and not _in(car.spec.idle, t_run) and not on:
                paused.append(cid)
            else:
                self._starving_since.pop(cid, None)
        if not paused:
            return
        shares, thresholds = sim.true_shares(t, self.house_known if sim.meter_valid_since is not None else None)
        for cid in paused:
            if shares.get(cid, 0.0) >= thresholds.get(cid, 6.0):
                since = self._starving_since.setdefault(cid, t)
                self.report.starving_s = max(self.report.starving_s, t - since)
                if t - since > self.resume_bound_s:
                    self.report.fail(f"t={t_run:.1f}s socket {cid}: paused for {t - since:.1f} s with a share of "
                                     f"{shares[cid]:.1f} A")
                    self._starving_since[cid] = t
            else:
                self._starving_since.pop(cid, None)


# -- the simulation --------------------------------------------------------------------------------------------
class Simulation:
    def __init__(self, sc: Scenario, state_dir: Path) -> None:
        self.sc = sc
        self.clock = FakeClock(T0)
        self.config = ConfigRegistry(ConfigStore(state_dir / "config.json"))
        for k, v in sc.config().items():
            status = self.config.set(k, v)
            assert status in ("Accepted", "RebootRequired"), (k, v, status)
        self.connected = parse_phase_connected(sc.phase_connected)
        self.sockets = list(range(1, sc.sockets + 1))
        self.meter = PushMeter(sc.meter_interval_s, sc.meter_offset_s)
        self.views: dict[int, list[float]] = {cid: [0.0, 0.0, 0.0] for cid in self.sockets}
        self._socket_meter: dict[int, list[float]] = {cid: [0.0, 0.0, 0.0] for cid in self.sockets}
        self._socket_poll_at = {cid: T0 + 0.37 * cid for cid in self.sockets}
        self._sample_at = T0 + 0.61
        self.em = EnergyManager(
            self.config, self.clock, {cid: sc.board_phases for cid in self.sockets}, self.meter,
            lambda: {cid: list(v) for cid, v in self.views.items()}, self.publish, grid_driver=sc.grid_driver,
            meter_validity_s=METER_VALIDITY_S, hysteresis=HYSTERESIS,
        )
        self.em.modbus_enabled = sc.modbus_mode is not None  # what the Modbus slave's start does with the key
        self.loop = LoopModel(self.sockets, sc.station_max_a)
        self.cars: dict[int, Car] = {}
        self.limits: dict[int, tuple[float, bool, bool]] = {cid: (0.0, False, False) for cid in self.sockets}
        self.profiles = [self._profile(i, p) for i, p in enumerate(sc.profiles)]
        self._caps: tuple[float, dict[int, float]] | None = None
        self.suspended = False
        self.meter_valid_since: float | None = None
        self.meter_lost_at: float | None = None
        self._last_telegram_at: float | None = None
        self.checker = Checker(sc, self)
        self.publishes = 0

    # -- the scenario's pieces -------------------------------------------------------------------------------
    def _profile(self, i: int, p: ProfileSpec) -> sch.Profile:
        start = sch.format_time(self.clock.now().timestamp())
        wire: dict[str, Any] = {
            "chargingProfileId": i + 1, "stackLevel": i, "chargingProfilePurpose": p.purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": p.unit, "startSchedule": start,
                "chargingSchedulePeriod": [
                    {"startPeriod": s, "limit": lim, **({"numberPhases": p.number_phases} if p.number_phases else {})}
                    for s, lim in p.periods
                ],
            },
        }
        return sch.profile_from_ocpp(wire, p.connector)

    def car_on(self, cid: int, t_run: float) -> Car | None:
        car = self.cars.get(cid)
        return car if car is not None and car.spec.arrive <= t_run < car.spec.leave else None

    def house(self, t_run: float) -> list[float]:
        h = list(self.sc.house_base)
        for at, p, delta in self.sc.house_steps:
            if t_run >= at:
                h[p] += delta
        for a, b, period, p, amps in self.sc.house_pulses:
            if a <= t_run < b and (t_run - a) % period < period / 2:
                h[p] += amps
        return h

    def station_draws(self) -> dict[int, list[float]]:
        """Each socket's real current per station phase."""
        out: dict[int, list[float]] = {}
        for cid in self.sockets:
            car = self.cars.get(cid)
            cur = [0.0, 0.0, 0.0]
            if car is not None:
                n = min(car.spec.phases, self.sc.board_phases, len(self.connected))
                for k in range(n):
                    cur[k] = car.draw_a
            out[cid] = cur
        return out

    def grid_draws(self) -> dict[int, list[float]]:
        """Each socket's real current per grid phase."""
        out: dict[int, list[float]] = {}
        for cid, cur in self.station_draws().items():
            g = [0.0, 0.0, 0.0]
            for k, p in enumerate(self.connected):
                g[p] += cur[k]
            out[cid] = g
        return out

    def car_phases_seen(self, cid: int) -> int | None:
        car = self.cars.get(cid)
        if car is None or not car.ever_drew:
            return None
        return min(car.spec.phases, self.sc.board_phases, len(self.connected))

    def caps(self) -> tuple[float, dict[int, float]]:
        """What smart charging imposes now (as SmartCharging.caps does: W over the phases energy reports)."""
        now = self.clock.now().timestamp()
        st = sch.station_limit(self.profiles, now, phases=self.em.charging_phases(0))
        per: dict[int, float] = {}
        for cid in self.sockets:
            active = self.car_on(cid, self.clock.monotonic() - T0) is not None
            ctx = sch.TxContext(cid, active, None, None, self.em.charging_phases(cid))
            got = sch.connector_limit(self.profiles, now, ctx)
            per[cid] = math.inf if got is None else got[0]
        return (math.inf if st is None else st), per

    # -- the composition root's part -------------------------------------------------------------------------
    def active(self) -> set[int]:
        t_run = self.clock.monotonic() - T0
        return {cid for cid in self.sockets if self.car_on(cid, t_run) is not None}

    def publish(self) -> None:
        self.publishes += 1
        station_cap, per = self.caps()
        self._caps = (station_cap, per)
        active = self.active()
        offers = self.em.offers({cid: min(SOCKET_MAX_A, per[cid]) for cid in self.sockets}, active, station_cap)
        suspended = self.em.external_suspend
        self.limits = {cid: (offers[cid], cid in active, suspended) for cid in self.sockets}

    # -- the true limits (for the checker) -------------------------------------------------------------------
    def profile_limits(
        self, t: float, draws: dict[int, list[float]], station: list[float]
    ) -> dict[str, tuple[float, float]]:
        """Each profile limit in force, in its own unit (W or A), with what is really used against it."""
        now = self.clock.now().timestamp()
        out: dict[str, tuple[float, float]] = {}
        won = _winner(self.profiles, sch.CP_MAX, sch.TxContext(0), now)
        if won is not None:
            limit, unit = won
            out[f"ChargePointMax {unit}"] = (limit, sum(station) * VOLTAGE if unit == "W" else max(station))
        for cid in self.sockets:
            ctx = sch.TxContext(cid, self.car_on(cid, t - T0) is not None)
            won = _winner(self.profiles, sch.TX, ctx, now) if ctx.tx_active else None
            won = won or _winner(self.profiles, sch.TX_DEFAULT, ctx, now)
            if won is not None:
                limit, unit = won
                use = sum(draws[cid]) * VOLTAGE if unit == "W" else max(draws[cid])
                out[f"TxDefault {unit} socket {cid}"] = (limit, use)
        return out

    def modbus_limits(
        self, t: float, draws: dict[int, list[float]], station: list[float]
    ) -> dict[str, tuple[float, float]]:
        sc = self.sc
        if sc.modbus_mode is None:
            return {}
        out: dict[str, tuple[float, float]] = {}
        if sc.modbus_mode == "Socket":
            for cid in self.sockets:
                lim = self.em.setpoints.socket_limit(cid, t, "Socket", sc.modbus_validity_s, sc.safe_a)
                assert lim is not None
                out[f"modbus socket {cid}"] = (lim if lim >= 6.0 else 0.0, max(draws[cid]))
        else:
            for p, lim in enumerate(self.em.setpoints.phase_limits(t, "SCN", sc.modbus_validity_s, sc.safe_a)):
                if p in self.connected and lim is not None:
                    out[f"modbus SCN L{p + 1}"] = (lim, station[p])
        return out

    def true_shares(
        self, t: float, house: tuple[float, float, float] | None
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Each socket's share of every limit as it truly is, and the share it needs to be running (6 A, or
        7 A while the meter's headroom is what limits it)."""
        sc = self.sc
        t_run = t - T0
        if self.suspended or self._caps is None:
            return {}, {}
        station_cap, per = self._caps
        asks: dict[int, SocketAsk] = {}
        for cid in self.sockets:
            if self.car_on(cid, t_run) is None:
                continue
            cap = min(SOCKET_MAX_A, per[cid])
            if sc.modbus_mode == "Socket":
                lim = self.em.setpoints.socket_limit(cid, t, "Socket", sc.modbus_validity_s, sc.safe_a)
                cap = min(cap, lim if lim is not None else cap)
            phases = socket_phases(self.connected, sc.board_phases, 3)
            seen = self.car_phases_seen(cid)
            flow = phases[: seen] if seen else phases[:1]
            asks[cid] = SocketAsk(cap, phases, flow)
        static: list[float | None] = [None, None, None]
        scn = (self.em.setpoints.phase_limits(t, "SCN", sc.modbus_validity_s, sc.safe_a)
               if sc.modbus_mode == "SCN" else [None, None, None])
        for p in self.connected:
            lim = scn[p]
            static[p] = min(sc.station_max_a, station_cap, math.inf if lim is None else lim)
        full = list(static)
        meter_limits = False
        for p in self.connected:
            lim = sc.safe_a if house is None else sc.fuse_a - house[p]
            cur = full[p]
            full[p] = lim if cur is None else min(cur, lim)
        imbalance = sc.max_imbalance_a if sc.max_imbalance_a > 0 else None
        shares = allocate_sockets(asks, full, imbalance)
        without = allocate_sockets(asks, static, imbalance)
        thresholds = {}
        for cid in shares:
            meter_limits = house is not None and shares[cid] < without[cid] - 0.05
            thresholds[cid] = 6.0 + (HYSTERESIS.resume_margin_a if meter_limits else 0.0)
        return shares, thresholds

    # -- running ---------------------------------------------------------------------------------------------
    async def run(self) -> Report:
        sc = self.sc
        task = asyncio.create_task(self.em.run())
        await asyncio.sleep(0)
        writes = sorted(sc.modbus_writes)
        started: set[CarSpec] = set()
        ended: set[CarSpec] = set()
        try:
            steps = int(sc.duration_s / TICK_S)
            for i in range(1, steps + 1):
                await self.clock.advance(TICK_S, step_yields=1)
                t = self.clock.monotonic()
                t_run = t - T0
                self._plant(t, t_run)
                changed = False
                for spec in sc.cars:  # arrivals and departures: the session starts or ends
                    if spec.arrive <= t_run and spec not in started:
                        started.add(spec)
                        self.cars[spec.socket] = Car(spec)
                        changed = True
                    elif spec.leave <= t_run and spec not in ended:
                        ended.add(spec)
                        changed = True
                while writes and writes[0][0] <= t_run:
                    _, target, value = writes.pop(0)
                    if sc.modbus_mode == "SCN":
                        self.em.write_phase_setpoint(target % 3, value)
                    else:
                        self.em.write_socket_setpoint(target, value)
                contact = _in(sc.suspends, t_run)
                self.em.note_suspend_input(contact)  # publishes on a change
                self.suspended = self.em.external_suspend
                if changed or (self._caps is not None and self.caps() != self._caps):
                    self.publish()  # a session starts or ends; a charging schedule boundary
                plugged = {cid for cid in self.sockets if self.car_on(cid, t_run) is not None}
                offered = self.loop.step(t, self.limits, plugged)
                for cid, car in list(self.cars.items()):
                    if cid in plugged:
                        car.step(t, t_run, offered[cid])
                    elif t_run >= car.spec.leave:
                        del self.cars[cid]  # unplugged
                self.checker.tick(t, t_run)
                del i
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        return self.checker.report

    def _plant(self, t: float, t_run: float) -> None:
        sc = self.sc
        self.meter.offline = _in(sc.meter_offline, t_run)
        if self.meter.due(t) and self.meter.offline:
            self.meter.next_at += self.meter.interval_s  # an offline meter sends nothing
        elif self.meter.due(t):
            house = self.house(t_run)
            draws = self.grid_draws()
            measured = list(house)
            if sc.includes_charger:
                for d in draws.values():
                    for p in range(3):
                        measured[p] += d[p]
            self.meter.publish(t, [round(m, 3) for m in measured])
            self.checker.note_telegram(t, (house[0], house[1], house[2]))
            self._last_telegram_at = t
            if self.meter_valid_since is None:
                self.meter_valid_since = t
            self.meter_lost_at = None
        if self.meter.offline and self.meter_valid_since is not None:
            self.meter_valid_since = None
        if self.meter_valid_since is None and self.meter_lost_at is None:
            last = self._last_telegram_at if self._last_telegram_at is not None else T0
            self.meter_lost_at = last + METER_VALIDITY_S + POLL_S + OWN_SAMPLE_SKEW_S
        # socket meters are polled once a second; the loop samples them once a second
        real = self.station_draws()
        for cid in self.sockets:
            if t >= self._socket_poll_at[cid] - 1e-9:
                self._socket_meter[cid] = list(real[cid])
                self._socket_poll_at[cid] += SOCKET_METER_POLL_S
        if t >= self._sample_at - 1e-9:
            self._sample_at += SAMPLE_S
            for cid in self.sockets:
                self.views[cid] = list(self._socket_meter[cid])
            self.em.note_samples()


def _winner(profiles: list[sch.Profile], purpose: str, ctx: sch.TxContext, now: float) -> tuple[float, str] | None:
    """The limit of the winning profile of `purpose` at `now`, in its own unit (W or A), and that unit."""
    best: tuple[tuple[int, int], float, str] | None = None
    for p in profiles:
        if p.purpose != purpose or not sch.applies(p, ctx):
            continue
        got = sch.profile_limit(p, now, sch.TxContext(ctx.connector_id, ctx.tx_active), now)
        if got is None:
            continue
        rank = (p.stack_level, 1 if p.connector_id == ctx.connector_id else 0)
        if best is None or rank > best[0]:
            raw = sch.from_amps(got[0], p.unit, got[1], sch.DEFAULT_PHASES)  # back to the profile's own unit
            best = (rank, raw, p.unit)
    return None if best is None else (best[1], best[2])


def simulate(sc: Scenario) -> Report:
    with tempfile.TemporaryDirectory() as d:
        return asyncio.run(Simulation(sc, Path(d)).run())
