"""The control process: reads the power-path devices, steps the ControlLoop, writes the actuators, and
exchanges messages with the main process over one socket (THE channel, `protocol.py`). Runs as
`python -m controller.evse.process`.

It ticks every 10 ms and wakes early when a message arrives. It has no disk I/O and no network; after
start-up `gc.freeze()` keeps the collector off the hot path. It takes nothing from the main process before a
`MainHello` of its own protocol version; a peer speaking another version is refused (outputs safe, exit 3).
When the main process goes away (EOF) or asks it to shut down, every output goes to its safe state before the
process exits (a lock opens only where its contacts read open). A dead-man watchdog thread
(`watchdog.DeadMan`) forces the contactors open and the pilots to +12 V when the loop has not ticked for
`--watchdog` seconds; the tick that learns of it closes nothing, and no close is written once it has tripped.

On a simulated board the devices are drivers on the plant's register file (`--bus-fd`, see `hal.sim.plant`):
the simulated world lives in the plant process and outlives this one. Test-only messages answered here (they
concern the runner): `Stall` {seconds, busy} blocks the loop (busy-waits, or sleeps with busy=false) and is
answered with the stall's `started_at`/`ended_at` (time.monotonic()); `BenchTiming` sets the B->C (and ->A)
debounce of the benchmarked sockets to 0 so a measurement cycle is short (the paths to an error are never
debounced, and the contactor opens on the first +12 V sample).
"""

from __future__ import annotations

import argparse
import gc
import os
import select
import signal
import socket
import sys
import time
from typing import Any

from board.loader import Board, DeviceSpec, load_board
from board.schema import PHASE_RELAY_PARAMS
from controller.evse.connector import EvseSettings
from controller.evse.devio import hold_safe, read_inputs, write_outputs
from controller.evse.gcpacer import CollectorPacer
from controller.evse.loop import ControlLoop, StationLimitSettings
from controller.evse.phaseswitch import RelaySettings
from controller.evse.protocol import (
    PROTOCOL_VERSION,
    BenchTiming,
    Decoder,
    Hello,
    InMessage,
    Log,
    MainHello,
    Shutdown,
    Stall,
    StallDone,
    Stats,
    encode,
)
from controller.evse.watchdog import DeadMan
from hal.edges import EdgePipe, watch_edges
from hal.factory import PowerPath, build_power_path
from hal.interfaces import PilotOutput
from hal.sim.bus import SimBus
from hal.sim.wired import wait_for_plant

__all__ = ["Runner", "build_loop", "main", "read_inputs", "safe_order"]

TICK_S = 0.01
STATS_INTERVAL_S = 1.0
WATCHDOG_S = 0.25
EXIT_REFUSED = 3


def build_loop(board: Board, start: float, main_silence_s: float = 3.0) -> ControlLoop:
    settings = {
        c.id: EvseSettings(
            bands=dict(board.pilot_bands),
            diode_max_low_v=board.limits["diode_max_low_v"],
            max_current=c.max_current,
            ventilation=c.ventilation,
            phases=c.phases,
        )
        for c in board.connectors
    }
    relays = {c.id: relay_settings(c.phase_relay) for c in board.connectors if c.phase_relay is not None}
    station = StationLimitSettings(
        tilt_threshold_deg=board.limits["tilt_threshold_deg"],
        temperature_hysteresis_c=board.limits["temperature_hysteresis_c"],
        main_silence_s=main_silence_s,
    )
    return ControlLoop(settings, station, start, relays)


def relay_settings(spec: DeviceSpec) -> RelaySettings:
    """The loop's view of a phase relay from its board entry (the driver's declared defaults filled in)."""
    p = {**{k: v.default for k, v in PHASE_RELAY_PARAMS.items()}, **spec.params}
    return RelaySettings(rest_phases=int(p["rest_phases"]), settle_s=float(p["settle_s"]))


def safe_order(pp: PowerPath) -> list[Any]:
    """What the watchdog forces, in order: all contactors first, then the pilots. The locks stay where they
    are: a lock may open only when its contacts read open, which the loop decides when it runs again."""
    socks = list(pp.sockets.values())
    return [s.contactor for s in socks] + [s.pilot for s in socks]


