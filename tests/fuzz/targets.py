"""Fuzz targets (hypothesis) for the parsers that face the outside: OCPP frames through our client's routing
(the ocpp library's parsing path), Modbus TCP byte streams through the slave, P1 byte streams through the
meter, sim control API lines, and state files. Each target raises on a crash or a broken promise; the short
run is part of `make test` (tests/fuzz/test_fuzz.py), the long one is `make fuzz SECONDS=N` (__main__.py).
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import tempfile
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from ocpp.v16.enums import Action

from board.loader import builtin_board, load_board
from controller import statefile
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.modbus.server import ModbusTcpServer
from controller.ocpp.availability import SHAPE as AVAILABILITY_SHAPE
from controller.ocpp.certstore import INDEX_SHAPE
from controller.ocpp.client import ClientServices, OcppClient, frame_tracer
from controller.ocpp.firmware import MARKER_SHAPE
from controller.ocpp.security import EVENTS_SHAPE
from controller.ocpp.smartcharging import SHAPE as PROFILES_SHAPE
from controller.simcontrol.server import SimControlServer
from controller.station.control import TILT_SHAPE
from controller.transactions.journal import MARKER_SHAPE as JOURNAL_MARKER_SHAPE
from hal.p1_meter import P1Meter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hal"))
from hal_fakes import dsmr5_telegram  # noqa: E402

_loop = asyncio.new_event_loop()


def run(coro: Any) -> Any:
    return _loop.run_until_complete(coro)


# -- shared strategies ------------------------------------------------------------------------------------------
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                      st.floats(allow_nan=False), st.text(max_size=30))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                            st.dictionaries(st.text(max_size=10), kids, max_size=5)),
                          max_leaves=20)
deep = st.integers(min_value=500, max_value=200_000).map(lambda n: "[" * n)


# -- OCPP frames ------------------------------------------------------------------------------------------------
class _Connection:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def recv(self) -> str:
        await asyncio.Event().wait()
        return ""


class _NoStation:
    """Every service a handler asks fails: the frame must still be answered with a CALLERROR."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"fuzz: station.{name}")


ACTIONS = [a.value for a in Action]
ocpp_call = st.builds(
    lambda uid, action, payload: json.dumps([2, uid, action, payload]),
    st.text(min_size=1, max_size=36), st.sampled_from(ACTIONS), st.dictionaries(st.text(max_size=20), json_value,
                                                                                max_size=6),
)
ocpp_frames = st.one_of(
    ocpp_call,
    st.builds(lambda v: json.dumps(v), json_value),
    st.builds(lambda kind, uid, rest: json.dumps([kind, uid, *rest]), st.sampled_from([2, 3, 4, 5, "2"]),
              st.one_of(st.text(max_size=10), st.integers()), st.lists(json_value, max_size=4)),
    st.text(max_size=200),
    deep,
)


def ocpp_frame(raw: str) -> None:
    """Our client's route_message never raises; a frame that parses as a CALL gets exactly one answer."""
    conn = _Connection()
    services = ClientServices(*(_NoStation() for _ in fields(ClientServices)))
    cp = OcppClient("FUZZ", conn, services, frame_tracer(lambda line: None))
    run(cp.route_message(raw))
    for t in asyncio.all_tasks(_loop):  # @after hooks the library scheduled
        t.cancel()
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        frame = None
    if isinstance(frame, list) and len(frame) >= 2 and frame[0] == 2 and isinstance(frame[1], str):
        answers = [json.loads(m) for m in conn.sent]
        assert len(answers) == 1, (raw, conn.sent)
        assert answers[0][0] in (3, 4) and answers[0][1] == frame[1]


# -- Modbus TCP -------------------------------------------------------------------------------------------------
class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.transport = self

    def get_extra_info(self, name: str) -> Any:
        return ("192.0.2.1", 50200) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.out += data

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


_modbus: ModbusTcpServer | None = None


def _modbus_server() -> ModbusTcpServer:
    global _modbus
    if _modbus is None:
        from tests.energy.test_modbus_slave import CONFIG, FakeStation, slave_for

        tmp = Path(tempfile.mkdtemp(prefix="fuzz-modbus-"))
        reg = ConfigRegistry(ConfigStore(tmp / "config.json"))
        for k, v in CONFIG.items():
            reg.set(k, v)
        slave = slave_for(FakeStation(reg, load_board(builtin_board("sim-double"))), idle_timeout_s=0.05)
        _modbus = slave.server
    return _modbus


