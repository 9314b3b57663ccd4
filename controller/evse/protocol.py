"""THE channel between the control process and the main (asyncio) process, declared once.

One frozen dataclass per message, in and out; one `{tag: class}` table (`MESSAGES`) that encodes and decodes
them; a version (`PROTOCOL_VERSION`) that both sides check before anything else: the main process opens with
`MainHello`, the control process with `Hello`, and either side refuses a peer that speaks another version
(the loop then keeps every output safe and exits; the main process fails its start or counts a restart).

Wire format: one JSON object per line, `{"t": tag, ...fields}`. Decoding is strict: a field of the wrong type,
a missing required field, an unknown tag or a malformed line is a `DecodeError`; the `Decoder` counts and drops
such lines (never fatal). Unknown extra fields are ignored. Dict keys that are connector ids travel as strings.

In to the loop (main -> control):
- `MainHello` {v}: first message of every spawn; nothing else is taken before it.
- `Restore` {latched, tilt_vector}: right after spawn, what the main process kept of the previous control
  process: per connector the latched faults (they outlive a restart), and the tilt calibration.
- `Limits` {connectors: {id: ConnectorLimits}}: the main process's requests; also its heartbeat.
- `Config` {values: {Key: "string"}}: evse-owned keys (see `settings.py`).
- `ClearFaults` {connector?}: drop latched faults (all sockets without `connector`).
- `Stall` {id, seconds, busy} (test only: block the loop), `BenchTiming` {connectors}, `Shutdown`.
Out of the loop (control -> main):
- `Hello` {v, pid, connectors, realtime}.
- `State` per connector on every change (with `latched`: the faults that outlive a restart); `StationState`
  {faults} for connector 0.
- `Sample` {connector, meter} every second; `StationSample` {temperature_c, tilt_deg, pe_present,
  suspend_input}.
- `Calibration` {tilt_vector, tilt_deg, error}: after a CalibrateTilt write; the main process persists it.
- `Stats` every second; `Log` {level, text} (reaches the main process log); `StallDone` {id, ...}.
Events of the supervisor itself (not on the wire, handed to the main process's `on_message` like the others):
`ControlDied`, `ControlHung`, `RestartLimitReached`. The main process's consumers (controller/station) take
these dataclasses as they are.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

PROTOCOL_VERSION = 3  # 3: phase switching (ConnectorLimits.phases, State.phases)
MAX_LINE = 65536

Vector = tuple[float, float, float]


class DecodeError(ValueError):
    """A line that is not a valid message of this protocol."""


# -- in to the loop -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MainHello:
    TAG: ClassVar[str] = "main_hello"
    v: int


@dataclass(frozen=True, slots=True)
class Restore:
    TAG: ClassVar[str] = "restore"
    latched: dict[int, tuple[str, ...]] = field(default_factory=dict)
    tilt_vector: Vector | None = None
    restarted: bool = False  # a previous control process ran: report no state before the pilot showed it


@dataclass(frozen=True, slots=True)
class ConnectorLimits:
    max_current: float = 0.0
    authorized: bool = False
    suspended: bool = False
    phases: int = 0  # the phases max_current is meant for (1 or 3; the relay switches to them); 0: any


@dataclass(frozen=True, slots=True)
class Limits:
    TAG: ClassVar[str] = "limits"
    connectors: dict[int, ConnectorLimits] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    TAG: ClassVar[str] = "config"
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClearFaults:
    TAG: ClassVar[str] = "clear_faults"
    connector: int | None = None


@dataclass(frozen=True, slots=True)
class Stall:
    TAG: ClassVar[str] = "stall"
    id: int
    seconds: float = 1.0
    busy: bool = True


@dataclass(frozen=True, slots=True)
class BenchTiming:
    TAG: ClassVar[str] = "bench_timing"
    connectors: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Shutdown:
    TAG: ClassVar[str] = "shutdown"


# -- out of the loop ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hello:
    TAG: ClassVar[str] = "hello"
    v: int
    pid: int
    connectors: tuple[int, ...]
    realtime: bool = False


@dataclass(frozen=True, slots=True)
class State:
    """One socket's state: sent on every change."""

    TAG: ClassVar[str] = "state"
    connector: int
    cp_state: str  # A..F
    iec_state: str  # A1/B2/C2/E/F...
    pilot: str  # high | pwm | negative
    pwm_duty: float | None
    offered_a: float
    contactor: str  # open | closed (as commanded)
    faults: tuple[str, ...] = ()
    locked: bool = False  # the lock's feedback (its command where it has none)
    latched: tuple[str, ...] = ()  # the faults that outlive a control-process restart
    cable_a: float | None = None  # the cable's rating read from PP; None: none read (fixed cable, no cable)
    phases: int | None = None  # the phase relay's position; None: the socket has no relay
    phase_switch: str = ""  # the step of a phase switch (controller/evse/phaseswitch.py); "" without a relay


@dataclass(frozen=True, slots=True)
class StationState:
    TAG: ClassVar[str] = "station_state"
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MeterValues:
    currents: tuple[float, float, float]
    voltages: tuple[float, float, float]
    power_w: float
    energy_wh: float
    frequency_hz: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "currents": list(self.currents),
            "voltages": list(self.voltages),
            "power_w": self.power_w,
            "energy_wh": self.energy_wh,
            "frequency_hz": self.frequency_hz,
        }


@dataclass(frozen=True, slots=True)
class Sample:
    TAG: ClassVar[str] = "sample"
    connector: int
    meter: MeterValues | None = None


