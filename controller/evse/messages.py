"""The message channel between the control process and the main (asyncio) process.

One message per line, JSON objects with `"t"` (type) and the protocol version `"v"` on hello. In to the loop:
`limits` (per-connector max current, authorized, suspended; doubles as the main process heartbeat), `config`
(evse-owned keys), `sim` (simulator commands), `clear_faults`. Out of the loop: `hello`, `state` (on every
change), `sample` (meter readings, every second), `stats` (tick health), `sim_reply`. A malformed line is
counted and skipped, never fatal.
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE = 65536

IN_TYPES = frozenset({"limits", "config", "sim", "clear_faults", "shutdown"})
OUT_TYPES = frozenset({"hello", "state", "sample", "stats", "sim_reply", "log"})


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


class Decoder:
    """Splits a byte stream into messages; bad lines are counted in `errors` and dropped."""

    def __init__(self) -> None:
        self._buf = b""
        self.errors = 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        out: list[dict[str, Any]] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > MAX_LINE:
                    self._buf = b""
                    self.errors += 1
                break
            line, self._buf = self._buf[:nl], self._buf[nl + 1 :]
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                self.errors += 1
                continue
            if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
                self.errors += 1
                continue
            out.append(msg)
        return out
