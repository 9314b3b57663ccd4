"""The simulated rig: cars, pilots, contactors, locks, meters, RCD, proximity pilots, temperature and tilt of
every socket, advanced in time by `step(now)` and steered by sim-control commands. In a running station it
lives in the plant process (`hal.sim.plant`), which outlives the control process like real hardware does; the
in-process tests step it directly.

Commands that concern the main process's devices (RFID tag, grid meter) are handled there; this world
answers the ones for devices on the power path. Every argument is checked (type and range): a bad one is a
`SimCommandError` (an error reply), never a crash. Fault injection: `ev_misbehave` (refuse_to_stop,
diode_missing, shorted, never_request, pp_broken, welded), `phase_relay` (stuck, contacts_stuck), `rcd` (trip,
self_test_fails), `temperature` (celsius, lost), `tilt` (degrees or vector, lost), `pe` (present),
`meter_offline`, `meter_override`.
Inspection: `contactor_log` (every command with its time.monotonic() time, the watchdog's safe-state calls,
expiries), `plant_status`. The benchmark's latency scenarios (`bench_start`, `bench_status`, `bench_results`)
live in `hal.sim.bench`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from board.loader import Board
from hal.sim.bench import KINDS, LatencyScenario, summarize
from hal.sim.devices import (
    SimContactor,
    SimControlPilot,
    SimLock,
    SimPhaseRelay,
    SimProtectiveEarth,
    SimProximity,
    SimRcd,
    SimSocketMeter,
    SimSuspendInput,
    SimTemperature,
    SimTilt,
)
from hal.sim.ev import PP_NOMINAL_OHMS, EvProfile, SimEv


class SimCommandError(Exception):
    """A sim-control command is malformed or names something that does not exist."""


@dataclass
class SimSocket:
    ev: SimEv
    pilot: SimControlPilot
    contactor: SimContactor
    lock: SimLock
    meter: SimSocketMeter
    rcd: SimRcd
    pp: SimProximity
    phase_relay: SimPhaseRelay | None = None  # a board with a 1/3-phase switch relay on this socket


class SimWorld:
    def __init__(self, connectors: int, now: Callable[[], float], contactor_feedback: bool = True) -> None:
        self.now = now  # the monotonic clock the simulated plant runs on
        self.sockets: dict[int, SimSocket] = {}
        for cid in range(1, connectors + 1):
            ev = SimEv()
            self.sockets[cid] = SimSocket(
                ev=ev,
                pilot=SimControlPilot(ev, now),
                contactor=SimContactor(now, has_feedback=contactor_feedback),
                lock=SimLock(now),
                meter=SimSocketMeter(),
                rcd=SimRcd(),
                pp=SimProximity(ev),
            )
        self.temperature = SimTemperature()
        self.tilt = SimTilt()
        self.suspend = SimSuspendInput()
        self.pe = SimProtectiveEarth()
        self.scenarios: dict[int, LatencyScenario] = {}
        self.control_ticks: Callable[[], int] | None = None  # the plant sets it: the control's tick counter
        self._last = now()

    def step(self, now: float) -> None:
        dt = max(0.0, now - self._last)
        self._last = now
        for sc in self.scenarios.values():
            sc.step(now)
        for s in self.sockets.values():
            supply = s.phase_relay.phases if s.phase_relay is not None else 3
            currents = s.ev.step(now, s.pilot.output, s.contactor.contacts_closed, supply)
            s.meter.integrate(currents, dt)

    def next_deadline(self) -> float | None:
        """The next instant something scheduled happens (a benchmark edge), if any."""
        times = [t for sc in self.scenarios.values() if (t := sc.deadline()) is not None]
        return min(times) if times else None

    def socket(self, args: dict[str, Any]) -> SimSocket:
        cid = args.get("connector", 1)
        if isinstance(cid, bool) or not isinstance(cid, int) or cid not in self.sockets:
            raise SimCommandError(f"no connector {cid!r} (this board has {sorted(self.sockets)})")
        return self.sockets[cid]

    def pull_down(self) -> None:
        """The control process died: what its outputs do without it. Each coil line falls to its pull-down
        (a contactor opens unless welded) and each pilot to its safe level; a lock stays where it is."""
        for s in self.sockets.values():
            s.contactor.pull_down()
            s.pilot.to_safe_state()
            if s.phase_relay is not None:
                s.phase_relay.to_safe_state()  # its coil falls to the pull-down too

    def status(self) -> dict[str, Any]:
        """What the rig sees physically, per connector: the lock, the mirror contact, the cable."""
        out = []
        for cid, s in self.sockets.items():
            fb = s.contactor.feedback_closed()
            out.append(
                {
                    "id": cid,
                    "lock": "locked" if s.lock.locked else "unlocked",
                    "contacts": None if fb is None else ("closed" if fb else "open"),
                    "cable_a": s.ev.cable_a if s.ev.plugged else None,
                    "phases": s.phase_relay.phases if s.phase_relay is not None else None,
                }
            )
        return {"connectors": out}

    def command(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        """Apply one sim-control command; returns extra reply fields or raises SimCommandError."""
        handler = _COMMANDS.get(cmd)
        if handler is None:
            raise SimCommandError(f"unknown command {cmd!r}")
        if not isinstance(args, dict):
            raise SimCommandError("arguments must be an object")
        try:
            return handler(self, args) or {}
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise SimCommandError(f"bad arguments for {cmd}: {exc}") from exc


def build_sim_world(board: Board, now: Callable[[], float]) -> SimWorld:
    """The simulated world of a board: its sockets with the contactor's mirror contact (or none) and delay."""
    fb = True
    if board.connectors:
        fb = bool(board.connectors[0].devices["contactor"].params.get("feedback", True))
    world = SimWorld(len(board.connectors), now, contactor_feedback=fb)
    for c in board.connectors:
        delay = c.devices["contactor"].params.get("feedback_delay_s")
        if delay is not None:
            world.sockets[c.id].contactor.feedback_delay_s = float(delay)
        relay = c.devices.get("phase_relay")
        if relay is not None and relay.driver == "sim":
            p = relay.params
            world.sockets[c.id].phase_relay = SimPhaseRelay(
                now, int(p.get("rest_phases", 3)), float(p.get("feedback_delay_s", 0.05)), bool(p.get("feedback", True))
            )
    return world


