"""Main-process side of the control process: starts it (after the simulated plant, on a simulated board),
talks to it over THE channel (`protocol.py`), restarts it when it dies, and keeps what must outlive it.

The main process only *asks*: `set_limits()` publishes per-connector limits (re-sent every 0.5 s, which is
also the heartbeat the loop watches), `send_config()` forwards evse-owned keys, `sim()` forwards simulator
commands (to the plant; `stall` to the loop) and waits for the reply. Messages from the loop, and this
supervisor's own events (`ControlDied`, `ControlHung`, `RestartLimitReached`), go to `on_message`. Sending
never blocks.

What outlives a control process: the latched faults of each connector (from every `State`), the tilt
calibration, the configuration and the limits. A new process gets them right after spawn, before anything
else can authorise it: `MainHello`, `Restore`, `Config`, `Limits`, in that order. Restarts are bounded: the
`max_restarts + 1`-th death within `restart_window_s` (counted on the injected clock) leaves the control
process down (its outputs at their hardware-safe states) and reports `RestartLimitReached`; only a station
restart (Reset) starts it again. Log lines of the loop (`Log`) go to this process's log.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from board.loader import load_board
from controller.evse.plant_link import PlantError, PlantLink
from controller.evse.protocol import (
    PROTOCOL_VERSION,
    BenchTiming,
    Calibration,
    ClearFaults,
    Config,
    ConnectorLimits,
    ControlDied,
    ControlHung,
    Decoder,
    Hello,
    Limits,
    Log,
    MainHello,
    OutMessage,
    RestartLimitReached,
    Restore,
    Shutdown,
    Stall,
    StallDone,
    State,
    Stats,
    SupervisorEvent,
    encode,
)
from controller.evse.socketlink import SocketLink

log = logging.getLogger(__name__)

LIMITS_RESEND_S = 0.5
ONE_SHOT_KEYS = frozenset({"CalibrateTilt"})
MAX_RESTARTS = 3
RESTART_WINDOW_S = 600.0
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class ControlProcessError(Exception):
    pass


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class ControlProcess:
    def __init__(
        self,
        board_path: Path,
        on_message: Callable[[OutMessage | SupervisorEvent], None],
        *,
        tick_s: float = 0.01,
        main_silence_s: float = 3.0,
        restart_delay_s: float = 0.5,
        hang_timeout_s: float = 5.0,
        watchdog_s: float | None = None,
        rt_priority: int = 0,
        clock: Callable[[], float] = time.monotonic,
        max_restarts: int = MAX_RESTARTS,
        restart_window_s: float = RESTART_WINDOW_S,
    ) -> None:
        self.board_path = board_path
        self.board = load_board(board_path)
        self._consumer = on_message  # takes the messages and this supervisor's events as they are
        self.tick_s = tick_s
        self.main_silence_s = main_silence_s
        self.restart_delay_s = restart_delay_s
        self.hang_timeout_s = hang_timeout_s
        self.watchdog_s = watchdog_s  # the control process's dead-man timeout; None: its default
        self.rt_priority = rt_priority  # > 0: the control process asks for SCHED_FIFO at this priority
        self.clock = clock  # counts restarts (the injected clock of the station)
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self._last_heard = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self.plant: PlantLink | None = None
        self._link: SocketLink | None = None
        self.restarts = 0
        self.restart_times: collections.deque[float] = collections.deque()
        self.gave_up = False
        self._spawned = False  # a control process was started before (the next one is a restart)
        self.refused: str | None = None
        self.hello: Hello | None = None
        self.last_stats: Stats | None = None
        self.latched: dict[int, tuple[str, ...]] = {}
        self.tilt_vector: tuple[float, float, float] | None = None
        # as the main process gave them (the app's status derivation reads this form); typed when sent
        self._limits: dict[str, dict[str, Any]] = {}
        self._config: dict[str, str] = {}
        self._decoder = Decoder()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[StallDone]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._hello_event = asyncio.Event()

    def on_message(self, msg: OutMessage | SupervisorEvent) -> None:
        """Hand a message (or an event of this supervisor) to the main process."""
        self._consumer(msg)

    @property
    def simulated(self) -> bool:
        return any(d.driver == "sim" for c in self.board.connectors for d in c.devices.values())

    # -- life cycle ------------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        parent, child = socket.socketpair()
        cmd = [
            sys.executable,
            "-m",
            "controller.evse.process",
            "--board",
            str(self.board_path),
            "--fd",
            str(child.fileno()),
            "--tick",
            str(self.tick_s),
            "--main-silence",
            str(self.main_silence_s),
        ]
        fds = [child.fileno()]
        if self.plant is not None:
            cmd += ["--bus-fd", str(self.plant.bus.fd)]
            fds.append(self.plant.bus.fd)
        if self.watchdog_s is not None:
            cmd += ["--watchdog", str(self.watchdog_s)]
        if self.rt_priority > 0:
            cmd += ["--rt-priority", str(self.rt_priority)]
        self.proc = subprocess.Popen(cmd, pass_fds=fds, env=_child_env(), start_new_session=True)
        child.close()
        if self.plant is not None:
            self.plant.attach(self.proc.pid)
        self._decoder = Decoder()
        self._hello_event.clear()
        self.hello = None
        self._last_heard = time.monotonic()
        self._link = SocketLink(parent, self._on_data, lambda: None)
        # before anything can authorise it: who we are, what it must not forget, what we ask of it
        self._send(MainHello(PROTOCOL_VERSION))
        self._send(Restore(dict(self.latched), self.tilt_vector, restarted=self._spawned))
        self._spawned = True
        if self._config:
            self._send(Config(dict(self._config)))
        self._send(self._limits_message())

    async def start(self, timeout: float = 10.0) -> None:
        self._stopping = False
        self.gave_up = False
        self.refused = None
        if self.simulated and self.plant is None:
            max_on = max(0.5, 2 * (self.watchdog_s if self.watchdog_s is not None else 0.25))
            self.plant = PlantLink(self.board_path, len(self.board.connectors), max_on, _child_env())
            await self.plant.start(timeout)
        self._spawn()
        self._tasks = [
            asyncio.create_task(self._watch(), name="control-watch"),
            asyncio.create_task(self._heartbeat(), name="control-heartbeat"),
        ]
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self._hello_event.wait(), timeout)
        except TimeoutError as exc:
            raise ControlProcessError(f"the control process did not start within {timeout} s") from exc
        if self.refused is not None:
            raise ControlProcessError(self.refused)

    async def stop(self) -> None:
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._tasks = []
        if self.proc and self.proc.poll() is None:
            self._send(Shutdown())
            for _ in range(50):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    await asyncio.to_thread(self.proc.wait, 2.0)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
        self._close_link()
        plant, self.plant = self.plant, None  # taken first: a second stop() while this one awaits finds none
        if plant is not None:
            await plant.stop()
            plant.close()

    def _close_link(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ControlProcessError("the control process went away"))
        self._pending.clear()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def note_restart(self) -> bool:
        """Count this restart; False when it would be one too many within the window."""
        now = self.clock()
        while self.restart_times and now - self.restart_times[0] > self.restart_window_s:
            self.restart_times.popleft()
        if len(self.restart_times) >= self.max_restarts:
            return False
        self.restart_times.append(now)
        return True

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.1)
            if self.plant is not None and not self.plant.alive and not self._stopping:
                log.error("the simulated plant died (exit %s); starting a new one", self.plant.proc and self.plant.proc.returncode)
                try:
                    await self.plant.start()
                    if self.alive and self.proc is not None:
                        self.plant.attach(self.proc.pid)
                except PlantError as exc:
                    log.error("%s", exc)
            if (
                self.proc is not None
                and self.proc.poll() is None
                and time.monotonic() - self._last_heard > self.hang_timeout_s
            ):
                log.error("control process silent for %.1f s: killing it", self.hang_timeout_s)
                self.on_message(ControlHung(round(time.monotonic() - self._last_heard, 1)))
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
            if self.proc is not None and self.proc.poll() is not None and not self._stopping and not self.gave_up:
                code = self.proc.returncode
                self._close_link()
                self.on_message(ControlDied(code))
                if not self.note_restart():
                    self.gave_up = True
                    log.error(
                        "control process died (exit %s), the %d. time within %.0f s: it stays down (outputs safe) "
                        "until the station is restarted",
                        code, self.max_restarts + 1, self.restart_window_s,
                    )
                    self.on_message(RestartLimitReached(self.max_restarts + 1, self.restart_window_s))
                    continue
                log.error("control process died (exit %s); restarting", code)
                await asyncio.sleep(self.restart_delay_s)
                self.restarts += 1
                self._spawn()

    def stop_heartbeat(self) -> None:
        """Stop re-sending the limits: to the control process the main process falls silent (as when it hangs)."""
        for t in self._tasks:
            if t.get_name() == "control-heartbeat":
                t.cancel()

    @property
    def replayed_config(self) -> dict[str, str]:
        """The evse keys a restarted control process is given again (never the one-shot actions)."""
        return dict(self._config)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(LIMITS_RESEND_S)
            self._send(self._limits_message())

    # -- messages --------------------------------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        self._last_heard = time.monotonic()
        errors = self._decoder.errors
        for msg in self._decoder.feed(data):
            try:
                self.take(msg)
            except Exception:  # noqa: BLE001 - one bad handler must not lose the messages behind it
                log.exception("handling %s from the control process failed", type(msg).__name__)
        if self._decoder.errors != errors:
            log.error("control process sent %d bad line(s): %s", self._decoder.errors - errors, self._decoder.last_error)

    def take(self, msg: Any) -> None:
        """One decoded message of the control process: checked (its version), kept (latches, calibration,
        stats, stall replies) and handed on."""
        if isinstance(msg, Hello):
            if msg.v != PROTOCOL_VERSION:
                self.refused = f"the control process speaks protocol {msg.v}, we speak {PROTOCOL_VERSION}: refused"
                log.error("%s", self.refused)
                if self.proc is not None and self.proc.poll() is None:
                    self.proc.kill()
                self._hello_event.set()
                return
            self.hello = msg
            self._hello_event.set()
        elif isinstance(msg, StallDone):
            fut = self._pending.pop(msg.id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        elif isinstance(msg, State):
            self.latched[msg.connector] = msg.latched
        elif isinstance(msg, Calibration):
            if msg.tilt_vector is not None and msg.error is None:
                self.tilt_vector = msg.tilt_vector
        elif isinstance(msg, Stats):
            self.last_stats = msg
        elif isinstance(msg, Log):
            log.log(LOG_LEVELS.get(msg.level, logging.WARNING), "control process: %s", msg.text)
        self.on_message(msg)

    def _send(self, msg: Any) -> None:
        if self._link is not None:
            self._link.send(encode(msg))

    def set_limits(self, connectors: dict[int, dict[str, Any]]) -> None:
        """Publish the limits now (and keep re-sending them as the heartbeat)."""
        self._limits = {str(k): dict(v) for k, v in connectors.items()}
        self._send(self._limits_message())

    def _limits_message(self) -> Limits:
        return Limits(
            {
                int(k): ConnectorLimits(
                    float(v.get("max_current", 0.0)), v.get("authorized") is True, v.get("suspended") is True,
                    int(v.get("phases", 0)),
                )
                for k, v in self._limits.items()
            }
        )

    def send_config(self, values: dict[str, str]) -> None:
        # one-shot actions (CalibrateTilt) are not replayed to a restarted control process
        self._config.update({k: v for k, v in values.items() if k not in ONE_SHOT_KEYS})
        self._send(Config(dict(values)))

    def clear_faults(self, connector: int | None = None) -> None:
        self._send(ClearFaults(connector))

    def sim_nowait(self, cmd: str, args: dict[str, Any]) -> None:
        """Forward a simulator command without waiting for its reply."""
        if self.plant is not None:
            self.plant.send_nowait(cmd, args)

    async def sim(self, cmd: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Forward a simulator command (to the plant; `stall` to the control process) and return its reply."""
        if cmd == "stall":
            return await self._stall(args, timeout)
        if self.plant is None:
            return {"ok": False, "error": "this board has no simulator"}
        try:
            reply = await self.plant.request(cmd, args, timeout)
        except PlantError as exc:
            raise ControlProcessError(str(exc)) from exc
        if cmd == "bench_start" and reply.get("ok") and isinstance(args.get("connectors"), dict):
            self._send(BenchTiming(tuple(int(k) for k in args["connectors"])))
        return reply

    async def _stall(self, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        seconds, busy = args.get("seconds", 1.0), args.get("busy", True)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 30:
            return {"ok": False, "error": "seconds must be within 0..30"}
        if not isinstance(busy, bool):
            return {"ok": False, "error": "busy must be true or false"}
        if self._link is None:
            raise ControlProcessError("the control process is not running")
        rid = next(self._ids)
        fut: asyncio.Future[StallDone] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._send(Stall(rid, float(seconds), busy))
        try:
            done = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)
        reply: dict[str, Any] = {"ok": done.ok, "started_at": done.started_at, "ended_at": done.ended_at}
        if done.error:
            reply["error"] = done.error
        return reply
