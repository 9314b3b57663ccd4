"""Energy management in the main process: the thin stateful part around the pure allocation.

`EnergyManager` owns the grid meter poll (a task that sleeps on the injectable clock), the Modbus setpoints,
the external suspend state and the per-socket hysteresis, and answers one question for the composition root:
`offers(socket_max, active)` -> the current (A) to offer each socket now. The control loop still decides
(it applies its own Station-MaxCurrent share and every safety limit); this only asks.

Per socket the offer is the max-min fair allocation (`controller.energy.allocator`) of
- the socket's own limits (`socket_max`: ConnectorN-MaxCurrent, the board's rating, smart charging),
- its Modbus setpoint (MbsSlaveTCPIPMode Socket) or Safe-MaxCurrent once that expired,
- with Static-LoadBalancing, what its car really takes (`DemandTracker`),
under, per grid phase, the least of Station-MaxCurrent, the Modbus SCN setpoint (mode SCN), and with
Active-LoadBalancing the fuse headroom SmartMeter-MaxCurrent - house load (`GridWatch`) or, with no valid
reading for the meter validity time, Safe-MaxCurrent; then MaxImbalanceCurrent; then the 6 A rule and the
hysteresis of `OfferSmoother`. Timing: the meter is read every `poll_s` (1 s) and the offers are republished
after every read, so a rising house load lowers the PWM within about a second; the car has 5 s to follow.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controller.clock import Clock
from controller.energy.allocator import SocketAsk, allocate_sockets, offer_if_joined
from controller.energy.balance import DemandTracker, Hysteresis, OfferSmoother
from controller.energy.meter import METER_VALIDITY_S, GridWatch, MeterSource, board_serves, select_source
from controller.energy.phases import PHASE_SWITCH_RELAY, drawn_phases, format_phases, socket_phases, to_grid
from controller.energy.setpoints import Setpoints
from controller.energy.settings import KEYS, EnergySettings
from controller.energy.suspend import external_suspend

log = logging.getLogger(__name__)

POLL_S = 1.0

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
    ) -> None:
        """`connectors`: socket id -> number of phases it is wired for (board file)."""
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
        self.watch = GridWatch(meter_validity_s)
        self.setpoints = Setpoints(tuple(sorted(self.connectors)))
        self.smoothers = {cid: OfferSmoother(hysteresis) for cid in self.connectors}
        self.demands = {cid: DemandTracker() for cid in self.connectors}
        self.suspend_input: bool | None = None
        # MbsSlaveTCPIP as it was when the station started (the key needs a reboot): set by the Modbus slave.
        # While true, Modbus setpoints (or Safe-MaxCurrent once they expire) limit per MbsSlaveTCPIPMode.
        self.modbus_enabled = False
        self.last_offers: dict[int, float] = {cid: 0.0 for cid in self.connectors}
        self.last_room: list[float | None] = [None, None, None]
        self.meter_note: str | None = None
        self._meter_state: str | None = None
        self._suspended = False
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

    def poll_once(self) -> None:
        """Read the grid meter once (when load balancing uses it) and re-run the allocation."""
        s = self.settings()
        _, usable = self.source(s)
        now = self.clock.monotonic()
        if usable and self.grid_meter is not None:
            reading: Sequence[float] | None
            try:
                reading = tuple(self.grid_meter.read().currents_a)
            except Exception as exc:  # noqa: BLE001 - DeviceError or a driver bug: the reading is missing
                log.debug("grid meter read failed: %s", exc)
                reading = None
            self.reads += 1
            self.watch.update(now, reading, self.own_grid_currents(s), s.includes_charger)
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
        return external_suspend(self.settings().suspend_mode, self.suspend_input)

    def write_socket_setpoint(self, cid: int, value: float) -> None:
        self.setpoints.write_socket(cid, value, self.clock.monotonic())
        self.on_change()

    def write_phase_setpoint(self, phase: int, value: float) -> None:
        self.setpoints.write_phase(phase, value, self.clock.monotonic())
        self.on_change()

    # -- the allocation ------------------------------------------------------------------------------------
    def rooms(
        self, s: EnergySettings, now: float, station_cap: float | None = None
    ) -> tuple[list[float | None], list[float | None]]:
        """(static room, full room) per grid phase: without and with the grid meter's limit.
        `station_cap`: a further station-wide limit (the smart charging ChargePointMaxProfile)."""
        static: list[float | None] = [None, None, None]
        station = s.station_max_a if station_cap is None else min(s.station_max_a, station_cap)
        for p in s.connected:
            static[p] = station
        if self.modbus_enabled:
            for p, lim in enumerate(self.setpoints.phase_limits(now, s.mbs_mode, s.mbs_validity_s, s.safe_a)):
                if lim is not None:
                    cur = static[p]
                    static[p] = lim if cur is None else min(cur, lim)
        full = list(static)
        if s.active_lb:
            _, usable = self.source(s)
            meter = self.watch.room(now, s.fuse_a) if usable else None
            for p in range(3):
                lim = meter[p] if meter is not None else s.safe_a
                cur = full[p]
                full[p] = lim if cur is None else min(cur, lim)
        return static, full

    def offers(
        self, socket_max: Mapping[int, float], active: set[int], station_cap: float | None = None
    ) -> dict[int, float]:
        """The current (A) to offer each socket now (see the module docstring). `socket_max`: each socket's
        own limits; `station_cap`: a station-wide limit besides Station-MaxCurrent (None or inf: none)."""
        if station_cap is not None and not math.isfinite(station_cap):
            station_cap = None
        s = self.settings()
        now = self.clock.monotonic()
        currents = self.socket_currents()
        imbalance = s.imbalance_limit
        asks: dict[int, SocketAsk] = {}
        for cid, own_max in socket_max.items():
            cap = max(0.0, float(own_max))
            if self.modbus_enabled:
                lim = self.setpoints.socket_limit(cid, now, s.mbs_mode, s.mbs_validity_s, s.safe_a)
                if lim is not None:
                    cap = min(cap, lim)
            phases = socket_phases(s.connected, self.connectors.get(cid, 3), s.max_allowed_phases)
            cur = currents.get(cid)
            drawn = drawn_phases(cur, s.connected) if cid in active else None
            flow = tuple(p for p in drawn if p in phases) if drawn else None
            if s.static_lb and cid in active and len(active) > 1:
                peak = max((abs(a) for a in cur), default=0.0) if cur else None
                cap = self.demands[cid].step(now, cap, self.smoothers[cid].offer, peak if drawn else None)
            else:
                self.demands[cid].reset()
            asks[cid] = SocketAsk(cap, phases, flow or None)
        static, full = self.rooms(s, now, station_cap)
        self.last_room = full
        running = {cid: a for cid, a in asks.items() if cid in active}
        target = allocate_sockets(running, full, imbalance)
        unconstrained = allocate_sockets(running, static, imbalance)
        out: dict[int, float] = {}
        for cid in socket_max:
            if cid in active:
                out[cid] = self.smoothers[cid].step(now, target[cid], unconstrained[cid])
            else:
                self.smoothers[cid].reset()
                out[cid] = offer_if_joined(asks, active, cid, full, imbalance)
        self.last_offers = out
        return out

    # -- the periodic task ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Poll the grid meter every `poll_s` on the station's clock; never dies of a bad reading."""
        while True:
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - load balancing must keep running; the safe current covers us
                log.exception("energy poll failed")
            await self.clock.sleep(self.poll_s)

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
        return {
            "active_lb": s.active_lb,
            "static_lb": s.static_lb,
            "meter": meter,
            "room": [None if r is None else round(r, 2) for r in self.last_room],
            "offers": dict(self.last_offers),
            "phase_connected": format_phases(s.connected),
            "phase_switching": {"enabled": s.phase_switching, "relay": PHASE_SWITCH_RELAY},
            "external_suspend": {"mode": s.suspend_mode, "contact_closed": self.suspend_input,
                                 "suspended": self.external_suspend},
            "modbus": {"enabled": self.modbus_enabled, "key": s.mbs_enabled, "mode": s.mbs_mode},
        }

