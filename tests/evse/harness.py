"""An in-process harness: the simulated world and the control loop stepped together on a fake clock.

Each tick does what the process runner does, with the runner's own I/O functions: `world.step(now)`, read the
inputs, `loop.step(now, inputs)`, write the outputs (contactors first, self-test before a close). The main
process is played by `limits()` (re-sent as the heartbeat every 0.5 s unless told otherwise) and `config()`,
and like the real one it keeps what must outlive a control process (the latched faults of every `State`, the
tilt calibration): `restart()` kills the loop (the world's coils fall to their pull-downs, the world stays) and
starts a new one that is handed them back. Every message the loop sends is kept in `messages`; `sent(tag)`
gives them as dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from board.loader import builtin_board, load_board
from controller.evse.connector import ConnectorController, ConnectorOutputs
from controller.evse.devio import read_inputs, write_outputs
from controller.evse.process import build_loop
from controller.evse.protocol import (
    Calibration,
    Config,
    ConnectorLimits,
    InMessage,
    Limits,
    OutMessage,
    Restore,
    State,
)
from hal.factory import build_power_path
from hal.interfaces import PilotOutput
from hal.sim.ev import EvProfile
from hal.sim.world import SimSocket, SimWorld

TICK = 0.01
START = 1000.0


class Harness:
    def __init__(
        self,
        board: str | Path = "sim",
        config: dict[str, str] | None = None,
        tick: float = TICK,
        heartbeat: bool = True,
    ) -> None:
        self.tick_s = tick
        self.n = 0
        self.now = START
        self.board = load_board(board if isinstance(board, Path) else builtin_board(board))
        self.pp = build_power_path(self.board, lambda: self.now)
        world = self.pp.world
        assert world is not None
        self.world: SimWorld = world
        self.loop = build_loop(self.board, START)
        self.heartbeat = heartbeat
        self._limits: dict[int, ConnectorLimits] = {}
        self._config: dict[str, str] = {}
        self.last_heartbeat = START
        self.last_pilot: dict[int, PilotOutput] = {}
        self._self_tests: dict[int, bool] = {}
        self.messages: list[OutMessage] = []
        self.outputs: dict[int, ConnectorOutputs] = {}
        self.latched: dict[int, tuple[str, ...]] = {}  # what the main process keeps across restarts
        self.tilt_vector: tuple[float, float, float] | None = None
        self.restarts = 0
        if config:
            self.config(config)

    # -- the main process's side ---------------------------------------------------------------------------
    def limits(
        self,
        cid: int = 1,
        max_current: float = 32.0,
        authorized: bool = True,
        suspended: bool = False,
        phases: int = 0,
    ) -> None:
        self._limits[cid] = ConnectorLimits(max_current, authorized, suspended, phases)
        self.send(Limits(dict(self._limits)))

    def config(self, values: dict[str, str]) -> None:
        self._config.update({k: v for k, v in values.items() if k != "CalibrateTilt"})
        self.send(Config(values))

    def send(self, msg: InMessage) -> None:
        if isinstance(msg, Limits):
            self.last_heartbeat = self.now
        self.loop.handle(self.now, msg)
        self._take(self.loop.drain())

    def _take(self, msgs: list[OutMessage]) -> None:
        for m in msgs:
            if isinstance(m, State):
                self.latched[m.connector] = m.latched
            elif isinstance(m, Calibration) and m.tilt_vector is not None:
                self.tilt_vector = m.tilt_vector
        self.messages.extend(msgs)

    def restart(self) -> None:
        """The control process dies and the main process starts a new one: the coils fall to their
        pull-downs, the world (cars, sensors) stays, the new loop gets back what the main process kept."""
        self.world.pull_down()
        self.restarts += 1
        self.loop = build_loop(self.board, self.now)
        self.last_pilot = {}
        self._self_tests = {}
        self.send(Restore(dict(self.latched), self.tilt_vector, restarted=True))
        if self._config:
            self.send(Config(dict(self._config)))
        self.send(Limits(dict(self._limits)))

    # -- the car's side ------------------------------------------------------------------------------------
    def sock(self, cid: int = 1) -> SimSocket:
        return self.world.sockets[cid]

    def sim(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self.world.command(cmd, args)

    def plug(self, cid: int = 1, cable_a: float = 32.0, **profile: Any) -> None:
        self.sock(cid).ev.plug(EvProfile(**profile), cable_a=cable_a)

    def unplug(self, cid: int = 1) -> None:
        """The car leaves; tick until the loop has confirmed state A (the debounce)."""
        self.sock(cid).ev.unplug()
        self.run_until(lambda: self.state(cid) == "A", 1.0, "state A")

    # -- time --------------------------------------------------------------------------------------------------
    def tick(self) -> None:
        self.n += 1
        self.now = START + self.n * self.tick_s
        if self.heartbeat and self.now - self.last_heartbeat >= 0.5:
            self.send(Limits(dict(self._limits)))
        self.world.step(self.now)
        inputs = read_inputs(self.pp, self._self_tests)
        self.outputs = self.loop.step(self.now, inputs)
        self._self_tests = write_outputs(self.pp, self.outputs, self.last_pilot)
        self._take(self.loop.drain())

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / self.tick_s)):
            self.tick()

    def run_until(self, pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
        """Tick until `pred()` holds; returns the fake time it took."""
        t0 = self.now
        while not pred():
            if self.now - t0 > timeout:
                raise AssertionError(f"not within {timeout} s (fake time): {what}; status {self.status()}")
            self.tick()
        return self.now - t0

    # -- what the loop does ------------------------------------------------------------------------------------
    def ctl(self, cid: int = 1) -> ConnectorController:
        return self.loop.connectors[cid]

    def status(self, cid: int = 1) -> dict[str, Any]:
        return self.ctl(cid).status().as_dict()

    def state(self, cid: int = 1) -> str:
        return self.ctl(cid).state.value

    def closed(self, cid: int = 1) -> bool:
        """The contactor as commanded by the loop (what the device got)."""
        return self.sock(cid).contactor.commanded

    def faults(self, cid: int = 1) -> list[str]:
        return list(self.status(cid)["faults"])

    def duty(self, cid: int = 1) -> float | None:
        return self.ctl(cid).status().pwm_duty

    def charge(self, cid: int = 1, max_current: float = 32.0, **profile: Any) -> None:
        """Plug a car, authorise, run until the contactor is closed and the car draws."""
        self.limits(cid, max_current)
        self.plug(cid, **profile)
        self.run_until(lambda: self.closed(cid), 5, "contactor closed")
        self.run_until(lambda: self.sock(cid).meter.currents[0] > 1.0, 5, "the car draws")

    def sent(self, tag: str) -> list[dict[str, Any]]:
        """The messages of one type the loop sent, as dicts (with "t")."""
        return [{"t": tag, **dataclasses.asdict(m)} for m in self.messages if type(m).TAG == tag]


def board_file(tmp_path: Path, edit: Callable[[str], str], base: str = "sim") -> Path:
    """A copy of a shipped board file with `edit` applied to its text."""
    path = tmp_path / f"{base}-edited.toml"
    path.write_text(edit(builtin_board(base).read_text()))
    return path