@dataclass(frozen=True, slots=True)
class StationSample:
    TAG: ClassVar[str] = "station_sample"
    temperature_c: float | None = None
    tilt_deg: float | None = None  # relative to the calibration; None: no sensor or no reading
    pe_present: bool | None = None
    suspend_input: bool | None = None


@dataclass(frozen=True, slots=True)
class Calibration:
    TAG: ClassVar[str] = "calibration"
    tilt_vector: Vector | None = None  # the gravity vector the tilt is measured against from now on
    tilt_deg: float | None = None  # its angle from the sensor's own vertical (informative)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    TAG: ClassVar[str] = "stats"
    ticks: int
    overruns: int
    max_tick_ms: float
    channel_errors: int
    watchdog_trips: int


@dataclass(frozen=True, slots=True)
class Log:
    TAG: ClassVar[str] = "log"
    level: str  # debug | info | warning | error
    text: str


@dataclass(frozen=True, slots=True)
class StallDone:
    TAG: ClassVar[str] = "stall_done"
    id: int
    ok: bool
    started_at: float | None = None
    ended_at: float | None = None
    error: str | None = None


# -- events of the supervisor (main process only, never on the wire) -------------------------------------------
@dataclass(frozen=True, slots=True)
class ControlDied:
    returncode: int | None


@dataclass(frozen=True, slots=True)
class ControlHung:
    silent_s: float


@dataclass(frozen=True, slots=True)
class RestartLimitReached:
    """More than the allowed restarts within the window: the control process stays down (outputs at their
    hardware-safe state) and the station is Faulted until a Reset (a station restart)."""

    restarts: int
    window_s: float


IN_MESSAGES: tuple[type, ...] = (MainHello, Restore, Limits, Config, ClearFaults, Stall, BenchTiming, Shutdown)
OUT_MESSAGES: tuple[type, ...] = (
    Hello, State, StationState, Sample, StationSample, Calibration, Stats, Log, StallDone,
)
MESSAGES: dict[str, type] = {cls.TAG: cls for cls in (*IN_MESSAGES, *OUT_MESSAGES)}  # type: ignore[attr-defined]

InMessage = Union[MainHello, Restore, Limits, Config, ClearFaults, Stall, BenchTiming, Shutdown]  # noqa: UP007
OutMessage = Union[Hello, State, StationState, Sample, StationSample, Calibration, Stats, Log, StallDone]  # noqa: UP007
SupervisorEvent = Union[ControlDied, ControlHung, RestartLimitReached]  # noqa: UP007


# -- the codec -----------------------------------------------------------------------------------------------
def _to_wire(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _to_wire(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_to_wire(v) for v in value]
    return value


def encode(msg: Any) -> bytes:
    """One message as a line of JSON."""
    tag = getattr(type(msg), "TAG", None)
    if tag not in MESSAGES or MESSAGES[tag] is not type(msg):
        raise TypeError(f"{type(msg).__name__} is not a message of the channel")
    body = _to_wire(msg)
    return json.dumps({"t": tag, **body}, separators=(",", ":")).encode() + b"\n"


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    h = _HINTS.get(cls)
    if h is None:
        h = typing.get_type_hints(cls)
        _HINTS[cls] = h
    return h


def _from_wire(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            raise DecodeError(f"{where}: expected null")
        return None
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _from_wire(arg, value, where)
            except DecodeError as exc:
                errors.append(str(exc))
        raise DecodeError(f"{where}: {value!r} fits none of {tp}")
    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError(f"{where}: expected a boolean, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise DecodeError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise DecodeError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_wire(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise DecodeError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_from_wire(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise DecodeError(f"{where}: expected an object, got {value!r}")
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if kt is int:
                try:
                    key: Any = int(k)
                except (TypeError, ValueError) as exc:
                    raise DecodeError(f"{where}: key {k!r} is not a connector id") from exc
            else:
                key = k
            out[key] = _from_wire(vt, v, f"{where}.{k}")
        return out
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(tp, value, where)
    raise DecodeError(f"{where}: cannot decode {tp}")


def _dataclass(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise DecodeError(f"{where}: expected an object, got {value!r}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in value:
            kwargs[f.name] = _from_wire(hints[f.name], value[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DecodeError(f"{where}: missing {f.name!r}")
    return cls(**kwargs)


def decode(obj: Any) -> Any:
    """A decoded JSON object -> its message; DecodeError when it is not one."""
    if not isinstance(obj, dict):
        raise DecodeError("a message is a JSON object")
    tag = obj.get("t")
    cls = MESSAGES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise DecodeError(f"unknown message type {tag!r}")
    return _dataclass(cls, {k: v for k, v in obj.items() if k != "t"}, str(tag))


class Decoder:
    """Splits a byte stream into messages; bad lines are counted in `errors` (the last in `last_error`) and
    dropped."""

    def __init__(self) -> None:
        self._buf = b""
        self.errors = 0
        self.last_error: str | None = None

    def _bad(self, why: str) -> None:
        self.errors += 1
        self.last_error = why

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out: list[Any] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > MAX_LINE:
                    self._buf = b""
                    self._bad("line too long")
                break
            line, self._buf = self._buf[:nl], self._buf[nl + 1 :]
            if not line.strip():
                continue
            try:
                out.append(decode(json.loads(line)))
            except ValueError as exc:  # DecodeError is a ValueError, and so is a JSON syntax error
                self._bad(str(exc))
        return out