class Runner:
    """The thin shell around ControlLoop: devices in, loop step, actuators out, messages both ways."""

    def __init__(
        self,
        board: Board,
        sock: socket.socket,
        tick_s: float = TICK_S,
        main_silence_s: float = 3.0,
        watchdog_s: float = WATCHDOG_S,
        realtime: bool = False,
        bus: SimBus | None = None,
    ):
        self.realtime = realtime
        self.sock = sock
        self.sock.setblocking(False)
        self.tick_s = tick_s
        self.power = build_power_path(board, time.monotonic, bus=bus)
        if bus is not None:
            wait_for_plant(bus)
        self.edges = EdgePipe()
        self.edge_inputs = watch_edges(getattr(self.power, "real_devices", []), self.edges.notify)
        self.loop = build_loop(board, time.monotonic(), main_silence_s)
        self.deadman = DeadMan(safe_order(self.power), timeout_s=watchdog_s)
        self.decoder = Decoder()
        self._out = bytearray()
        self._last_pilot: dict[int, PilotOutput] = {}
        self._self_tests: dict[int, bool] = {}
        self.running = True
        self.greeted = False
        self.refused = False
        self.ticks = 0
        self.overruns = 0
        self.max_tick_s = 0.0
        self.collector = CollectorPacer()

    def send(self, msg: Any) -> None:
        self._out += encode(msg)
        if len(self._out) > 4_000_000:  # the main process stopped reading; keep the newest
            del self._out[: len(self._out) - 1_000_000]

    def flush(self) -> None:
        """Send what is queued for the main process, as much as the socket takes now."""
        while self._out:
            try:
                n = self.sock.send(self._out)
            except BlockingIOError:
                return
            except OSError:
                self.running = False
                return
            del self._out[:n]

    def receive(self, now: float) -> None:
        """Take every message the main process has sent (a peer of another version is refused)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.running = False  # the main process is gone
                return
            for msg in self.decoder.feed(data):
                self._dispatch(now, msg)

    def _stall(self, msg: Stall) -> StallDone:
        if not 0 <= msg.seconds <= 30:
            return StallDone(msg.id, False, error="seconds must be within 0..30")
        started = time.monotonic()
        if msg.busy:
            while time.monotonic() - started < msg.seconds:
                pass
        else:
            time.sleep(msg.seconds)
        return StallDone(msg.id, True, started, time.monotonic())

    def _refuse(self, why: str) -> None:
        self.send(Log("error", f"refused: {why}"))
        print(f"control process: refused: {why}", file=sys.stderr, flush=True)
        self.refused = True
        self.running = False

    def _dispatch(self, now: float, msg: InMessage) -> None:
        if not self.greeted:
            if isinstance(msg, MainHello) and msg.v == PROTOCOL_VERSION:
                self.greeted = True
            elif isinstance(msg, MainHello):
                self._refuse(f"the main process speaks protocol {msg.v}, we speak {PROTOCOL_VERSION}")
            else:
                self._refuse(f"{type(msg).__name__} before MainHello")
            return
        if isinstance(msg, Stall):
            self.send(self._stall(msg))
        elif isinstance(msg, BenchTiming):
            for cid in msg.connectors:
                ctl = self.loop.connectors.get(cid)
                if ctl is not None:
                    ctl.set_debounce(0.0)
        elif isinstance(msg, Shutdown):
            self.running = False
        elif isinstance(msg, MainHello):
            pass
        else:
            self.loop.handle(now, msg)

    def tick(self) -> None:
        now = time.monotonic()
        stalled_at = self.deadman.take_trip()
        if stalled_at is not None:
            self.loop.note_stall(now)  # the outputs were forced safe: the loop must know before it writes
            self._last_pilot.clear()
            self._self_tests = {}
        if self.power.world is not None:
            self.power.world.step(now)
        outputs = self.loop.step(now, read_inputs(self.power, self._self_tests))
        with self.deadman.lock:
            if self.deadman.tripped:
                self._self_tests = {}  # forced while we computed: write nothing stale; the next tick learns it
            else:
                self._self_tests = write_outputs(
                    self.power, outputs, self._last_pilot, may_close=lambda: not self.deadman.tripped
                )
                self.deadman.kick(time.monotonic())
        if self.power.heartbeat is not None:
            self.power.heartbeat.beat()
        for m in self.loop.drain():
            self.send(m)
        self.ticks += 1

    def safe_state(self) -> None:
        self.deadman.stop()
        hold_safe(self.power)

    def run(self) -> None:
        self.send(Hello(PROTOCOL_VERSION, os.getpid(), tuple(sorted(self.power.sockets)), self.realtime))
        gc.collect()
        gc.freeze()
        gc.disable()  # collections run between ticks (CollectorPacer), never in the middle of one
        self.deadman.kick(time.monotonic())
        self.deadman.start()
        next_tick = time.monotonic()
        next_stats = next_tick + STATS_INTERVAL_S
        try:
            while self.running:
                t0 = time.monotonic()
                self.tick()
                dt = time.monotonic() - t0
                self.max_tick_s = max(self.max_tick_s, dt)
                if dt > self.tick_s:
                    self.overruns += 1
                if t0 >= next_stats:
                    next_stats = t0 + STATS_INTERVAL_S
                    self.send(
                        Stats(
                            ticks=self.ticks,
                            overruns=self.overruns,
                            max_tick_ms=round(self.max_tick_s * 1000, 3),
                            channel_errors=self.decoder.errors,
                            watchdog_trips=self.deadman.trips,
                        )
                    )
                    self.max_tick_s = 0.0
                self.flush()
                next_tick += self.tick_s
                now = time.monotonic()
                if next_tick < now:
                    next_tick = now
                generation = self.collector.after_tick(now, next_tick - now, self.tick_s)
                if generation is not None:
                    gc.collect(generation)
                    now = time.monotonic()
                wait = max(0.0, next_tick - now)
                readable, _, _ = select.select([self.sock.fileno(), self.edges.fileno()], [], [], wait)
                if readable:
                    if self.edges.fileno() in readable:
                        self.edges.drain()  # a GPIO input changed (RCD fault, mirror contact, ...)
                    if self.sock.fileno() in readable:
                        self.receive(time.monotonic())
                    next_tick = time.monotonic()  # an input edge: act now
        finally:
            self.flush()
            self.safe_state()
            self.edges.close()
            close = getattr(self.power, "close", None)  # real drivers: stop their threads, release pins
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - exiting anyway; the outputs are already safe
                    pass


def set_realtime(priority: int) -> bool:
    """Ask for SCHED_FIFO at `priority` (the loop then preempts ordinary processes); False when not allowed.

    The kernel's RT throttling (sched_rt_runtime_us, 95 % by default) still leaves CPU to everything else if
    the loop ever spins.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(min(max(priority, 1), 99)))
        return True
    except (AttributeError, PermissionError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="controller.evse.process")
    ap.add_argument("--board", required=True)
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--tick", type=float, default=TICK_S)
    ap.add_argument("--main-silence", type=float, default=3.0)
    ap.add_argument("--watchdog", type=float, default=WATCHDOG_S)
    ap.add_argument("--rt-priority", type=int, default=0, help="SCHED_FIFO priority (1..99); 0: normal")
    ap.add_argument("--bus-fd", type=int, default=None, help="the simulated plant's register file")
    args = ap.parse_args(argv)
    realtime = set_realtime(args.rt_priority) if args.rt_priority > 0 else False
    sock = socket.socket(fileno=args.fd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when we stop
    board = load_board(args.board)
    bus = SimBus(args.bus_fd, len(board.connectors)) if args.bus_fd is not None else None
    runner = Runner(board, sock, args.tick, args.main_silence, args.watchdog, realtime, bus=bus)
    try:
        runner.run()
    except SystemExit:
        runner.safe_state()
    return EXIT_REFUSED if runner.refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
