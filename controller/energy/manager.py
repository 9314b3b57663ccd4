"""Energy management in the main process: the thin stateful part around the pure allocation.

`EnergyManager` owns the grid meter poll (a task that sleeps on the injectable clock), the Modbus setpoints,
the external suspend state, the per-socket hysteresis and what each socket's car may still draw, and answers
one question for the composition root: `offers(socket_max, active, station_cap, held)` -> the current (A) to
offer each socket now. The control loop still decides (it applies its own Station-MaxCurrent share and every
safety limit); this only asks.

Per socket the offer is the max-min fair allocation (`controller.energy.allocator`) of
- the socket's own limits (`socket_max`: ConnectorN-MaxCurrent, the board's rating, smart charging, a limit
  in W already divided by the phases the car really uses, see `charging_phases`),
- its Modbus setpoint (MbsSlaveTCPIPMode Socket) or Safe-MaxCurrent once that expired; in mode SCN, once the
  station setpoints expired, SCN-SocketSafeCurrent,
- with Static-LoadBalancing, what its car really takes (`DemandTracker`; a car that takes nothing keeps 6 A),
under, per grid phase the station is connected to, the least of Station-MaxCurrent, the smart charging
station limit, the Modbus SCN setpoint (mode SCN), and with Active-LoadBalancing the fuse headroom
SmartMeter-MaxCurrent - house load (`GridWatch`) or, with no valid reading for the meter validity time,
Safe-MaxCurrent; then MaxImbalanceCurrent (a car whose phases the socket meter has not seen in this session
counts as a single-phase car; the samples of a session's first 2.5 s may still show the previous car and do
not count); then the 6 A rule and the hysteresis of `OfferSmoother`. Then the rule for every change:
- a lower offer applies at once; the car has `reaction_s` (5 s, IEC 61851, plus 1 s for the message to reach
  the loop) to follow it, and until then it may still draw its highest offer of that window;
- a higher offer, or a new car, gets only what the others' may-draw leaves under every limit
  (`allocator.sequence_raises`): a second car starts when the first has had its window to follow;
- the external suspend signal, a suspended session or one that is stopping (`held`) offers 0, and its share
  goes to the others;
- while the latest grid reading is uncertain (the station's own current changed while it was measured, see
  `controller.energy.meter`) no offer is raised.
Phase switching (sockets with a relay, `relays`): before the fill, `PhaseDecider` picks each one's phase
count from what it would get on one phase and on three (`phases_for`, published with its limits); for
`reaction_s` after a change its car counts on every phase, since it may still draw on the old ones.
What `offers` returns is what the station applies (Modbus 1206, the OCPP status: below 6 A SuspendedEVSE).
An idle socket is offered what it would get if its car started now.

Timing: the meter is read every `poll_s` (1 s) and the offers are republished after every read, so a rising
house load lowers the PWM within about a second of the reading being usable.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from controller.clock import Clock
from controller.energy.allocator import Background, SocketAsk, allocate_sockets, sequence_raises
from controller.energy.balance import DemandTracker, Hysteresis, MayDraw, OfferSmoother
from controller.energy.meter import (
    METER_VALIDITY_S,
    OWN_SAMPLE_SKEW_S,
    Arrival,
    GridWatch,
    MeterSource,
    MeterTiming,
    board_serves,
    select_source,
    timing_of,
)
from controller.energy.phases import (
    CarPhases,
    PhaseDecider,
    PhaseWish,
    drawn_phases,
    format_phases,
    socket_phases,
    to_grid,
)
from controller.energy.setpoints import Setpoints
from controller.energy.settings import KEYS, EnergySettings, read_field
from controller.energy.suspend import external_suspend

log = logging.getLogger(__name__)

POLL_S = 1.0
REACTION_S = 6.0  # IEC 61851: 5 s for the car to follow a lowered PWM; 1 s for the limits to reach the loop

SocketCurrents = Callable[[], Mapping[int, Sequence[float] | None]]


class EnergyManager:
    def __init__(
        self,
        config: Any,
        clock: Clock,
        connectors: Mapping[int, int],
        grid_meter: Any,
        socket_currents: SocketCurrents,
        on_change: Callable[[], None] = lambda: None,
        trace: Callable[[str], None] = lambda s: None,
        *,
        grid_driver: str | None = "sim",
        grid_params: Mapping[str, Any] | None = None,
        poll_s: float = POLL_S,
        meter_validity_s: float = METER_VALIDITY_S,
        hysteresis: Hysteresis | None = None,
        reaction_s: float = REACTION_S,
        meter_timing: MeterTiming | None = None,
        relays: Collection[int] = (),
    ) -> None:
        """`connectors`: socket id -> number of phases it is wired for (board file). `meter_timing`: how the
        grid meter's readings relate in time to the socket samples (default: from `grid_driver`). `relays`:
        the three-phase sockets with a 1/3-phase switch relay (board file `phase_relay`)."""
        self.config = config
        self.clock = clock
        self.connectors = dict(connectors)
        self.grid_meter = grid_meter
        self.socket_currents = socket_currents
        self.on_change = on_change
        self.trace = trace
        self.grid_driver = grid_driver if grid_meter is not None else None
        self.grid_params = dict(grid_params or {})
        self.poll_s = poll_s
        self.timing = meter_timing or timing_of(self.grid_driver)
        self.watch = GridWatch(meter_validity_s, skew_s=self.timing.own_skew_s)
        self.setpoints = Setpoints(tuple(sorted(self.connectors)))
        self.hysteresis = hysteresis or Hysteresis()
        self.smoothers = {cid: OfferSmoother(self.hysteresis) for cid in self.connectors}
        self.demands = {cid: DemandTracker() for cid in self.connectors}
        self.reaction_s = reaction_s
        self.may_draw = {cid: MayDraw(reaction_s) for cid in self.connectors}
        self.cars = {cid: CarPhases(OWN_SAMPLE_SKEW_S) for cid in self.connectors}
        self.relays = frozenset(cid for cid in relays if self.connectors.get(cid) == 3)
        self.deciders = {cid: PhaseDecider(clock.monotonic()) for cid in sorted(self.relays)}
        self.modbus_phases: dict[int, int] = {}  # register 1215 as a master wrote it
        # numberPhases of the charging schedule in force (the composition root connects smart charging)
        self.profile_phases: Callable[[int], int | None] = lambda cid: None
        self.suspend_input: bool | None = None
        # MbsSlaveTCPIP as it was when the station started (the key needs a reboot): set by the Modbus slave.
        # While true, Modbus setpoints (or Safe-MaxCurrent once they expire) limit per MbsSlaveTCPIPMode.
        self.modbus_enabled = False
        self.last_offers: dict[int, float] = {cid: 0.0 for cid in self.connectors}
        self.last_room: list[float | None] = [None, None, None]
        self.meter_note: str | None = None
        self._meter_state: str | None = None
        self._suspended = False
        self._last_reading: object | None = None  # the reading object the meter served last (same = not new)
        self._last_poll: float | None = None
        self.reads = 0
        for key in KEYS:
            with contextlib.suppress(KeyError):
                config.subscribe(key, lambda *_: self.on_change())

    # -- configuration -------------------------------------------------------------------------------------
    @property
    def meter_validity_s(self) -> float:
        return self.watch.validity_s

    @meter_validity_s.setter
    def meter_validity_s(self, value: float) -> None:
        self.watch.validity_s = value

    def settings(self) -> EnergySettings:
        return EnergySettings.read(self.config)

    def source(self, s: EnergySettings | None = None) -> tuple[MeterSource, bool]:
        """The meter the keys select, and whether the board's grid meter is that meter."""
        src = select_source(s or self.settings())
        usable, note = board_serves(src, self.grid_driver, self.grid_params)
        self.meter_note = note
        return src, usable

    # -- inputs --------------------------------------------------------------------------------------------
    def own_grid_currents(self, s: EnergySettings) -> list[float]:
        total = [0.0, 0.0, 0.0]
        for cur in self.socket_currents().values():
            if cur:
                for p, a in enumerate(to_grid(cur, s.connected)):
                    total[p] += a
        return total

    def note_samples(self, s: EnergySettings | None = None, now: float | None = None) -> None:
        """The socket meters' samples changed (the composition root calls this when the loop sends them):
        remember the station's own current with the time it became known."""
        s = s or self.settings()
        self.watch.note_own(self.clock.monotonic() if now is None else now, self.own_grid_currents(s))

    def poll_once(self) -> None:
        """Read the grid meter once (when load balancing uses it) and re-run the allocation."""
        s = self.settings()
        _, usable = self.source(s)
        now = self.clock.monotonic()
        self.note_samples(s, now)
        if usable and self.grid_meter is not None:
            try:
                reading = self.grid_meter.read()
                currents: Sequence[float] | None = tuple(reading.currents_a)
            except Exception as exc:  # noqa: BLE001 - DeviceError or a driver bug: the reading is missing
                log.debug("grid meter read failed: %s", exc)
                reading, currents = None, None
            self.reads += 1
            if currents is None:
                self.watch.update(now, None, s.includes_charger)
            elif reading is not self._last_reading or self.timing.measured_when_read:
                self._last_reading = reading
                if self.timing.measured_when_read:
                    at = Arrival(now, now)
                else:  # it arrived after the previous poll
                    at = Arrival(now - self.poll_s if self._last_poll is None else self._last_poll, now)
                self.watch.update(now, currents, s.includes_charger, at)
            self._last_poll = now
        state = None
        if s.active_lb:
            state = "ok" if usable and not self.watch.lost(now) else "lost"
        if state != self._meter_state:
            if state == "lost":
                why = self.meter_note if not usable else "no valid reading"
                self.trace(f"load balancing: grid meter lost ({why}); Safe-MaxCurrent {s.safe_a:g} A")
            elif state == "ok":
                self.trace("load balancing: grid meter readings valid")
            self._meter_state = state
        self.on_change()

    def note_suspend_input(self, contact_closed: Any) -> None:
        """The external suspend contact as the control process reports it (True = closed)."""
        value = contact_closed if isinstance(contact_closed, bool) else None
        if value is None and contact_closed is not None:
            return
        self.suspend_input = value
        now = self.external_suspend
        if now != self._suspended:
            self._suspended = now
            self.trace(f"external suspend signal: {'suspend' if now else 'released'}")
            self.on_change()

    @property
    def external_suspend(self) -> bool:
        return external_suspend(read_field(self.config, "suspend_mode"), self.suspend_input)

    def write_socket_setpoint(self, cid: int, value: float) -> None:
        self.setpoints.write_socket(cid, value, self.clock.monotonic())
        self.on_change()

    def write_phase_setpoint(self, phase: int, value: float) -> None:
        self.setpoints.write_phase(phase, value, self.clock.monotonic())
        self.on_change()

    def write_phases(self, cid: int, phases: int) -> None:
        """Register 1215 written (1 or 3; the slave checked it): a wish for a socket with a relay."""
        self.modbus_phases[cid] = phases
        self.on_change()

    # -- phase switching -----------------------------------------------------------------------------------
    def phases_for(self, cid: int) -> int:
        """The phases a socket's limits are meant for and its relay should switch to; 0: no relay (any)."""
        d = self.deciders.get(cid)
        return 0 if d is None else d.phases

    def _phases_of(self, connected: tuple[int, ...], cid: int, now: float, max_allowed: int) -> tuple[int, ...]:
        """The grid phases a socket's car may draw on. A relay socket whose phases changed less than
        `reaction_s` ago counts on all of them: its car may still draw on the old ones."""
        d = self.deciders.get(cid)
        if d is None:
            return socket_phases(connected, self.connectors.get(cid, 3), max_allowed)
        physical = tuple(connected[:3])
        return physical if now - d.changed_at < self.reaction_s else physical[: d.phases]

    def _decide_phases(
        self,
        s: EnergySettings,
        now: float,
        asks: dict[int, SocketAsk],
        running: set[int],
        room: list[float | None],
        imbalance: float | None,
    ) -> None:
        """Each relay socket's phase count (`PhaseDecider`), from what it would get on one and on three."""
        for cid, d in self.deciders.items():
            ask = asks.get(cid)
            if ask is None:
                continue
            physical = tuple(s.connected[:3])
            rooms = [0.0, 0.0]  # what it gets (an idle socket: would get if its car started) on one, on three
            others = {c: asks[c] for c in running if c != cid}
            for i, phases in enumerate((physical[:1], physical)):
                trial = {**others, cid: replace(ask, phases=phases, imbalance_phases=None)}
                rooms[i] = allocate_sockets(trial, room, imbalance)[cid]
            before = d.phases
            wish = PhaseWish(
                s.phase_switching, s.max_allowed_phases, rooms[0], rooms[1], self.profile_phases(cid),
                self.modbus_phases.get(cid),
            )  # fmt: skip
            if d.decide(now, wish) != before:
                seen = f"{rooms[0]:.1f} A on one, {rooms[1]:.1f} A on three"
                self.trace(f"connector {cid}: {before} -> {d.phases} phases ({seen})")
                asks[cid] = replace(ask, phases=physical)  # its car may still draw on the old phases

    # -- the allocation ------------------------------------------------------------------------------------
    def charging_phases(self, cid: int) -> int:
        """How many phases a limit in W is spread over: for a socket the phases its car will really draw on
        (as seen in this session, else every phase the socket has, or its relay gives); for 0 the station's
        connected phases."""
        connected = read_field(self.config, "connected")
        if cid == 0 or cid not in self.connectors:
            return len(connected)
        d = self.deciders.get(cid)
        if d is not None:
            return self.cars[cid].count(tuple(connected[: d.phases]))
        phases = socket_phases(connected, self.connectors[cid], read_field(self.config, "max_allowed_phases"))
        return self.cars[cid].count(phases)

    def meter_room(self, s: EnergySettings, now: float) -> tuple[float, float, float] | None:
        """The fuse headroom per grid phase; None when load balancing has no valid reading (safe current)."""
        _, usable = self.source(s)
        return self.watch.room(now, s.fuse_a) if usable else None

    def rooms(
        self, s: EnergySettings, now: float, station_cap: float | None = None
    ) -> tuple[list[float | None], list[float | None]]:
        """(static room, full room) per grid phase: without and with the grid meter's limit (or the safe
        current standing in for it). Only the grid phases the station is connected to have a room.
        `station_cap`: a further station-wide limit (the smart charging ChargePointMaxProfile)."""
        static: list[float | None] = [None, None, None]
        station = s.station_max_a if station_cap is None else min(s.station_max_a, station_cap)
        scn = (
            self.setpoints.phase_limits(now, s.mbs_mode, s.mbs_validity_s, s.safe_a)
            if self.modbus_enabled
            else [None, None, None]
        )
        for p in s.connected:
            lim = scn[p]
            static[p] = station if lim is None else min(station, lim)
        full = list(static)
        if s.active_lb:
            meter = self.meter_room(s, now)
            for p in s.connected:
                lim = meter[p] if meter is not None else s.safe_a
                cur = full[p]
                full[p] = lim if cur is None else min(cur, lim)
        return static, full

    def _asks(
        self, s: EnergySettings, now: float, socket_max: Mapping[int, float], active: set[int], running: set[int]
    ) -> dict[int, SocketAsk]:
        currents = self.socket_currents()
        asks: dict[int, SocketAsk] = {}
        for cid, own_max in socket_max.items():
            cap = max(0.0, float(own_max))
            if self.modbus_enabled:
                lim = self.setpoints.socket_limit(cid, now, s.mbs_mode, s.mbs_validity_s, s.safe_a)
                if lim is not None:
                    cap = min(cap, lim)
                lost = self.setpoints.scn_socket_limit(now, s.mbs_mode, s.mbs_validity_s, s.scn_socket_safe_a)
                if lost is not None:
                    cap = min(cap, lost)
            phases = self._phases_of(s.connected, cid, now, s.max_allowed_phases)
            cur = currents.get(cid)
            car = self.cars.setdefault(cid, CarPhases(OWN_SAMPLE_SKEW_S))
            if cid in active:
                car.see(now, drawn_phases(cur, s.connected))
            else:
                car.reset()
            demand = self.demands.setdefault(cid, DemandTracker())
            if s.static_lb and cid in running and len(running) > 1:
                # what its car takes: 0 when the socket meter sees nothing drawn (state B, or under 1 A)
                peak = max((abs(a) for a in cur), default=0.0) if cur is not None else None
                cap = demand.step(now, cap, self.smoothers[cid].offer, peak)
            else:
                demand.reset()
            asks[cid] = SocketAsk(cap, phases, car.flow(phases))
        return asks

    def offers(
        self,
        socket_max: Mapping[int, float],
        active: set[int],
        station_cap: float | None = None,
        held: set[int] | frozenset[int] = frozenset(),
    ) -> dict[int, float]:
        """The current (A) to offer each socket now (see the module docstring). `socket_max`: each socket's
        own limits; `active`: sockets with a transaction; `held`: those of them the station holds (suspended
        session, stop requested, unavailable); `station_cap`: a station-wide limit besides
        Station-MaxCurrent (None or inf: none)."""
        if station_cap is not None and not math.isfinite(station_cap):
            station_cap = None
        s = self.settings()
        now = self.clock.monotonic()
        self.note_samples(s, now)
        imbalance = s.imbalance_limit
        running = {cid for cid in active if cid in socket_max and cid not in held}
        asks = self._asks(s, now, socket_max, active, running)
        static, full = self.rooms(s, now, station_cap)
        self.last_room = full
        self._decide_phases(s, now, asks, running, full, imbalance)
        meter_lost = s.active_lb and self.meter_room(s, now) is None
        wanted = {cid: asks[cid] for cid in running}
        target = allocate_sockets(wanted, full, imbalance)
        unconstrained = allocate_sockets(wanted, static, imbalance)
        suspended = self.external_suspend
        desired: dict[int, float] = {}
        for cid in socket_max:
            sm = self.smoothers.setdefault(cid, OfferSmoother(self.hysteresis))
            if cid in running:
                offer = sm.step(now, target[cid], unconstrained[cid], meter_lost)
                desired[cid] = 0.0 if suspended else offer
            else:
                if cid not in active:
                    sm.reset()
                desired[cid] = 0.0
        history = {cid: self.may_draw.setdefault(cid, MayDraw(self.reaction_s)) for cid in socket_max}
        may = {cid: h.reference(now) for cid, h in history.items()}
        out = sequence_raises(desired, may, asks, full, imbalance)
        if s.active_lb and not meter_lost and self.watch.uncertain:
            # the latest reading cannot tell the house from the station: raise nothing until one can
            out = {cid: min(amps, history[cid].offer) for cid, amps in out.items()}
        for cid, h in history.items():
            h.update(now, out[cid])
        previews = {
            cid: 0.0 if suspended else self._offer_if_started(cid, asks, running, out, may, full, imbalance)
            for cid in socket_max
            if cid not in active
        }
        out.update(previews)
        self.last_offers = out
        return out

    def _offer_if_started(
        self,
        cid: int,
        asks: Mapping[int, SocketAsk],
        running: set[int],
        out: Mapping[int, float],
        may: Mapping[int, float],
        room: list[float | None],
        imbalance: float | None,
    ) -> float:
        """What an idle socket would be offered if its car started now: its share with the running ones,
        as far as what they may still draw leaves room for it."""
        joined = {c: asks[c] for c in running | {cid}}
        share = allocate_sockets(joined, room, imbalance)[cid]
        if share <= 0.0:
            return 0.0
        others = {c: max(out[c], may[c]) for c in asks if c != cid}
        return allocate_sockets(
            {cid: replace(asks[cid], cap_a=share)}, room, imbalance, background=Background.of(others, asks)
        )[cid]

    # -- the periodic task ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Poll the grid meter every `poll_s` on the station's clock; never dies of a bad reading."""
        while True:
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - load balancing must keep running; the safe current covers us
                log.exception("energy poll failed")
            await self.clock.sleep(self._until_next_poll())

    def _until_next_poll(self) -> float:
        """`poll_s`, or less when a Modbus setpoint runs out sooner: its fallback applies at once."""
        now = self.clock.monotonic()
        expiry = self.setpoints.next_expiry(now, read_field(self.config, "mbs_validity_s"))
        return self.poll_s if expiry is None else max(0.0, min(self.poll_s, expiry - now + 0.001))

    # -- reporting -----------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        s = self.settings()
        now = self.clock.monotonic()
        src, usable = self.source(s)
        meter: dict[str, Any] = {"selected": src.kind, "board_driver": self.grid_driver, "usable": usable}
        if src.problem or self.meter_note:
            meter["note"] = self.meter_note or src.problem
        if s.active_lb:
            meter["valid"] = usable and not self.watch.lost(now)
            meter["measured"] = list(self.watch.last_measured) if self.watch.last_measured else None
            house = self.watch.house(now)
            meter["house"] = [round(h, 2) for h in house] if house else None
            meter["uncertain"] = self.watch.uncertain
        return {
            "active_lb": s.active_lb,
            "static_lb": s.static_lb,
            "meter": meter,
            "room": [None if r is None else round(r, 2) for r in self.last_room],
            "offers": dict(self.last_offers),
            "phase_connected": format_phases(s.connected),
            "phase_switching": {"enabled": s.phase_switching, "relays": sorted(self.relays),
                                "phases": {cid: d.phases for cid, d in self.deciders.items()}},
            "external_suspend": {"mode": s.suspend_mode, "contact_closed": self.suspend_input,
                                 "suspended": self.external_suspend},
            "modbus": {"enabled": self.modbus_enabled, "key": s.mbs_enabled, "mode": s.mbs_mode},
        }
