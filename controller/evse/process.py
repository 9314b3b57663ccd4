"""The control process: reads the power-path devices, steps the ControlLoop, writes the actuators, and
exchanges messages with the main process over one socket. Runs as `python -m controller.evse.process`.

It ticks every 10 ms and wakes early when a message arrives. It has no disk I/O and no network; after
start-up `gc.freeze()` keeps the collector off the hot path. When the main process goes away (EOF) or asks
it to shut down, every output goes to its safe state before the process exits.
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

from board.loader import Board, load_board
from controller.evse.connector import ConnectorInputs, EvseSettings
from controller.evse.loop import ControlLoop, LoopInputs, StationInputs, StationLimitSettings
from controller.evse.messages import PROTOCOL_VERSION, Decoder, encode
from hal.errors import DeviceError
from hal.factory import PowerPath, build_power_path
from hal.interfaces import MeterReading, PilotOutput
from hal.sim.world import SimCommandError

TICK_S = 0.01
STATS_INTERVAL_S = 1.0


def build_loop(board: Board, start: float, main_silence_s: float = 3.0) -> ControlLoop:
    settings = {
        c.id: EvseSettings(
            bands=dict(board.pilot_bands),
            diode_max_low_v=board.limits["diode_max_low_v"],
            max_current=c.max_current,
        )
        for c in board.connectors
    }
    station = StationLimitSettings(
        tilt_threshold_deg=board.limits["tilt_threshold_deg"],
        temperature_hysteresis_c=board.limits["temperature_hysteresis_c"],
        main_silence_s=main_silence_s,
    )
    return ControlLoop(settings, station, start)


def read_inputs(pp: PowerPath) -> LoopInputs:
    conns: dict[int, ConnectorInputs] = {}
    for cid, s in pp.sockets.items():
        meter: MeterReading | None
        try:
            meter = s.meter.read()
        except DeviceError:
            meter = None
        conns[cid] = ConnectorInputs(
            pilot=s.pilot.read(),
            contactor_feedback=s.contactor.feedback_closed(),
            meter=meter,
            rcd_tripped=s.rcd.tripped(),
        )
    try:
        temp: float | None = pp.temperature.read_celsius()
    except DeviceError:
        temp = None
    tilt = pp.tilt.read_tilt_deg() if pp.tilt is not None else None
    return LoopInputs(conns, StationInputs(temperature_c=temp, tilt_deg=tilt))


class Runner:
    """The thin shell around ControlLoop: devices in, loop step, actuators out, messages both ways."""

    def __init__(self, board: Board, sock: socket.socket, tick_s: float = TICK_S, main_silence_s: float = 3.0):
        self.sock = sock
        self.sock.setblocking(False)
        self.tick_s = tick_s
        self.power = build_power_path(board, time.monotonic)
        self.loop = build_loop(board, time.monotonic(), main_silence_s)
        self.decoder = Decoder()
        self._out = bytearray()
        self._last_pilot: dict[int, PilotOutput] = {}
        self.running = True
        self.ticks = 0
        self.overruns = 0
        self.max_tick_s = 0.0

    def send(self, msg: dict[str, Any]) -> None:
        self._out += encode(msg)
        if len(self._out) > 4_000_000:  # the main process stopped reading; keep the newest
            del self._out[: len(self._out) - 1_000_000]

    def _flush(self) -> None:
        while self._out:
            try:
                n = self.sock.send(self._out)
            except BlockingIOError:
                return
            except OSError:
                self.running = False
                return
            del self._out[:n]

    def _receive(self, now: float) -> None:
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

    def _dispatch(self, now: float, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "sim":
            reply: dict[str, Any] = {"t": "sim_reply", "id": msg.get("id")}
            if self.power.world is None:
                reply.update(ok=False, error="this board has no simulator")
            else:
                try:
                    args = msg.get("args") or {}
                    extra = self.power.world.command(str(msg.get("cmd")), args if isinstance(args, dict) else {})
                    reply.update(ok=True, **extra)
                except SimCommandError as exc:
                    reply.update(ok=False, error=str(exc))
            self.send(reply)
        elif t == "shutdown":
            self.running = False
        else:
            self.loop.handle(now, msg)

    def _write(self, outputs: dict[int, Any]) -> None:
        for cid, out in outputs.items():
            dev = self.power.sockets[cid]
            # open first, then pilot: a stop never waits on a PWM write
            if not out.contactor:
                dev.contactor.set_closed(False)
            if self._last_pilot.get(cid) != out.pilot:
                dev.pilot.set_output(out.pilot)
                self._last_pilot[cid] = out.pilot
            if out.contactor:
                dev.contactor.set_closed(True)
            dev.lock.set_locked(out.locked)

    def tick(self) -> None:
        now = time.monotonic()
        if self.power.world is not None:
            self.power.world.step(now)
        outputs = self.loop.step(now, read_inputs(self.power))
        self._write(outputs)
        for m in self.loop.drain():
            self.send(m)
        self.ticks += 1

    def safe_state(self) -> None:
        for dev in self.power.all_outputs():
            try:
                dev.to_safe_state()
            except Exception:  # noqa: BLE001 - every output must get its chance
                pass

    def run(self) -> None:
        self.send({"t": "hello", "v": PROTOCOL_VERSION, "pid": os.getpid(), "connectors": sorted(self.power.sockets)})
        gc.collect()
        gc.freeze()
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
                        {
                            "t": "stats",
                            "ticks": self.ticks,
                            "overruns": self.overruns,
                            "max_tick_ms": round(self.max_tick_s * 1000, 3),
                            "channel_errors": self.decoder.errors,
                        }
                    )
                    self.max_tick_s = 0.0
                self._flush()
                next_tick += self.tick_s
                now = time.monotonic()
                if next_tick < now:
                    next_tick = now
                wait = next_tick - now
                readable, _, _ = select.select([self.sock], [], [], wait)
                if readable:
                    self._receive(time.monotonic())
                    next_tick = time.monotonic()  # an input edge: act now
        finally:
            self.safe_state()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="controller.evse.process")
    ap.add_argument("--board", required=True)
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--tick", type=float, default=TICK_S)
    ap.add_argument("--main-silence", type=float, default=3.0)
    args = ap.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when we stop
    runner = Runner(load_board(args.board), sock, args.tick, args.main_silence)
    try:
        runner.run()
    except SystemExit:
        runner.safe_state()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
