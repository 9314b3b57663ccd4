"""The simulated rig of the control process: cars, pilots, contactors, locks, meters, RCD, temperature and
tilt of every socket, advanced in time by `step(now)` and steered by sim-control commands.

Commands that concern the main process's devices (RFID tag, grid meter) are handled there; this world
answers the ones for devices on the power path. Fault injection: `ev_misbehave` (refuse_to_stop,
diode_missing, shorted, never_request, welded), `rcd` (trip, self_test_fails), `temperature` (celsius, lost),
`tilt` (degrees, lost), `pe` (present), `meter_offline`. Inspection: `contactor_log` (every command with its
time.monotonic() time, the watchdog's safe-state calls, expiries). The benchmark's latency scenarios
(`bench_start`, `bench_status`, `bench_results`) live in `hal.sim.bench`. The runner itself answers `stall`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.sim.bench import KINDS, LatencyScenario, summarize
from hal.sim.devices import (
    SimContactor,
    SimControlPilot,
    SimLock,
    SimProtectiveEarth,
    SimRcd,
    SimSocketMeter,
    SimSuspendInput,
    SimTemperature,
    SimTilt,
)
from hal.sim.ev import EvProfile, SimEv


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
            )
        self.temperature = SimTemperature()
        self.tilt = SimTilt()
        self.suspend = SimSuspendInput()
        self.pe = SimProtectiveEarth()
        self.scenarios: dict[int, LatencyScenario] = {}
        self._last = now()

    def step(self, now: float) -> None:
        dt = max(0.0, now - self._last)
        self._last = now
        for sc in self.scenarios.values():
            sc.step(now)
        for s in self.sockets.values():
            currents = s.ev.step(now, s.pilot.output, s.contactor.contacts_closed)
            s.meter.integrate(currents, dt)

    def socket(self, args: dict[str, Any]) -> SimSocket:
        cid = args.get("connector", 1)
        if not isinstance(cid, int) or cid not in self.sockets:
            raise SimCommandError(f"no connector {cid!r} (this board has {sorted(self.sockets)})")
        return self.sockets[cid]

    def command(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        """Apply one sim-control command; returns extra reply fields or raises SimCommandError."""
        handler = _COMMANDS.get(cmd)
        if handler is None:
            raise SimCommandError(f"unknown command {cmd!r}")
        try:
            return handler(self, args) or {}
        except (TypeError, ValueError, KeyError) as exc:
            raise SimCommandError(f"bad arguments for {cmd}: {exc}") from exc


def _plug(world: SimWorld, a: dict[str, Any]) -> None:
    s = world.socket(a)
    ev = a.get("ev") or {}
    if not isinstance(ev, dict):
        raise SimCommandError("ev must be an object")
    phases = int(ev.get("phases", 3))
    if phases not in (1, 3):
        raise SimCommandError("ev.phases must be 1 or 3")
    max_current = float(ev.get("max_current", 32.0))
    if not 0 < max_current <= 80:
        raise SimCommandError("ev.max_current must be in (0, 80] A")
    s.ev.plug(
        EvProfile(
            max_current=max_current,
            phases=phases,
            response_delay_s=float(ev.get("response_delay_s", 1.0)),
            ventilation=bool(ev.get("ventilation", False)),
            chameleon_min_a=float(ev.get("chameleon_min_a", 0.0)),
        )
    )
    s.ev.never_request = bool(ev.get("never_request", False))


def _unplug(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).ev.unplug()


def _pause(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).ev.paused = True


def _resume(world: SimWorld, a: dict[str, Any]) -> None:
    world.socket(a).ev.paused = False


def _draw(world: SimWorld, a: dict[str, Any]) -> None:
    factor = float(a["factor"])
    if not 0 <= factor <= 3:
        raise SimCommandError("factor must be within 0..3")
    world.socket(a).ev.draw_factor = factor


def _misbehave(world: SimWorld, a: dict[str, Any]) -> None:
    s = world.socket(a)
    for name in ("refuse_to_stop", "diode_missing", "shorted", "never_request"):
        if name in a:
            setattr(s.ev, name, bool(a[name]))
    if "welded" in a:
        s.contactor.welded = bool(a["welded"])


def _temperature(world: SimWorld, a: dict[str, Any]) -> None:
    if a.get("lost") is not None:
        world.temperature.lost = bool(a["lost"])
    if "celsius" in a:
        world.temperature.celsius = float(a["celsius"])


def _tilt(world: SimWorld, a: dict[str, Any]) -> None:
    if a.get("lost") is not None:
        world.tilt.lost = bool(a["lost"])
    if "degrees" in a or a.get("lost") is None:
        world.tilt.degrees = float(a["degrees"])


def _rcd(world: SimWorld, a: dict[str, Any]) -> None:
    s = world.socket(a)
    if "self_test_fails" in a:
        s.rcd.self_test_fails = bool(a["self_test_fails"])
    if "trip" in a or "self_test_fails" not in a:
        s.rcd.trip = bool(a["trip"])


def _pe(world: SimWorld, a: dict[str, Any]) -> None:
    world.pe.present = bool(a["present"])


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
    max_delay = float(a.get("max_delay_s", 0.01))
    seed = int(a.get("seed", 1))
    world.scenarios.clear()
    for key, kind in kinds.items():
        cid = int(key)
        if kind not in KINDS:
            raise SimCommandError(f"kind must be one of {', '.join(KINDS)}")
        s = world.socket({"connector": cid})
        if "feedback_delay_s" in a:
            s.contactor.feedback_delay_s = float(a["feedback_delay_s"])
        world.scenarios[cid] = LatencyScenario(s, str(kind), world.now, max_delay, seed + cid)


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
    world.socket(a).meter.offline = bool(a["offline"])


def _suspend(world: SimWorld, a: dict[str, Any]) -> None:
    world.suspend.value = bool(a["active"])


def _meter_energy(world: SimWorld, a: dict[str, Any]) -> None:
    """Set the simulated meter's register, never backwards: a real meter keeps counting across restarts."""
    s = world.socket(a)
    s.meter.energy_wh = max(s.meter.energy_wh, float(a["energy_wh"]))


def _lock(world: SimWorld, a: dict[str, Any]) -> None:
    """The lock jams in its present position (`jammed`), or frees again."""
    world.socket(a).lock.jammed = bool(a["jammed"])


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
    "suspend": _suspend,
    "lock": _lock,
    "meter_energy": _meter_energy,
}