modbus_request = st.builds(
    lambda tid, unit, fc, body: struct.pack(">HHHB", tid, 0, len(body) + 2, unit) + bytes([fc]) + body,
    st.integers(0, 0xFFFF), st.sampled_from([1, 2, 200, 0, 255]), st.sampled_from([3, 6, 16, 1, 4, 0x83, 0]),
    st.one_of(st.builds(lambda a, c: struct.pack(">HH", a, c), st.integers(0, 0xFFFF), st.integers(0, 200)),
              st.binary(max_size=260)),
)
modbus_streams = st.lists(st.one_of(modbus_request, st.binary(max_size=300)), max_size=8).map(b"".join)


def modbus_stream(data: bytes) -> None:
    """The slave reads a hostile byte stream to its end: no exception escapes, every answer is framed."""
    server = _modbus_server()
    reader = asyncio.StreamReader(loop=_loop)
    reader.feed_data(data)
    reader.feed_eof()
    writer = _Writer()
    run(server.handle_connection(reader, writer))  # type: ignore[arg-type]
    assert writer.closed and not server.clients
    out = bytes(writer.out)
    while out:
        assert len(out) >= 9, out
        _, pid, length, _ = struct.unpack(">HHHB", out[:7])
        assert pid == 0 and len(out) >= 6 + length
        out = out[6 + length :]


# -- P1 ---------------------------------------------------------------------------------------------------------
TELEGRAM = dsmr5_telegram()
p1_streams = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.one_of(st.just(TELEGRAM), st.binary(max_size=200),
                       st.builds(lambda i, b: TELEGRAM[:i] + b + TELEGRAM[i:], st.integers(0, len(TELEGRAM)),
                                 st.binary(min_size=1, max_size=20))), max_size=6).map(b"".join),
)
_p1 = P1Meter("loop://", start=False)


def p1_stream(data: bytes) -> None:
    """The P1 meter eats any byte stream: counted, never raised; its buffer and parser state stay bounded."""
    _p1.feed(data)
    assert all(len(p.value_formats) <= 22 for p in _p1.profile_parsers)


# -- sim control API lines ------------------------------------------------------------------------------------------
class _SimStation:
    class devices:  # noqa: N801 - the attribute the server reads
        rfid = None
        grid_meter = None

    class control:  # noqa: N801
        @staticmethod
        async def sim(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
            json.dumps(args)  # what the pipe to the control process would do
            return {"ok": True}

    @staticmethod
    def status_snapshot() -> dict[str, Any]:
        return {"connectors": []}


sim_lines = st.one_of(
    st.builds(lambda cmd, args: json.dumps({"cmd": cmd, **args}).encode(),
              st.sampled_from(["status", "tag", "grid", "meter_offline", "plug", "unplug", "ev", "meter_energy",
                               "nonsense"]),
              st.dictionaries(st.sampled_from(["uid", "currents", "connector", "offline", "which", "ev", "x"]),
                              json_value, max_size=4)),
    st.binary(max_size=300),
    deep.map(str.encode),
)


def sim_line(line: bytes) -> None:
    """The sim control API answers every line with a JSON object saying ok or not; nothing escapes."""
    server = SimControlServer(_SimStation())
    reply = run(server.handle_line(line))
    assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool)
    json.dumps(reply)


# -- state files ------------------------------------------------------------------------------------------------
SHAPES: dict[str, Any] = {
    "availability.json": AVAILABILITY_SHAPE,
    "charging_profiles.json": PROFILES_SHAPE,
    "security_events.json": EVENTS_SHAPE,
    "certs/index.json": INDEX_SHAPE,
    "tilt-calibration.json": TILT_SHAPE,
    "firmware/result.json": MARKER_SHAPE,
    "journal.sqlite.marker.json": JOURNAL_MARKER_SHAPE,
}
state_contents = st.one_of(st.binary(max_size=500), st.builds(lambda v: json.dumps(v).encode(), json_value),
                           deep.map(str.encode))


def state_file(name_and_raw: tuple[str, bytes]) -> None:
    """A state file read back is either its default (set aside) or a value of its declared shape."""
    name, raw = name_and_raw
    shape = SHAPES[name] if name in SHAPES else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(raw)
        if shape is None:  # config.json
            store = ConfigStore(path)
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in store.values.items())
            return
        default = object()
        got = statefile.read_json(path, default, shape)
        if got is default:
            assert not path.exists() and path.with_name(path.name + ".corrupt").read_bytes() == raw
        else:
            assert statefile.conforms(got, shape) and path.read_bytes() == raw


state_files = st.tuples(st.sampled_from([*SHAPES, "config.json"]), state_contents)

TARGETS: dict[str, tuple[Callable[[Any], None], st.SearchStrategy[Any]]] = {
    "ocpp_frame": (ocpp_frame, ocpp_frames),
    "modbus_stream": (modbus_stream, modbus_streams),
    "p1_stream": (p1_stream, p1_streams),
    "sim_line": (sim_line, sim_lines),
    "state_file": (state_file, state_files),
}