def num(a: dict[str, Any], key: str, lo: float, hi: float, default: float | None = None) -> float:
    """A finite number argument within lo..hi (JSON numbers only: no strings, no booleans)."""
    if key not in a and default is not None:
        return default
    v = a.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise SimCommandError(f"{key} must be a number within {lo:g}..{hi:g}")
    return float(v)


def flag(a: dict[str, Any], key: str, default: bool | None = None) -> bool:
    if key not in a and default is not None:
        return default
    v = a.get(key)
    if not isinstance(v, bool):
        raise SimCommandError(f"{key} must be true or false")
    return v


def _plug(world: SimWorld, a: dict[str, Any]) -> None:
    s = world.socket(a)
    ev = a.get("ev") or {}
    if not isinstance(ev, dict):
        raise SimCommandError("ev must be an object")
    phases = num(ev, "phases", 1, 3, 3.0)
    if phases not in (1, 3):
        raise SimCommandError("ev.phases must be 1 or 3")
    max_current = num(ev, "max_current", 0, 80, 32.0)
    if max_current <= 0:
        raise SimCommandError("ev.max_current must be in (0, 80] A")
    cable_a = num(a, "cable_a", 0, 1000, 32.0)
    if cable_a not in PP_NOMINAL_OHMS:
        raise SimCommandError(f"cable_a must be one of {', '.join(f'{c:g}' for c in sorted(PP_NOMINAL_OHMS))}")
    s.ev.plug(
        EvProfile(
            max_current=max_current,
            phases=int(phases),
            response_delay_s=num(ev, "response_delay_s", 0, 60, 1.0),
            ventilation=flag(ev, "ventilation", False),
            chameleon_min_a=num(ev, "chameleon_min_a", 0, 80, 0.0),
        ),
        cable_a=cable_a,
    )
    s.ev.never_request = flag(ev, "never_request", False)


