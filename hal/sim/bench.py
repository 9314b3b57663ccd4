"""Latency scenarios for the safety benchmark, run by the simulated world inside the control process.

Each scenario drives one socket round and round: plug a car, wait until the contactor is closed (and current
flows), then inject one safety edge at a random instant between two ticks, timestamped with the time it
happens physically (`edge_at`, time.monotonic()); the contactor's open command is timestamped by the device
(`SimContactor.on_open`). The latency is open - edge: the wait for the next tick plus the loop's processing.
Then it recovers (edge removed, car unplugged) and starts over. In the plant process the edge is stamped when
the plant publishes it to the register file (`published`), i.e. when the control process can first see it, and
a new car is plugged only once the control process has ticked since the unplug (`ticks`).

Kinds: `cp_to_a` (the car is unplugged while charging), `rcd` (the 6 mA DC monitor trips), `overcurrent`
(the car suddenly draws 120 % of the offer).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

from hal.sim.ev import EvProfile

KINDS = ("cp_to_a", "rcd", "overcurrent")
MISS_AFTER_S = 1.0  # an edge not answered within this is a miss (counted, never silently dropped)
STUCK_AFTER_S = 3.0  # a car that does not get charging within this is restarted (counted)


class _Socket(Protocol):
    ev: Any
    contactor: Any
    meter: Any
    rcd: Any


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 4)


class LatencyScenario:
    def __init__(
        self,
        sock: _Socket,
        kind: str,
        now: Callable[[], float],
        max_delay_s: float,
        seed: int = 0,
        ticks: Callable[[], int] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        self.sock = sock
        self.kind = kind
        self._now = now
        self.max_delay_s = max_delay_s
        self.rng = random.Random(seed)
        self.latencies: list[float] = []
        self.misses = 0
        self.stuck = 0
        self.phase = "idle"
        self._since = now()
        self._idle_steps = 0
        self.edge_at = 0.0
        self._open_at: float | None = None
        self._ticks = ticks  # the control process's tick counter (None: one step is one tick)
        self._ticks_at_recover = 0
        self._fired_pending = False
        self._recovered_unpublished = False
        sock.contactor.on_open = self._on_open

    def _on_open(self, t: float) -> None:
        if self.phase == "wait_open" and self._open_at is None:
            self._open_at = t

    def _go(self, phase: str, now: float) -> None:
        self.phase = phase
        self._since = now

    def _recover(self, now: float) -> None:
        s = self.sock
        s.rcd.trip = False
        s.ev.draw_factor = 1.0
        s.ev.unplug()
        self._idle_steps = 0
        self._recovered_unpublished = True
        self._go("idle", now)

    def published(self, t: float) -> None:
        """The plant wrote this step's inputs to the register file at `t`: a fired edge happens then."""
        if self._fired_pending:
            self.edge_at = t
            self._fired_pending = False
        if self._recovered_unpublished:  # the unplug is visible from now on: count the ticks from here
            self._recovered_unpublished = False
            self._ticks_at_recover = self._ticks() if self._ticks is not None else 0

    def deadline(self) -> float | None:
        """When this scenario must step next (its edge), if it waits for one."""
        return self.edge_at if self.phase == "armed" else None

    def _control_saw_it(self) -> bool:
        """A tick that began after the unplug was published has read it (a tick under way may not have)."""
        if self._ticks is None:
            return self._idle_steps >= 1
        return not self._recovered_unpublished and self._ticks() >= self._ticks_at_recover + 2

    def step(self, now: float) -> None:
        s = self.sock
        c = s.contactor
        if self.phase == "idle":
            self._idle_steps += 1
            if self._control_saw_it() and not c.commanded:  # the loop has seen A once
                s.ev.plug(EvProfile(max_current=32.0, response_delay_s=0.0))
                self._go("charging", now)
        elif self.phase == "charging":
            flowing = c.commanded and c.contacts_closed and (self.kind != "overcurrent" or s.meter.currents[0] > 1.0)
            if flowing:
                self.edge_at = now + self.rng.uniform(0.0, self.max_delay_s)
                self._go("armed", now)
            elif now - self._since > STUCK_AFTER_S:
                self.stuck += 1
                self._recover(now)
        elif self.phase == "armed":
            if not c.commanded:  # opened for another reason before the edge: not a measurement
                self.stuck += 1
                self._recover(now)
            elif now >= self.edge_at:
                self._open_at = None
                self._fired_pending = True
                self._go("wait_open", now)
                if self.kind == "cp_to_a":
                    s.ev.unplug()
                elif self.kind == "rcd":
                    s.rcd.trip = True
                else:
                    s.ev.draw_factor = 1.2
        elif self.phase == "wait_open":
            if self._open_at is not None and self._open_at < self.edge_at:
                self.stuck += 1  # opened for another reason before the edge could be seen: not a measurement
                self._recover(now)
            elif self._open_at is not None:
                self.latencies.append(self._open_at - self.edge_at)
                self._recover(now)
            elif now - self.edge_at > MISS_AFTER_S:
                self.misses += 1
                self._recover(now)

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "events": len(self.latencies), "misses": self.misses, "stuck": self.stuck}

    def summary(self) -> dict[str, Any]:
        return summarize([self])


def summarize(scenarios: list[LatencyScenario]) -> dict[str, Any]:
    """Percentiles over every event of the given scenarios (of one kind)."""
    v = sorted(x for sc in scenarios for x in sc.latencies)
    return {
        "kind": scenarios[0].kind if scenarios else None,
        "sockets": len(scenarios),
        "events": len(v),
        "misses": sum(sc.misses for sc in scenarios),
        "stuck": sum(sc.stuck for sc in scenarios),
        "p50_ms": _ms(percentile(v, 0.50)),
        "p99_ms": _ms(percentile(v, 0.99)),
        "p999_ms": _ms(percentile(v, 0.999)),
        "max_ms": _ms(v[-1] if v else None),
        "min_ms": _ms(v[0] if v else None),
    }
