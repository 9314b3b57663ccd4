"""THE channel (`controller.evse.protocol`): every message survives the wire, anything else is counted and
dropped, and both sides refuse a peer that speaks another protocol version."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time

import pytest

from board.loader import builtin_board, load_board
from controller.evse import protocol as p
from controller.evse.process import Runner
from controller.evse.supervisor import ControlProcess, ControlProcessError

SAMPLES: list[object] = [
    p.MainHello(p.PROTOCOL_VERSION),
    p.Restore({1: ("residual_current", "diode"), 2: ()}, (0.0, 0.1, 0.99)),
    p.Restore(),
    p.Limits({1: p.ConnectorLimits(16.0, True, False), 2: p.ConnectorLimits()}),
    p.Config({"TemperatureHigh": "60", "CalibrateTilt": ""}),
    p.ClearFaults(),
    p.ClearFaults(2),
    p.Stall(7, 0.5, False),
    p.BenchTiming((1, 2)),
    p.Shutdown(),
    p.Hello(p.PROTOCOL_VERSION, 1234, (1, 2), True),
    p.State(1, "C", "C2", "pwm", 26.66, 15.99, "closed", ("meter",), True, ("overcurrent",), 32.0),
    p.State(2, "A", "A1", "high", None, 0.0, "open"),
    p.StationState(("tilt",)),
    p.Sample(1, p.MeterValues((1.0, 2.0, 3.0), (230.0, 231.0, 229.0), 1380.0, 12.5, 50.0)),
    p.Sample(2, None),
    p.StationSample(25.5, 1.2, True, None),
    p.Calibration((0.0, 0.0, 1.0), 0.0, None),
    p.Calibration(None, None, "no sensor"),
    p.Stats(100, 1, 2.5, 0, 0),
    p.Log("warning", "control loop ignored config TemperatureHigh='hot'"),
    p.StallDone(7, True, 1.0, 2.0),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_wire(msg: object) -> None:
    line = p.encode(msg)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    [back] = p.Decoder().feed(line)
    assert back == msg and type(back) is type(msg)


def test_the_table_has_every_message_once() -> None:
    assert set(p.MESSAGES.values()) == {*p.IN_MESSAGES, *p.OUT_MESSAGES}
    assert len(p.MESSAGES) == len(p.IN_MESSAGES) + len(p.OUT_MESSAGES)
    with pytest.raises(TypeError):
        p.encode(p.ConnectorLimits())  # a part of a message, not a message
    with pytest.raises(TypeError):
        p.encode(p.ControlDied(1))  # a supervisor event never goes on the wire


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"no": "tag"}',
        b'{"t": "fly"}',
        b'{"t": "limits", "connectors": {"x": {"max_current": 1}}}',  # not a connector id
        b'{"t": "limits", "connectors": {"1": {"max_current": "lots"}}}',
        b'{"t": "limits", "connectors": {"1": {"authorized": "yes"}}}',  # a string is not a boolean
        b'{"t": "limits", "connectors": {"1": {"authorized": 1}}}',  # nor is a number
        b'{"t": "config", "values": "nope"}',
        b'{"t": "config", "values": {"TemperatureHigh": 60}}',  # values are strings
        b'{"t": "main_hello"}',  # missing v
        b'{"t": "main_hello", "v": true}',
        b'{"t": "restore", "latched": {"1": "diode"}}',  # a list of names
        b'{"t": "state", "connector": 1}',
        b'{"t": "calibration", "tilt_vector": [0, 1]}',  # three numbers
    ],
)
def test_anything_else_is_counted_and_dropped(line: bytes) -> None:
    d = p.Decoder()
    assert d.feed(line + b"\n" + p.encode(p.ClearFaults())) == [p.ClearFaults()]  # the next one still comes
    assert d.errors == 1 and d.last_error


def test_a_line_too_long_is_dropped() -> None:
    d = p.Decoder()
    assert d.feed(b"x" * (p.MAX_LINE + 1)) == []
    assert d.errors == 1
    assert d.feed(b"\n" + p.encode(p.Shutdown())) == [p.Shutdown()]


def test_unknown_extra_fields_are_ignored() -> None:
    [msg] = p.Decoder().feed(b'{"t": "clear_faults", "connector": 1, "later": "field"}\n')
    assert msg == p.ClearFaults(1)


# -- both sides refuse another version -------------------------------------------------------------------------
def runner() -> tuple[Runner, socket.socket]:
    ours, theirs = socket.socketpair()
    return Runner(load_board(builtin_board("sim")), theirs), ours


def sent(sock: socket.socket) -> list[object]:
    sock.setblocking(False)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    return p.Decoder().feed(data)


@pytest.mark.parametrize(
    "first",
    [p.MainHello(p.PROTOCOL_VERSION + 1), p.MainHello(1), p.Limits({1: p.ConnectorLimits(16, True, False)})],
    ids=["newer", "older", "no-hello"],
)
def test_the_loop_refuses_another_version(first: object) -> None:
    r, main = runner()
    r.loop.handle = lambda now, msg: pytest.fail(f"the loop took {msg}")  # type: ignore[method-assign]
    main.sendall(p.encode(first) + p.encode(p.Limits({1: p.ConnectorLimits(16, True, False)})))
    r.receive(time.monotonic())
    assert not r.running and r.refused
    r.flush()
    logs = [m for m in sent(main) if isinstance(m, p.Log)]
    assert logs and logs[0].level == "error" and "refused" in logs[0].text


def test_the_loop_takes_its_own_version() -> None:
    r, main = runner()
    main.sendall(p.encode(p.MainHello(p.PROTOCOL_VERSION)) + p.encode(p.Limits({1: p.ConnectorLimits(16, True, False)})))
    r.receive(time.monotonic())
    assert r.running and r.greeted and r.loop.commands[1].authorized


def test_a_refused_control_process_exits_with_its_outputs_safe() -> None:
    """The real process: another version, and it exits (code 3) without ever ticking a command."""
    ours, theirs = socket.socketpair()
    ours.sendall(p.encode(p.MainHello(999)))
    proc = subprocess.run(
        [sys.executable, "-m", "controller.evse.process", "--board", str(builtin_board("sim")), "--fd",
         str(theirs.fileno())],
        pass_fds=[theirs.fileno()], capture_output=True, timeout=60,
    )
    theirs.close()
    assert proc.returncode == 3, proc.stderr
    assert b"refused" in proc.stderr


async def test_the_main_process_refuses_another_version() -> None:
    cp = ControlProcess(builtin_board("sim"), lambda m: None)
    cp.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        cp.take(p.Hello(p.PROTOCOL_VERSION + 1, cp.proc.pid, (1,)))
        assert cp.refused and "refused" in cp.refused
        await asyncio.to_thread(cp.proc.wait, 5)
        assert cp.proc.returncode is not None  # killed
        with pytest.raises(ControlProcessError, match="protocol"):
            await cp.wait_ready(1)
        assert cp.hello is None
    finally:
        if cp.proc.poll() is None:
            cp.proc.kill()


def test_json_on_the_wire_is_plain() -> None:
    obj = json.loads(p.encode(p.Limits({1: p.ConnectorLimits(16.0, True, False)})))
    assert obj == {"t": "limits", "connectors": {"1": {"max_current": 16.0, "authorized": True, "suspended": False, "phases": 0}}}


async def test_two_stops_at_once_both_finish() -> None:
    """A Reset stops the station while its owner stops it too: the second stop found the plant half-closed and
    raised AttributeError (seen as a teardown error under load)."""
    cp = ControlProcess(builtin_board("sim"), lambda m: None)
    await cp.start()
    await asyncio.gather(cp.stop(), cp.stop())
    assert cp.plant is None and not cp.alive