def _unplug(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).ev.unplug()


def _pause(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).ev.paused = True


def _resume(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).ev.paused = False


def _draw(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).ev.draw_factor = num(a, "factor", 0, 3)


MISBEHAVIOURS = ("refuse_to_stop", "diode_missing", "shorted", "never_request", "pp_broken")


def _misbehave(world: SimWorld, a: dict[str, Any]) -> None:
    s = world.socket(a)
    values = {name: flag(a, name) for name in (*MISBEHAVIOURS, "welded") if name in a}
    for name, v in values.items():
        if name == "welded":
            s.contactor.welded = v
        else:
            setattr(s.ev, name, v)


def _phase_relay(world: SimWorld, a: dict[str, Any]) -> None:
    """Fault injection on a socket's phase relay: `stuck` (nothing moves), `contacts_stuck` (the feedback
    follows the coil, the power contacts do not)."""
    relay = world.socket(a).phase_relay
    if relay is None:
        raise ValueError("this socket has no phase relay")
    for name in ("stuck", "contacts_stuck"):
        if name in a:
            setattr(relay, name, flag(a, name))


def _temperature(world: SimWorld, a: dict[str, Any]) -> None:
    lost = flag(a, "lost") if a.get("lost") is not None else None
    celsius = num(a, "celsius", -100, 300) if "celsius" in a else None
    if lost is None and celsius is None:
        raise SimCommandError("give celsius and/or lost")
    if lost is not None:
        world.temperature.lost = lost
    if celsius is not None:
        world.temperature.celsius = celsius


def _tilt(world: SimWorld, a: dict[str, Any]) -> None:
    lost = flag(a, "lost") if a.get("lost") is not None else None
    vector = None
    if "vector" in a:
        v = a["vector"]
        if not isinstance(v, list) or len(v) != 3:
            raise SimCommandError("vector must be [x, y, z] in g")
        vector = tuple(num({"v": x}, "v", -16, 16) for x in v)
    degrees = num(a, "degrees", -180, 180) if "degrees" in a else None
    if vector is not None and degrees is not None:
        raise SimCommandError("give degrees or vector, not both")
    if lost is None and vector is None and degrees is None:
        raise SimCommandError("give degrees, vector and/or lost")
    if lost is not None:
        world.tilt.lost = lost
    if degrees is not None:
        world.tilt.tilt_about_x(degrees)
    if vector is not None:
        world.tilt.vector = (vector[0], vector[1], vector[2])


def _rcd(world: SimWorld, a: dict[str, Any]) -> None:
    s = world.socket(a)
    if "self_test_fails" not in a and "trip" not in a:
        raise SimCommandError("give trip and/or self_test_fails")
    fails = flag(a, "self_test_fails") if "self_test_fails" in a else None
    trip = flag(a, "trip") if "trip" in a else None
    if fails is not None:
        s.rcd.self_test_fails = fails
    if trip is not None:
        s.rcd.trip = trip


def _pe(world: SimWorld, a: dict[str, Any]) -> None:
    world.pe.present = flag(a, "present")


def _contactor_log(world: SimWorld, a: dict[str, Any]) -> dict[str, Any]:
    c = world.socket(a).contactor
    _ = c.contacts_closed  # let a pending expiry show
    return {
        "history": [[t, v] for t, v in c.recorder.history],
        "safe_state_at": list(c.safe_state_at),
        "expired": c.expired,
        "commanded": c.commanded,
    }


