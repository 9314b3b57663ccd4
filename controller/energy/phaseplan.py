"""The phase count of each socket with a 1/3-phase relay, for energy allocation: who wishes what (register
1215 as a master wrote it, the charging schedule's numberPhases), what each relay socket would get on one and on
three phases (a trial allocation), and the `PhaseDecider` of each that turns it into a decision. A socket whose
phases changed less than `reaction_s` ago counts on every phase: its car may still draw on the old ones.

Owned by `EnergyManager`, which calls `decide` before each fill."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from controller.energy.allocator import SocketAsk, allocate_sockets
from controller.energy.phases import PhaseDecider, PhaseWish, socket_phases
from controller.energy.settings import EnergySettings


class PhasePlan:
    def __init__(
        self,
        connectors: dict[int, int],
        relays: Collection[int],
        now: float,
        reaction_s: float,
        trace: Callable[[str], None],
    ) -> None:
        """`connectors`: socket id -> phases it is wired for; `relays`: the sockets with a phase relay (only
        three-phase ones count)."""
        self.connectors = connectors
        self.relays = frozenset(cid for cid in relays if connectors.get(cid) == 3)
        self.deciders = {cid: PhaseDecider(now) for cid in sorted(self.relays)}
        self.modbus_phases: dict[int, int] = {}  # register 1215 as a master wrote it
        # numberPhases of the charging schedule in force (the composition root connects smart charging)
        self.profile_phases: Callable[[int], int | None] = lambda cid: None
        self.reaction_s = reaction_s
        self.trace = trace

    def phases_for(self, cid: int) -> int:
        """The phases a socket's limits are meant for and its relay should switch to; 0: no relay (any)."""
        d = self.deciders.get(cid)
        return 0 if d is None else d.phases

    def phases_of(self, connected: tuple[int, ...], cid: int, now: float, max_allowed: int) -> tuple[int, ...]:
        """The grid phases a socket's car may draw on. A relay socket whose phases changed less than
        `reaction_s` ago counts on all of them: its car may still draw on the old ones."""
        d = self.deciders.get(cid)
        if d is None:
            return socket_phases(connected, self.connectors.get(cid, 3), max_allowed)
        physical = tuple(connected[:3])
        return physical if now - d.changed_at < self.reaction_s else physical[: d.phases]

    def decide(
        self,
        s: EnergySettings,
        now: float,
        asks: dict[int, SocketAsk],
        running: set[int],
        room: list[float | None],
        imbalance: float | None,
    ) -> None:
        """Each relay socket's phase count (`PhaseDecider`), from what it would get on one and on three; a
        socket that switched is asked for on every phase (in `asks`) until its car has followed."""
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

    def status(self, enabled: bool) -> dict[str, object]:
        return {"enabled": enabled, "relays": sorted(self.relays),
                "phases": {cid: d.phases for cid, d in self.deciders.items()}}
