"""The coordinator of a Smart Charging Network: every `round_s` it reads every station, allocates
SCN-TotalStaticCurrent (`controller.scn.allocation`) and writes each station its setpoints, lowering first
and raising only what the ledger (`controller.scn.ledger`) allows, so the network's sum stays within the
total at every instant: through lost members, a member that answers late, and its own restart.

- A member that does not answer keeps its sockets as last seen and is counted at what it may still hold,
  then at its safe current; a member never reached counts as two three-phase sockets.
- A member whose MbsSlaveTCPIPMode is not SCN ignores setpoints: counted at its sockets' maximum, reported.
- A member that refuses the setpoints with exception 01 is itself a coordinator: a configuration error both
  report (the refusing side in `controller.modbus.slave`). No election: the board file says who coordinates.
- Active load balancing (Active-LoadBalancing on the coordinator, `meter_room` given): the total is further
  limited per feeder phase by the coordinator's grid meter headroom (SmartMeter-MaxCurrent - house load, its
  own draw already taken out) plus what the other stations report drawing now (1405..1409), for a meter that
  sees the whole network. Their readings are not aligned in time with the meter's (unlike the station's own,
  `controller.energy.meter`), so a member changing its draw between the two readings skews the room for one
  round.
- Stations are fed by one cable (Alfen: SCN-PhaseMapping-1 = -2 on single-feeder models): a member's list
  entry gives one mapping; its own station with two different mappings is reported and counted at its maximum.
- Its own sockets take the setpoints in-process (`EnergyManager.write_phase_setpoint`); they too are in SCN
  mode, so they fall back to SCN-SocketSafeCurrent if this task stalls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from controller.clock import Clock
from controller.ports import Settings, SocketsView, Trace
from controller.scn.allocation import Allocation, allocate, feeder_phases, station_setpoints, turn_of
from controller.scn.client import ModbusClient, ModbusError, closing
from controller.scn.ledger import UNKNOWN, Ledger
from controller.scn.settings import MemberSpec, ScnBoard, ScnSettings
from controller.scn.stations import (
    COORDINATOR_REFUSES,
    SocketSeen,
    StationView,
    asking,
    poll_member,
    write_member,
)

log = logging.getLogger(__name__)

OWN = "self"


class OwnEnergy(Protocol):
    """What the coordinator asks of its own station's energy management (whose setpoints count only while
    its Modbus slave runs in SCN mode: `modbus_enabled` and MbsSlaveTCPIPMode SCN)."""

    modbus_enabled: bool

    def write_phase_setpoint(self, phase: int, value: float) -> None: ...


class Coordinator:
    def __init__(
        self,
        config: Settings,
        clock: Clock,
        sockets: SocketsView,
        socket_phases: Mapping[int, int],
        energy: OwnEnergy,
        board: ScnBoard,
        trace: Trace,
        meter_room: Callable[[], Sequence[float] | None] = lambda: None,
        round_s: float | None = None,
    ) -> None:
        self.config, self.clock, self.sockets, self.energy = config, clock, sockets, energy
        self.socket_phases = dict(socket_phases)
        self.board, self.trace, self.meter_room = board, trace, meter_room
        s = ScnSettings.read(config)
        self.round_s = round_s if round_s is not None else max(0.1, min(1.0, s.validity_s / 4))
        self.members: dict[str, MemberSpec] = {m.name: m for m in board.members}
        self.clients: dict[str, ModbusClient] = {}
        self.views: dict[str, StationView] = {}
        self.ledger = Ledger([s.total_a] * 3, s.validity_s, clock.monotonic(), follow_s=board.car_follow_s)
        self.last: Allocation | None = None
        self.problems: dict[str, str] = {}
        self.rounds = 0

    def add_member(self, spec: MemberSpec) -> None:
        """A member found while running (mDNS)."""
        if spec.name not in self.members:
            self.members[spec.name] = spec
            self.trace(f"SCN: member {spec.name} found")

    def second_coordinator(self, address: str) -> None:
        """Another station announces itself as coordinator of this network."""
        self._report(f"{address} role", "announces itself as coordinator too (configuration error)")

    # -- one round -------------------------------------------------------------------------------------------
    def own_view(self, s: ScnSettings) -> StationView:
        seen = tuple(
            SocketSeen(cid, self.socket_phases.get(cid, 3), asking(self.sockets[cid].cp_state, not self.sockets[cid].unavailable))
            for cid in self.sockets
        )
        # one mapping per station (both sockets on one feeder cable): socket 1's
        scn = s.mode == "SCN" and self.energy.modbus_enabled
        error = None if scn else "this coordinator needs MbsSlaveTCPIP On and MbsSlaveTCPIPMode SCN"
        if len(seen) > 1 and s.mappings[0] != s.mappings[1]:  # its setpoints are per station phase
            scn, error = False, "SCN-PhaseMapping-2 differs from -1 (two feeder cables): counted at its maximum"
        return StationView(OWN, s.mapping(1), 32.0, seen, True, scn, error)

    async def _poll(self, spec: MemberSpec) -> StationView:
        client = self.clients.setdefault(spec.name, ModbusClient(spec.host, spec.port))
        try:
            return await poll_member(client, spec)
        except ModbusError as exc:
            prev = self.views.get(spec.name)
            socks = prev.sockets if prev else (SocketSeen(1, 3, False), SocketSeen(2, 3, False))
            return StationView(spec.name, spec.phase_mapping, spec.max_current, socks, False, True,
                               f"not reachable ({exc}): counted at its safe current")

    async def round(self) -> Allocation:
        s = ScnSettings.read(self.config)
        self.ledger.total = (s.total_a, s.total_a, s.total_a)
        self.ledger.validity_s = s.validity_s
        views = [self.own_view(s), *await asyncio.gather(*(self._poll(m) for m in list(self.members.values())))]
        now = self.clock.monotonic()  # after the reads: the seconds left they report count from before now
        for v in views:
            self.views[v.name] = v
            self.ledger.station(v.name, v.safe(s.socket_safe_a if v.scn_mode else v.max_current), v.name == OWN)
            if v.held_s > 0:
                self.ledger.observed(v.name, v.to_feeder(v.held), v.held_s, now)
            longer = v.held_s > s.validity_s + 1  # seconds left are rounded up
            self._report(v.name, v.error or (f"its setpoints run for {v.held_s:g} s, longer than this coordinator's "
                                             "MbsSlaveTCPIPValidityTime (must be identical)" if longer else None))
        net = [sock for v in views if v.scn_mode for sock in v.net_sockets()]
        available = self._available(s, views)
        for v in views:
            if not v.scn_mode:  # it takes what it likes, up to its sockets' maximum
                available = [available[p] - v.safe(v.max_current)[p] for p in range(3)]
        alloc = allocate(net, available, s.socket_safe_a, turn_of(now, s.period_s, sum(n.asking for n in net)))
        self._report("allocation", alloc.problem)
        targets = {
            v.name: station_setpoints(alloc.grants, v.name, {x.cid: x.phases for x in v.sockets})
            for v in views if v.scn_mode and v.reachable
        }
        await self._write(targets, now)
        self.last, self.rounds = alloc, self.rounds + 1
        return alloc

    def _available(self, s: ScnSettings, views: Sequence[StationView]) -> list[float]:
        room = self.meter_room()
        if room is None:
            return [s.total_a] * 3
        others = [sum(v.draw[p] for v in views if v.name != OWN) for p in range(3)]
        return [min(s.total_a, float(room[p]) + others[p]) for p in range(3)]

    async def _write(self, targets: Mapping[str, tuple[float, float, float]], now: float) -> None:
        """Lower (or keep) first, all at once; then raise into what the ledger allows once they answered. Each
        raise is checked and claimed before any of them is sent, so they may travel together."""
        lowers: list[str] = []
        raises: list[str] = []
        for name, station in targets.items():
            feeder = self.views[name].to_feeder(station)
            book = self.ledger.books[name]
            bound = book.bound(now)
            # not above what it is known to hold, or not above its safe current: raises nothing
            lower = all(feeder[p] <= bound[p] < UNKNOWN or feeder[p] <= book.safe[p] for p in range(3))
            (lowers if lower else raises).append(name)
        await asyncio.gather(*(self._deliver(n, targets[n], self._claim(n, targets[n])) for n in lowers))
        now = self.clock.monotonic()
        sends = []
        for name in raises:
            value = targets[name]
            if not self.ledger.allowed(name, self.views[name].to_feeder(value), now):
                # what it holds, where it holds less than asked (a later round raises it once there is room)
                bound = self.ledger.books[name].bound(now)
                value = self._to_station(name, [min(f, b) for f, b in zip(self.views[name].to_feeder(value), bound, strict=True)])
                if not self.ledger.allowed(name, self.views[name].to_feeder(value), now):
                    continue
            sends.append(self._deliver(name, value, self._claim(name, value)))
        await asyncio.gather(*sends)

    def _to_station(self, name: str, feeder: Sequence[float]) -> tuple[float, float, float]:
        out = [0.0, 0.0, 0.0]
        for q, p in enumerate(feeder_phases(self.views[name].mapping)):
            out[q] = feeder[p]
        return (out[0], out[1], out[2])

    def _claim(self, name: str, station: tuple[float, float, float]) -> int:
        return self.ledger.sent(name, self.views[name].to_feeder(station), self.clock.monotonic())

    async def _deliver(self, name: str, station: tuple[float, float, float], ref: int) -> None:
        if name == OWN:
            for q in range(3):
                self.energy.write_phase_setpoint(q, station[q])
            self.ledger.answered(name, ref, self.clock.monotonic())
            return
        try:
            await write_member(self.clients[name], station)
        except ModbusError as exc:
            self.ledger.failed(name, ref, self.clock.monotonic())
            if exc.code == COORDINATOR_REFUSES:
                self._report(f"{name} role", "refuses SCN setpoints: it is a coordinator too (configuration error)")
            return
        self.ledger.answered(name, ref, self.clock.monotonic())
        self._report(f"{name} role", None)

    def _report(self, what: str, problem: str | None) -> None:
        if self.problems.get(what) == problem:
            return
        if problem is None:
            self.problems.pop(what, None)
            self.trace(f"SCN: {what}: ok")
        else:
            self.problems[what] = problem
            log.warning("SCN: %s: %s", what, problem)
            self.trace(f"SCN: {what}: {problem}")

    # -- the task ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.round()
                except Exception:  # noqa: BLE001 - the members fall back to their safe current meanwhile
                    log.exception("SCN round failed")
                await self.clock.sleep(self.round_s)
        finally:
            await closing(list(self.clients.values()))

    def status(self) -> dict[str, Any]:
        now = self.clock.monotonic()
        return {
            "role": "coordinator",
            "waiting": now < self.ledger.wait_until,
            "stations": {n: {"reachable": v.reachable, "bound": list(self.ledger.books[n].bound(now))}
                         for n, v in self.views.items() if n in self.ledger.books},
            "grants": {f"{k[0]}/{k[1]}": g for k, g in (self.last.grants.items() if self.last else [])},
            "problems": dict(self.problems),
        }
