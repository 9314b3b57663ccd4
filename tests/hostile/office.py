"""The project's own hostile back office: raw `websockets`, no OCPP library on this side, so it can send any
byte. Every frame in both directions is recorded; `answer` decides per CALL from the charge point what goes
back (a normal answer, a CALLERROR, an invalid reply, nothing, a late or out-of-order reply), and `call` /
`send_raw` send anything to the charge point.

The checks every scenario makes on the frames:
- `assert_one_call_outstanding`: the charge point never sends a CALL while one it sent earlier on the same
  connection is still waiting for an answer the office means to give (an office that chose not to answer, or
  to answer late, gives the charge point the right to time out; those CALLs count as abandoned).
- `transaction_messages`: the StartTransaction/StopTransaction/MeterValues(transactionId) frames, to assert on
  delivery exactly once or at least once with identical content.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

NO_REPLY: list[str] = []


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Frame:
    direction: str  # "in" (from the charge point) or "out" (to it)
    conn: int  # connection number, from 1
    raw: str

    @property
    def msg(self) -> Any:
        try:
            return json.loads(self.raw)
        except ValueError:
            return None


@dataclass
class Incoming:
    """A CALL from the charge point, as `answer` sees it."""

    uid: str
    action: str
    payload: dict[str, Any]
    conn: int
    nth: int  # how many CALLs of this action came before it (all connections)


Answer = Callable[[Incoming], list[str] | None]  # frames to send back; None: the normal answer


@dataclass
class HostileOffice:
    answer: Answer | None = None
    heartbeat_interval: int = 300
    frames: list[Frame] = field(default_factory=list)
    abandoned: set[str] = field(default_factory=set)  # CALL ids we chose not to answer (now)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization) per connection
    port: int = 0
    _server: Server | None = None
    _ws: ServerConnection | None = None
    _conns: int = 0
    _tx_ids: Any = field(default_factory=lambda: itertools.count(100))
    _counts: dict[str, int] = field(default_factory=dict)
    _pending: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        # a restarted office listens on the port it had (the charge point's URL stays valid)
        self._server = await serve(self._handle, "127.0.0.1", self.port, subprotocols=[Subprotocol("ocpp1.6")],
                                   max_size=2**22, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1] if hasattr(self._server, "sockets") else 0
        if not self.port:
            self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def connections(self) -> int:
        return self._conns

    # -- the connection --------------------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        self._conns += 1
        conn = self._conns
        if ws.request is not None:
            self.requests.append((ws.request.path, ws.request.headers.get("Authorization")))
        self._ws = ws
        self._notify()
        try:
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode(errors="replace")
                self.frames.append(Frame("in", conn, text))
                self._notify()
                await self._route(text, conn)
        except Exception:  # noqa: BLE001 - a dropped socket ends the connection, nothing else
            pass
        finally:
            if self._ws is ws:
                self._ws = None
            self._notify()

    async def _route(self, text: str, conn: int) -> None:
        msg = json.loads(text)
        if msg[0] == 2:
            _, uid, action, payload = msg
            nth = self._counts.get(action, 0)
            self._counts[action] = nth + 1
            inc = Incoming(uid, action, payload, conn, nth)
            frames = self.answer(inc) if self.answer is not None else None
            if frames is None:
                frames = [json.dumps([3, uid, self.normal(inc)])]
            if not frames or not any(_is_answer_to(f, uid) for f in frames):
                self.abandoned.add(uid)
            for f in frames:
                await self.send_raw(f)
        elif msg[0] in (3, 4):
            fut = self._pending.pop(str(msg[1]), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def normal(self, inc: Incoming) -> dict[str, Any]:
        """What a well-behaved back office answers."""
        a, p = inc.action, inc.payload
        if a == "BootNotification":
            return {"status": "Accepted", "currentTime": now_iso(), "interval": self.heartbeat_interval}
        if a == "Heartbeat":
            return {"currentTime": now_iso()}
        if a == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if a == "StartTransaction":
            return {"transactionId": next(self._tx_ids), "idTagInfo": {"status": "Accepted"}}
        if a == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}} if p.get("idTag") else {}
        if a == "DataTransfer":
            return {"status": "UnknownVendorId"}
        if a == "SignCertificate":
            return {"status": "Accepted"}
        return {}

    async def send_raw(self, frame: str) -> None:
        ws = self._ws
        if ws is None:
            return
        self.frames.append(Frame("out", self._conns, frame))
        await ws.send(frame)

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 10.0) -> list[Any]:
        """A CALL to the charge point; returns its answer frame ([3, id, payload] or [4, id, code, ...])."""
        uid = f"bo-{next(self._ids)}"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[uid] = fut
        await self.send_raw(json.dumps([2, uid, action, payload]))
        return await asyncio.wait_for(fut, timeout)

    async def result(self, action: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """`call` that must get a CALLRESULT; returns its payload."""
        reply = await self.call(action, payload, timeout)
        assert reply[0] == 3, reply
        return dict(reply[2])

    async def error_code(self, action: str, payload: dict[str, Any], timeout: float = 10.0) -> str:
        """`call` that must get a CALLERROR; returns its error code."""
        reply = await self.call(action, payload, timeout)
        assert reply[0] == 4, reply
        return str(reply[2])

    async def close_cleanly(self, code: int = 1000) -> None:
        """End the connection with a closing handshake (the back office restarts, or logs the charge point out)."""
        ws = self._ws
        if ws is not None:
            await ws.close(code)
            await self.wait(lambda: self._ws is not ws, what="the connection closed")

    async def drop(self) -> None:
        ws = self._ws
        if ws is not None:
            ws.transport.abort()
            await self.wait(lambda: self._ws is not ws, what="the socket dropped")

    # -- waiting and reading ---------------------------------------------------------------------------------
    def _notify(self) -> None:
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    async def wait(self, pred: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Wait (real time, event-driven) until `pred()` is truthy; returns its value."""
        end = time.monotonic() + timeout
        while True:
            got = pred()
            if got:
                return got
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"hostile office: timed out waiting for {what}; frames:\n{self.dump()}")
            ev = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), min(left, 0.05))

    def calls(self, action: str | None = None) -> list[Incoming]:
        """CALLs from the charge point, oldest first."""
        out = []
        for f in self.frames:
            m = f.msg
            if f.direction == "in" and isinstance(m, list) and m and m[0] == 2 and (action is None or m[2] == action):
                out.append(Incoming(m[1], m[2], m[3], f.conn, 0))
        return out

    async def wait_call(self, action: str, count: int = 1, timeout: float = 10.0) -> Incoming:
        """The `count`-th CALL of `action` (waits for it)."""
        got = await self.wait(lambda: len(self.calls(action)) >= count, timeout, f"{count}x {action}")
        assert got
        return self.calls(action)[count - 1]

    def dump(self) -> str:
        return "\n".join(f"{f.conn} {'->' if f.direction == 'in' else '<-'} {f.raw[:300]}" for f in self.frames[-60:])

    # -- the checks on the frames ----------------------------------------------------------------------------
    def assert_one_call_outstanding(self) -> None:
        outstanding: dict[int, set[str]] = {}
        for f in self.frames:
            m = f.msg
            if not isinstance(m, list) or len(m) < 2:
                continue
            mine = outstanding.setdefault(f.conn, set())
            if f.direction == "in" and m[0] == 2:
                live = mine - self.abandoned
                assert not live, f"charge point sent {m[2]} while {live} was outstanding:\n{self.dump()}"
                mine.add(str(m[1]))
            elif f.direction == "out" and m[0] in (3, 4):
                mine.discard(str(m[1]))

    def transaction_messages(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for c in self.calls():
            if c.action in ("StartTransaction", "StopTransaction") or (
                c.action == "MeterValues" and "transactionId" in c.payload
            ):
                out.append((c.action, c.payload))
        return out


def _is_answer_to(frame: str, uid: str) -> bool:
    with contextlib.suppress(ValueError, IndexError, TypeError):
        m = json.loads(frame)
        return m[0] in (3, 4) and str(m[1]) == uid
    return False


def callerror(uid: str, code: str = "InternalError", text: str = "hostile") -> str:
    return json.dumps([4, uid, code, text, {}])


def result(uid: str, payload: Any) -> str:
    return json.dumps([3, uid, payload])
