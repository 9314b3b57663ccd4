"""The simulated plant: the process that holds a running station's simulated world (cars, cables, contactors,
locks, meters, sensors) and outlives the control process, as real hardware does.

Started by the main process before the control process (`python -m hal.sim.plant`). It talks to both:
- the control process only through the register file (`hal.sim.bus`), where the control process's drivers
  (`hal.sim.wired`) read sensors and write coils, as real drivers touch GPIO lines and ADCs;
- the main process over a socket: sim-control commands (JSON lines `{id, cmd, args}` -> `{id, ok, ...}`), and
  `attach` {pid} after each spawn of a control process.
It applies the attached control process's coil commands (stamped with that process's clock), steps the world
every `period_s` (and at each scheduled benchmark edge), and publishes the sensors. When the attached control
process dies (its pidfd becomes readable) the plant does what the hardware does without it: the coil lines fall
to their pull-downs (contactors open unless welded), the pilots to their safe level; locks stay where they
are. Commands written by a process that is not (or no longer) attached are never applied.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from board.loader import load_board
from hal.errors import DeviceError
from hal.interfaces import PilotOutput
from hal.sim.bus import Sense, SimBus, StationSense
from hal.sim.wired import PILOT_MODES
from hal.sim.world import SimCommandError, SimWorld, build_sim_world

PERIOD_S = 0.005
MAX_LINE = 65536


class Plant:
    def __init__(self, world: SimWorld, bus: SimBus, now: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self.bus = bus
        self.now = now
        self.period_s = PERIOD_S
        self.attached: int | None = None
        self.pidfd: int | None = None
        self._applied: dict[int, int] = {}  # coil block sequence last applied, per socket
        self._pilot_seq: dict[int, int] = {}
        self._safe_at: dict[int, float] = {}
        self._tests_seen: dict[int, int] = {}
        self.last_step = now()
        world.control_ticks = lambda: int(bus.station_coil.read().ticks)

    # -- the control process ---------------------------------------------------------------------------------
    def attach(self, pid: int) -> None:
        self.detach(pull_down=False)
        self.attached = pid
        self._applied.clear()
        self._pilot_seq = {cid: -1 for cid in self.world.sockets}
        self._tests_seen = {cid: 0 for cid in self.world.sockets}
        try:
            self.pidfd = os.pidfd_open(pid)
        except OSError:
            self.control_gone()  # already gone

    def detach(self, pull_down: bool = True) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.attached = None
        if pull_down:
            self.world.pull_down()

    def control_gone(self) -> None:
        """The control process died: its outputs fall to their hardware-safe states."""
        self.detach(pull_down=True)

    def apply(self) -> None:
        """Take the attached control process's coil commands."""
        if self.attached is None:
            return
        for cid, sock in self.world.sockets.items():
            block = self.bus.coil[cid]
            c = block.read()
            if c.pid != self.attached or block.seq == self._applied.get(cid):
                continue
            self._applied[cid] = block.seq
            if c.pilot_seq != self._pilot_seq.get(cid):
                self._pilot_seq[cid] = c.pilot_seq
                sock.pilot.set_output(PilotOutput(PILOT_MODES[c.pilot_mode], c.pilot_duty))
            if c.safe_at and c.safe_at != self._safe_at.get(cid):
                self._safe_at[cid] = c.safe_at
                sock.contactor.safe_state_at.append(c.safe_at)
            sock.contactor.command(bool(c.contactor), c.contactor_at, c.contactor_refresh)
            if bool(c.lock) != sock.lock.commanded:
                sock.lock.set_locked(bool(c.lock))
            if sock.phase_relay is not None and c.phases in (1, 3) and c.phases != sock.phase_relay.commanded:
                sock.phase_relay.set_phases(c.phases)
            new_tests = c.rcd_tests - self._tests_seen.get(cid, 0)
            if new_tests > 0:
                sock.rcd.self_tests += new_tests
                self._tests_seen[cid] = c.rcd_tests

    # -- the sensors -----------------------------------------------------------------------------------------
    def publish(self) -> dict[int, float]:
        """Write every sensor to the register file; returns, per socket, the time just before its block was
        written (after its values were computed: an edge exists for the control process from then on, so the
        plant's own computing and scheduling never counts as the loop's latency)."""
        written: dict[int, float] = {}
        for cid, sock in self.world.sockets.items():
            high, low = sock.ev.pilot_voltages(sock.pilot.output)
            fb = sock.contactor.feedback_closed()
            lock_fb = sock.lock.feedback_locked()
            relay_fb = sock.phase_relay.feedback_phases() if sock.phase_relay is not None else None
            try:
                m = sock.meter.read()
                meter = dict(
                    meter_offline=0,
                    i1=m.currents_a[0], i2=m.currents_a[1], i3=m.currents_a[2],
                    v1=m.voltages_v[0], v2=m.voltages_v[1], v3=m.voltages_v[2],
                    power_w=m.power_w, energy_wh=m.energy_wh, frequency_hz=m.frequency_hz,
                )
            except DeviceError:
                meter = dict(meter_offline=1)
            sense = Sense(
                high_v=high,
                low_v=math.nan if low is None else low,
                pilot_seq=max(0, self._pilot_seq.get(cid, 0)),
                mirror=-1 if fb is None else int(fb),
                lock=-1 if lock_fb is None else int(lock_fb),
                rcd_trip=int(sock.rcd.trip),
                rcd_test_ok=int(not sock.rcd.self_test_fails),
                pp_ohms=sock.pp.read_ohms(),
                phase_fb=-1 if relay_fb is None else relay_fb,
                **meter,  # type: ignore[arg-type]
            )
            written[cid] = self.now()
            self.bus.sense[cid].write(sense)
        w = self.world
        gx, gy, gz = w.tilt.vector
        self.bus.station_sense.write(
            StationSense(
                celsius=w.temperature.celsius,
                temperature_lost=int(w.temperature.lost),
                gx=gx,
                gy=gy,
                gz=gz,
                tilt_lost=int(w.tilt.lost),
                pe_present=int(w.pe.present),
                suspend=int(w.suspend.value),
            )
        )
        if not self.bus.plant_ready:
            self.bus.set_plant_ready()
        return written

    def step(self) -> None:
        now = self.now()
        self.apply()
        self.world.step(now)
        written = self.publish()
        for cid, sc in self.world.scenarios.items():
            sc.published(written[cid])
        self.last_step = now

    def deadline(self) -> float:
        nxt = self.last_step + self.period_s
        edge = self.world.next_deadline()
        return nxt if edge is None else min(nxt, edge)

    # -- commands of the main process ------------------------------------------------------------------------
    def command(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        if cmd == "attach":
            pid = args.get("pid")
            if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
                raise SimCommandError("pid must be a process id")
            self.attach(pid)
            return {}
        if cmd == "detach":
            self.control_gone()
            return {}
        reply = self.world.command(cmd, args)
        if cmd == "bench_start":
            self.period_s = min(PERIOD_S, float(args.get("max_delay_s", PERIOD_S)) or PERIOD_S)
        elif cmd == "bench_results" and args.get("stop", True):
            self.period_s = PERIOD_S
        return reply


def _reply(plant: Plant, line: bytes) -> dict[str, Any]:
    try:
        req = json.loads(line)
    except ValueError:
        return {"id": None, "ok": False, "error": "not JSON"}
    if not isinstance(req, dict):
        return {"id": None, "ok": False, "error": "a request is an object"}
    rid = req.get("id")
    cmd, args = req.get("cmd"), req.get("args", {})
    if not isinstance(cmd, str):
        return {"id": rid, "ok": False, "error": 'a request has a "cmd"'}
    try:
        extra = plant.command(cmd, args if isinstance(args, dict) else {})
    except SimCommandError as exc:
        return {"id": rid, "ok": False, "error": str(exc)}
    return {"id": rid, "ok": True, **extra}


def serve(plant: Plant, sock: socket.socket) -> None:
    """Until the main process goes away: commands, deaths of the control process, steps."""
    sock.setblocking(False)
    buf = b""
    out = bytearray()
    while True:
        fds: list[int] = [sock.fileno()]
        if plant.pidfd is not None:
            fds.append(plant.pidfd)
        timeout = max(0.0, plant.deadline() - plant.now())
        readable, _, _ = select.select(fds, [sock.fileno()] if out else [], [], timeout)
        if plant.pidfd is not None and plant.pidfd in readable:
            plant.control_gone()
        if sock.fileno() in readable:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                data = None
            if data == b"":
                return  # the main process is gone
            if data:
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        out += json.dumps(_reply(plant, line)).encode() + b"\n"
                        plant.step()  # a command changed the world: publish it at once
                if len(buf) > MAX_LINE:
                    buf = b""
                    out += b'{"id": null, "ok": false, "error": "request line too long"}\n'
        if out:
            try:
                n = sock.send(out)
                del out[:n]
            except BlockingIOError:
                pass
            except OSError:
                return
        if plant.now() >= plant.deadline():
            plant.step()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hal.sim.plant")
    ap.add_argument("--board", required=True)
    ap.add_argument("--bus-fd", type=int, required=True)
    ap.add_argument("--fd", type=int, required=True, help="the socket to the main process")
    ap.add_argument("--max-on", type=float, default=0.5, help="a contactor's maximum on-time without a command")
    args = ap.parse_args(argv)
    board = load_board(args.board)
    world = build_sim_world(board, time.monotonic)
    for s in world.sockets.values():
        s.contactor.max_on_s = args.max_on
    bus = SimBus(args.bus_fd, len(board.connectors))
    plant = Plant(world, bus)
    plant.step()  # the first readings before any control process reads them
    serve(plant, socket.socket(fileno=args.fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