def _bench_start(world: SimWorld, a: dict[str, Any]) -> None:
    kinds = a["connectors"]
    if not isinstance(kinds, dict) or not kinds:
        raise SimCommandError('connectors must be an object {"1": "cp_to_a", ...}')
    max_delay = num(a, "max_delay_s", 0, 1, 0.01)
    seed = int(num(a, "seed", 0, 2**31, 1.0))
    world.scenarios.clear()
    for key, kind in kinds.items():
        try:
            cid = int(key)
        except ValueError as exc:
            raise SimCommandError(f"no connector {key!r}") from exc
        if kind not in KINDS:
            raise SimCommandError(f"kind must be one of {', '.join(KINDS)}")
        s = world.socket({"connector": cid})
        if "feedback_delay_s" in a:
            s.contactor.feedback_delay_s = num(a, "feedback_delay_s", 0, 1)
        world.scenarios[cid] = LatencyScenario(s, str(kind), world.now, max_delay, seed + cid, world.control_ticks)


def _bench_status(world: SimWorld, a: dict[str, Any]) -> dict[str, Any]:
    return {"scenarios": {str(cid): sc.status() for cid, sc in world.scenarios.items()}}


def _bench_results(world: SimWorld, a: dict[str, Any]) -> dict[str, Any]:
    """Percentiles per kind over all its sockets (the latencies stay in the control process)."""
    by_kind: dict[str, list[LatencyScenario]] = {}
    for sc in world.scenarios.values():
        by_kind.setdefault(sc.kind, []).append(sc)
    out = {kind: summarize(scs) for kind, scs in by_kind.items()}
    if a.get("stop", True):
        for sc in world.scenarios.values():
            sc.sock.contactor.on_open = None
        world.scenarios.clear()
    return {"results": out}


def _meter_offline(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).meter.offline = flag(a, "offline")


SPECIAL_NUMBERS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _meter_override(world: SimWorld, a: dict[str, Any]) -> None:
    """What the socket meter reports from now on: [L1, L2, L3] (numbers, or "nan"/"inf"/"-inf"), or null to
    report the real currents again."""
    s = world.socket(a)
    if "currents" not in a:
        raise SimCommandError("currents must be [L1, L2, L3] or null")
    cur = a["currents"]
    if cur is None:
        s.meter.override = None
        return
    if not isinstance(cur, list) or len(cur) != 3:
        raise SimCommandError('currents must be [L1, L2, L3] (numbers or "nan"/"inf") or null')
    values: list[float] = []
    for c in cur:
        if isinstance(c, str) and c.lower() in SPECIAL_NUMBERS:
            values.append(SPECIAL_NUMBERS[c.lower()])
        else:
            values.append(num({"c": c}, "c", -1e6, 1e6))
    s.meter.override = (values[0], values[1], values[2])


def _suspend(world: SimWorld, a: dict[str, Any]) -> None:
    world.suspend.value = flag(a, "active")


def _meter_energy(world: SimWorld, a: dict[str, Any]) -> None:
    """Set the simulated meter's register, never backwards: a real meter keeps counting across restarts."""
    s = world.socket(a)
    s.meter.energy_wh = max(s.meter.energy_wh, num(a, "energy_wh", 0, 1e12))


def _lock(world: SimWorld, a: dict[str, Any]) -> None:
    """The lock jams in its present position (`jammed`), or frees again."""
    world.socket(a).lock.jam(flag(a, "jammed"))


def _plant_status(world: SimWorld, a: dict[str, Any]) -> dict[str, Any]:
    return world.status()


_COMMANDS: dict[str, Callable[[SimWorld, dict[str, Any]], dict[str, Any] | None]] = {
    "plug": _plug,
    "unplug": _unplug,
    "ev_pause": _pause,
    "ev_resume": _resume,
    "ev_draw": _draw,
    "ev_misbehave": _misbehave,
    "temperature": _temperature,
    "tilt": _tilt,
    "rcd": _rcd,
    "pe": _pe,
    "contactor_log": _contactor_log,
    "bench_start": _bench_start,
    "bench_status": _bench_status,
    "bench_results": _bench_results,
    "meter_offline": _meter_offline,
    "meter_override": _meter_override,
    "plant_status": _plant_status,
    "phase_relay": _phase_relay,
    "suspend": _suspend,
    "lock": _lock,
    "meter_energy": _meter_energy,
}
