"""The Smart Charging Network part of a station, as the composition root builds it: binds the SCN-* keys,
and runs the coordinator (board `[scn] role = "coordinator"`) or, with `discover`, announces the member.

A coordinator's own Modbus slave refuses SCN setpoints (`AlfenSlave.coordinator`): a master writing them is a
second coordinator. `SCN-IsEnabled` reads true on every station of an SCN (one with an `[scn]` section).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from board.loader import Board
from controller.clock import Clock
from controller.config.registry import ConfigRegistry
from controller.energy.manager import EnergyManager
from controller.ports import SocketsView, Trace
from controller.scn.coordinator import Coordinator
from controller.scn.discovery import Announcer, Browser
from controller.scn.settings import CONFIG_KEYS, ScnBoard, ScnSettings


class Slave(Protocol):
    coordinator: bool
    running: bool

    @property
    def port(self) -> int: ...


class ScnService:
    def __init__(
        self,
        config: ConfigRegistry,
        clock: Clock,
        sockets: SocketsView,
        socket_phases: Mapping[int, int],
        energy: EnergyManager,
        slave: Slave,
        section: Mapping[str, object],
        host: str,
        trace: Trace,
    ) -> None:
        self.config, self.clock, self.energy, self.slave, self.host, self.trace = config, clock, energy, slave, host, trace
        self.board = ScnBoard.of(section)
        config.bind("scn", [k for k in CONFIG_KEYS if k != "SCN-IsEnabled"])
        config.bind("scn", ["SCN-IsEnabled"], live=lambda: "true" if self.board.role else "false")
        self.coordinator = (
            Coordinator(config, clock, sockets, socket_phases, energy, self.board, trace, self._meter_room)
            if self.board.coordinator else None
        )

    @staticmethod
    def of(board: Board, config: ConfigRegistry, clock: Clock, sockets: SocketsView, energy: EnergyManager,
           slave: Slave, host: str, trace: Trace) -> ScnService:
        """The service for `board` (its `[scn]` section and its sockets' phases)."""
        phases = {c.id: c.phases for c in board.connectors}
        return ScnService(config, clock, sockets, phases, energy, slave, board.scn, host, trace)

    def _meter_room(self) -> Sequence[float] | None:
        """With Active-LoadBalancing, the grid meter's headroom (Safe-MaxCurrent while it has no reading)."""
        s = self.energy.settings()
        if not s.active_lb:
            return None
        room = self.energy.meter_room(s, self.clock.monotonic())
        return list(room) if room is not None else [s.safe_a] * 3

    def _txt(self) -> dict[str, str]:
        s = ScnSettings.read(self.config)
        return {"network": self.config.get("SCN-NetworkName"), "role": self.board.role or "",
                "mapping": str(s.mappings[0]), "max_current": "32"}

    def status(self) -> dict[str, Any]:
        """For the sim control API and diagnostics: the role, and the coordinator's view of the network."""
        if self.coordinator is not None:
            return self.coordinator.status()
        return {"role": self.board.role}

    async def run(self) -> None:
        """For ever: coordinate, or stay announced (a station outside an SCN just waits)."""
        if self.coordinator is not None:
            self.slave.coordinator = True
        announcer = browser = None
        try:
            if self.board.discover and self.slave.running:
                name = f"scn-{self.slave.port}-{self.config.get('Identity')}".replace(".", "-")
                announcer = Announcer(name, self.host, self.slave.port, self._txt())
                await announcer.start()
                if self.coordinator is not None:
                    coord = self.coordinator
                    browser = Browser(self.host, self._txt()["network"], name, coord.add_member, coord.second_coordinator)
                    await browser.start()
            if self.coordinator is not None:
                await self.coordinator.run()
            else:
                await asyncio.Event().wait()
        finally:
            for part in (browser, announcer):
                if part is not None:
                    with contextlib.suppress(Exception):
                        await part.stop()
