"""The message channel between the control process and the main (asyncio) process.

One message per line, JSON objects with `"t"` (type) and the protocol version `"v"` on hello. A malformed line
is counted and skipped, never fatal. New fields and types are added compatibly (readers ignore what they do
not know), so the version stays 1.

In to the loop:
- `limits` {connectors: {"1": {max_current, authorized, suspended}}}: doubles as the main process heartbeat.
- `config` {values: {Key: "string"}}: evse-owned keys (see `settings.py`), incl. the write-only action
  `CalibrateTilt` (never replayed) and `_TiltOffset` (the persisted calibration, handed back).
- `clear_faults` {connector?: id}: drop latched faults (all sockets without `connector`).
- `sim` {id, cmd, args}: simulator commands (answered by `sim_reply`), `shutdown`.
Out of the loop:
- `hello` {v, pid, connectors}.
- `state` {connector, cp_state (A..F), iec_state (A1/B2/C2/E/F...), pilot (high|pwm|negative), pwm_duty,
  offered_a, contactor (open|closed), faults [Fault values]} on every change; connector 0 carries the
  station faults {connector: 0, faults}.
- `sample` every second: per connector {meter}; connector 0 {temperature_c, tilt_deg (relative to the
  calibration, null when off), pe_present}.
- `calibration` {tilt_offset_deg, error?}: after a CalibrateTilt write; the main process persists the offset.
- `stats` {ticks, overruns, max_tick_ms, channel_errors, watchdog_trips} every second.
- `log` {level, text}: e.g. a configuration value the loop rejected (it keeps the old one).
- `sim_reply` {id, ok, error?, ...}.
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE = 65536

IN_TYPES = frozenset({"limits", "config", "sim", "clear_faults", "shutdown"})
OUT_TYPES = frozenset({"hello", "state", "sample", "stats", "sim_reply", "log", "calibration"})


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
