"""Commands over MQTT, held as setpoints with the Modbus slave's rules (pure: time comes in as `now`).

Two commands per socket (topics in `topics.py`):
- `max_current` (A, a number): 0 pauses; otherwise 6 A (IEC 61851's least offer) up to the socket's rating.
- `charging` (`ON` / `OFF`): `OFF` pauses the socket, `ON` ends a pause.
Each accepted command is a setpoint, like a Modbus master's (`controller.energy.setpoints.Setpoint`): it counts
for the validity time after it arrived (`command_validity_s` of [mqtt], else MbsSlaveTCPIPValidityTime), and
once that ran out the socket falls back to Safe-MaxCurrent until the next command, as with a master that
stopped writing. `ON` ends a pause (the max current setpoint, if any, still counts). Before the first command
MQTT limits nothing.

What a command gives is a cap (`cap`): the station offers the least of it and every other limit (the socket's
rating and ConnectorN-MaxCurrent, smart charging, load balancing, Modbus), and the control loop still applies
every safety limit, so no command can raise an offer above any of them. A command outside its range, a payload
that is not one, a retained (stale) command or one for an unknown socket is refused with its reason, never
clamped: the caller publishes the `Verdict` on the socket's `command_result` topic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from controller.energy.setpoints import Setpoint

MIN_OFFER_A = 6.0  # IEC 61851-1: the least current a PWM may offer
MAX_CURRENT, CHARGING = "max_current", "charging"
COMMANDS = (MAX_CURRENT, CHARGING)
ON, OFF = "ON", "OFF"


@dataclass(frozen=True)
class Verdict:
    """The answer to one command, published on the socket's `command_result` topic."""

    command: str
    payload: str
    accepted: bool
    reason: str = ""

    def as_json(self) -> str:
        return json.dumps({"command": self.command, "payload": self.payload,
                           "result": "accepted" if self.accepted else "refused", "reason": self.reason})


def parse_max_current(payload: str, rating_a: float) -> float | str:
    """The current (A) a max_current payload asks for, or the reason it is refused."""
    try:
        value = float(payload.strip())
    except ValueError:
        return f"not a number: {payload[:40]!r}"
    if not math.isfinite(value):
        return f"not a finite number: {payload[:40]!r}"
    if value < 0 or value > rating_a:
        return f"{value:g} A is outside 0..{rating_a:g} A"
    if 0 < value < MIN_OFFER_A:
        return f"{value:g} A is below {MIN_OFFER_A:g} A (IEC 61851); 0 pauses"
    return value


class RemoteCommands:
    """The sockets' MQTT setpoints. `validity_s` and `safe_a` are read at each use (keys may change)."""

    def __init__(
        self, ratings: Mapping[int, float], validity_s: Callable[[], float], safe_a: Callable[[], float]
    ) -> None:
        self.ratings = dict(ratings)
        self._validity_s = validity_s
        self._safe_a = safe_a
        self.max_current = {cid: Setpoint() for cid in self.ratings}
        self.pause = {cid: Setpoint() for cid in self.ratings}

    def command(self, cid: int, name: str, payload: str, now: float, retained: bool = False) -> Verdict:
        """Apply one command (or refuse it, saying why)."""
        def refuse(reason: str) -> Verdict:
            return Verdict(name, payload[:40], False, reason)

        if cid not in self.ratings:
            return refuse(f"no socket {cid}")
        if retained:
            return refuse("a retained command is stale: send it without the retain flag")
        if name == MAX_CURRENT:
            value = parse_max_current(payload, self.ratings[cid])
            if isinstance(value, str):
                return refuse(value)
            self.max_current[cid] = Setpoint(value, now)
            return Verdict(name, payload[:40], True, f"{value:g} A for {self._validity_s():g} s")
        if name == CHARGING:
            word = payload.strip().upper()
            if word == OFF:
                self.pause[cid] = Setpoint(0.0, now)
                return Verdict(name, payload[:40], True, f"paused for {self._validity_s():g} s")
            if word == ON:
                self.pause[cid] = Setpoint()
                return Verdict(name, payload[:40], True, "pause ended")
            return refuse(f"not {ON} or {OFF}: {payload[:40]!r}")
        return refuse(f"unknown command {name!r}")

    def _limit(self, sp: Setpoint, now: float) -> float:
        if sp.written_at is None:
            return math.inf
        return sp.value if sp.valid(now, self._validity_s()) else self._safe_a()

    def cap(self, cid: int, now: float) -> float:
        """The socket's MQTT cap (A) now: inf when no command was ever given."""
        if cid not in self.ratings:
            return math.inf
        return min(self._limit(self.max_current[cid], now), self._limit(self.pause[cid], now))

    def in_force(self, cid: int, now: float) -> float:
        """The max current MQTT allows the socket now (its rating when MQTT limits nothing)."""
        return min(self.ratings[cid], self._limit(self.max_current[cid], now))

    def paused(self, cid: int, now: float) -> bool:
        sp = self.pause[cid]
        return sp.written_at is not None and sp.valid(now, self._validity_s())

    def next_expiry(self, now: float) -> float | None:
        """When the next setpoint now valid runs out (the limits are published again then)."""
        validity = self._validity_s()
        ends = [
            sp.written_at + validity
            for sps in (self.max_current, self.pause)
            for sp in sps.values()
            if sp.written_at is not None and sp.written_at + validity > now
        ]
        return min(ends) if ends else None
