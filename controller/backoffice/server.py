"""A small OCPP 1.6J back office (central system) for bench tests and the demo.

Built on the ``ocpp`` library's server side over ``websockets``. Every message in both
directions is kept in ``BackOffice.records`` (and optionally logged as one readable line),
so tests can wait for what a charge point sent and inspect what it was answered.

Log line format (``->`` is CP to CS, ``<-`` is CS to CP)::

    CP1 -> StartTransaction {"connectorId": 1, ...}        call from the charge point
    CP1 <- StartTransaction.conf {"transactionId": 1, ...}  our answer
    CP1 <- RemoteStartTransaction {"idTag": "TAG1"}          call to the charge point
    CP1 -> RemoteStartTransaction.conf {"status": "Accepted"}
    CP1 <- Foo.error NotSupported {...}                      CallError (either way)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as _OcppChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

__all__ = ["BackOffice", "Record", "run_forever"]

LOGGER = logging.getLogger(__name__)
# The ocpp library logs every protocol error with a traceback; we already log one line per message.
# A NullHandler keeps those tracebacks off stderr unless the application configures logging.
_OCPP_LOGGER = logging.getLogger(__name__ + ".ocpp")
_OCPP_LOGGER.addHandler(logging.NullHandler())

SUBPROTOCOL = "ocpp1.6"
TEST_VENDOR_ID = "chargepoint-test"

_CALL, _CALL_RESULT, _CALL_ERROR = 2, 3, 4


@dataclass
class Record:
    """One OCPP message seen by the back office.

    ``direction``: "in" (call from the CP), "out" (call to the CP), "result" (answer to an
    "out" call, CallResult or CallError), "invalid" (a frame from the CP that is not OCPP-J).
    For "in" records, ``response`` is the payload we answered with, or ``error`` the
    CallError code if we answered with a CallError. For "result" records of a CallError,
    ``error`` is the error code and ``payload`` holds description and details.
    """

    cp_id: str
    direction: str
    action: str
    payload: dict
    unique_id: str
    at: float
    response: dict | None = None
    error: str | None = None


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str)


class _CentralSystemCP(_OcppChargePoint):
    """The central-system side of one charge point connection."""

    def __init__(self, cp_id: str, connection: ServerConnection, office: BackOffice) -> None:
        super().__init__(cp_id, connection, logger=_OCPP_LOGGER)
        self._office = office
        # unique_id -> action of our calls that still await a result
        self._out_actions: dict[str, str] = {}
        # unique_id -> action of the CP's call being handled (to name our answer)
        self._in_actions: dict[str, str] = {}
        # unique_id -> ("conf", payload) or ("error", code, payload) of our answer
        self._answers: dict[str, tuple[str, dict, str | None]] = {}
        self._current_payload: dict = {}

    # --- message plumbing -------------------------------------------------------------------

    async def route_message(self, raw_msg: Any) -> None:
        office = self._office
        at = time.monotonic()
        try:
            msg = json.loads(raw_msg)
            if not isinstance(msg, list) or len(msg) < 3 or msg[0] not in (_CALL, _CALL_RESULT, _CALL_ERROR):
                raise ValueError("not an OCPP-J message array")
        except (ValueError, TypeError):
            text = raw_msg if isinstance(raw_msg, str) else repr(raw_msg)
            office.log_line(f"{self.id} -> INVALID FRAME {text!r}")
            office.add_record(Record(self.id, "invalid", "", {"raw": text}, "", at))
            return

        kind, unique_id = msg[0], str(msg[1])
        if kind == _CALL:
            action = str(msg[2])
            payload = msg[3] if len(msg) > 3 and isinstance(msg[3], dict) else {}
            office.log_line(f"{self.id} -> {action} {_dumps(payload)}")
            self._in_actions[unique_id] = action
            self._current_payload = payload
            try:
                await super().route_message(raw_msg)
            except Exception:  # never let one bad frame kill the connection
                LOGGER.exception("%s: error routing %r", self.id, raw_msg)
            finally:
                self._in_actions.pop(unique_id, None)
                self._current_payload = {}
            answer = self._answers.pop(unique_id, None)
            record = Record(self.id, "in", action, payload, unique_id, at)
            if answer is not None:
                if answer[0] == "conf":
                    record.response = answer[1]
                else:
                    record.error = answer[2]
            office.add_record(record)
            return

        action = self._out_actions.pop(unique_id, "?")
        if kind == _CALL_RESULT:
            payload = msg[2] if isinstance(msg[2], dict) else {}
            office.log_line(f"{self.id} -> {action}.conf {_dumps(payload)}")
            office.add_record(Record(self.id, "result", action, payload, unique_id, at))
        else:
            code = str(msg[2])
            payload = {
                "errorDescription": msg[3] if len(msg) > 3 else "",
                "errorDetails": msg[4] if len(msg) > 4 else {},
            }
            office.log_line(f"{self.id} -> {action}.error {code} {_dumps(payload)}")
            office.add_record(Record(self.id, "result", action, payload, unique_id, at, error=code))
        try:
            await super().route_message(raw_msg)
        except Exception:
            LOGGER.exception("%s: error routing %r", self.id, raw_msg)

    async def send_raw(self, frame: str) -> None:
        await self._connection.send(frame)

    def abort(self) -> None:
        """Drop the connection at once (no close handshake), as a dying peer does."""
        self._connection.transport.abort()

    async def _send(self, message: str) -> None:
        office = self._office
        msg = json.loads(message)
        kind, unique_id = msg[0], str(msg[1])
        if kind == _CALL:
            action, payload = msg[2], msg[3]
            self._out_actions[unique_id] = action
            office.log_line(f"{self.id} <- {action} {_dumps(payload)}")
            office.add_record(Record(self.id, "out", action, payload, unique_id, time.monotonic()))
        elif kind == _CALL_RESULT:
            action = self._in_actions.get(unique_id, "?")
            self._answers[unique_id] = ("conf", msg[2], None)
            office.log_line(f"{self.id} <- {action}.conf {_dumps(msg[2])}")
            if office.before_answer is not None and not office.before_answer(self.id, action):
                self._connection.transport.abort()  # processed, but the answer never leaves
                return
        else:
            action = self._in_actions.get(unique_id, "?")
            payload = {"errorDescription": msg[3], "errorDetails": msg[4]}
            self._answers[unique_id] = ("error", payload, msg[2])
            office.log_line(f"{self.id} <- {action}.error {msg[2]} {_dumps(payload)}")
        await super()._send(message)

    # --- handlers for every CP -> CS action of OCPP 1.6J (+ security whitepaper) -----------

    def _id_tag_info(self, id_tag: str) -> dict:
        return {"status": self._office.id_tag_status.get(id_tag, "Accepted")}

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=self._id_tag_info(id_tag))

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=_now_iso(),
            interval=self._office.heartbeat_interval,
            status=self._office.boot_status,
        )

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, data: str | None = None, **_: Any) -> call_result.DataTransfer:
        if vendor_id == TEST_VENDOR_ID:
            return call_result.DataTransfer(status="Accepted", data=data)
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now_iso())

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, transaction_id: int | None = None, **_: Any
    ) -> call_result.MeterValues:
        if transaction_id is not None and transaction_id in self._office.transactions:
            kept = self._office.transactions[transaction_id]["meter_values"]
            seen = {mv.get("timestamp") for mv in kept}
            for mv in self._current_payload.get("meterValue", []):
                if mv.get("timestamp") in seen:  # a resend (the CP did not get our answer): keep one
                    self._office.duplicates["MeterValues"] += 1
                else:
                    kept.append(mv)
        return call_result.MeterValues()

    @on(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> call_result.StartTransaction:
        office = self._office
        transaction_id, resend = office.transaction_for((self.id, connector_id, id_tag, timestamp, meter_start))
        if resend:  # a resend: same transaction, same id (how real back offices dedupe)
            return call_result.StartTransaction(
                transaction_id=transaction_id, id_tag_info=self._id_tag_info(id_tag)
            )
        office.transactions[transaction_id] = {
            "cp_id": self.id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "meter_start": meter_start,
            "timestamp": timestamp,
            "meter_values": [],
        }
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info=self._id_tag_info(id_tag)
        )

    @on(Action.status_notification)
    def on_status_notification(
        self, connector_id: int, status: str, **_: Any
    ) -> call_result.StatusNotification:
        self._office.connector_status[(self.id, connector_id)] = status
        return call_result.StatusNotification()

    @on(Action.stop_transaction)
    def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        id_tag: str | None = None,
        reason: str | None = None,
        **_: Any,
    ) -> call_result.StopTransaction:
        tx = self._office.transactions.get(transaction_id)
        if tx is None:  # unknown to us (e.g. started while we were not running): keep what we know
            tx = self._office.transactions[transaction_id] = {
                "cp_id": self.id,
                "connector_id": None,
                "id_tag": id_tag,
                "meter_start": None,
                "timestamp": None,
                "meter_values": [],
                "unknown_start": True,
            }
        if "meter_stop" in tx:
            self._office.duplicates["StopTransaction"] += 1
        tx["meter_stop"] = meter_stop
        tx["stop_timestamp"] = timestamp
        if reason is not None:
            tx["reason"] = reason
        if id_tag is not None:
            tx["stop_id_tag"] = id_tag
        if "transactionData" in self._current_payload:
            tx["transaction_data"] = self._current_payload["transactionData"]
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=self._id_tag_info(id_tag))

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **_: Any) -> call_result.SignCertificate:
        return call_result.SignCertificate(status="Accepted")

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(
        self, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        return call_result.SignedFirmwareStatusNotification()


class BackOffice:
    """An OCPP 1.6J central system that records every message; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        boot_status: str = "Accepted",
        heartbeat_interval: int = 300,
        log: Callable[[str], None] | None = None,
        basic_auth: dict[str, str] | None = None,
        ssl: Any = None,
    ) -> None:
        self.host = host
        self.ssl = ssl  # an ssl.SSLContext: serve wss:// (require client certificates by configuring it so)
        # Resends absorbed (StartTransaction by (cp, connector, idTag, timestamp, meterStart), StopTransaction by
        # transactionId, MeterValues by (transactionId, timestamp)).
        self.duplicates: dict[str, int] = {"StartTransaction": 0, "StopTransaction": 0, "MeterValues": 0}
        self._start_keys: dict[tuple[Any, ...], int] = {}
        self.port = port
        self.boot_status = boot_status
        self.heartbeat_interval = heartbeat_interval
        self.basic_auth: dict[str, str] = dict(basic_auth or {})
        self.id_tag_status: dict[str, str] = {}
        self.records: list[Record] = []
        self.transactions: dict[int, dict] = {}
        self.connector_status: dict[tuple[str, int], str] = {}  # (cp_id, connector_id) -> last status
        self.auth_headers: dict[str, str | None] = {}  # cp_id -> Authorization header of last attempt
        self._log_fn = log
        self._transaction_ids = itertools.count(1)
        self._server: Server | None = None
        self._cps: dict[str, _CentralSystemCP] = {}
        self._handler_done: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        # test hooks: see every upgrade request first (a response refuses it), decide whether an answer leaves
        self.request_hook: Callable[[ServerConnection, Request], Response | None] | None = None
        self.before_answer: Callable[[str, str], bool] | None = None  # (cp_id, action) -> send it?

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> int:
        """Start listening; returns the bound port."""
        self._server = await websockets.serve(
            self._handle,
            self.host,
            self.port,
            ssl=self.ssl,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            process_request=self._process_request,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self.ssl is not None else 'ws'}://{host}:{self.port}"

    # --- connections -----------------------------------------------------------------------

    @staticmethod
    def _cp_id_from_path(path: str) -> str:
        return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.request_hook is not None:
            refused = self.request_hook(connection, request)
            if refused is not None:
                return refused
        cp_id = self._cp_id_from_path(request.path)
        if not cp_id:
            self.log_line(f"refused connection to {request.path!r}: no charge point identity in the path")
            return connection.respond(HTTPStatus.NOT_FOUND, "charge point identity missing from the URL\n")
        header = request.headers.get("Authorization")
        self.auth_headers[cp_id] = header
        password = self.basic_auth.get(cp_id)
        if password is not None and not self._basic_auth_ok(header, cp_id, password):
            self.log_line(f"{cp_id} refused: HTTP 401 (Authorization {'missing' if header is None else 'wrong'})")
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            self._notify()
            return response
        return None

    @staticmethod
    def _basic_auth_ok(header: str | None, cp_id: str, password: str) -> bool:
        if header is None:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{cp_id}:{password}"

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        cp_id = self._cp_id_from_path(connection.request.path)
        old = self._cps.get(cp_id)
        cp = _CentralSystemCP(cp_id, connection, self)
        done = asyncio.Event()
        self._cps[cp_id] = cp
        self._handler_done[cp_id] = done
        if old is not None:
            # The old socket is usually half-dead (that is why the CP reconnected): cut it, don't
            # wait for a closing handshake that may never come.
            self.log_line(f"{cp_id} reconnected: dropping the previous connection")
            old.abort()
        self.log_line(f"{cp_id} connected (subprotocol {connection.subprotocol})")
        self._notify()
        try:
            await cp.start()
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd.code if exc.rcvd is not None else 1006
            self.log_line(f"{cp_id} disconnected (code {rcvd})")
        except Exception:
            LOGGER.exception("%s: connection handler failed", cp_id)
            self.log_line(f"{cp_id} connection handler failed")
        finally:
            if self._cps.get(cp_id) is cp:
                del self._cps[cp_id]
                self._handler_done.pop(cp_id, None)
            done.set()
            self._notify()

    def connected(self, cp_id: str) -> bool:
        return cp_id in self._cps

    def transaction_for(self, key: tuple[Any, ...]) -> tuple[int, bool]:
        """The transactionId of a StartTransaction keyed (cp, connector, idTag, timestamp, meterStart), and
        whether it is a resend of one already answered (then the same id, counted in `duplicates`)."""
        if key in self._start_keys:
            self.duplicates["StartTransaction"] += 1
            return self._start_keys[key], True
        self._start_keys[key] = transaction_id = next(self._transaction_ids)
        return transaction_id, False

    def connected_ids(self) -> list[str]:
        return list(self._cps)

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def send_raw(self, cp_id: str, frame: str) -> None:
        """Send a raw text frame to a connected charge point (malformed frames, for tests)."""
        cp = self._cps.get(cp_id)
        if cp is None:
            raise ConnectionError(f"{cp_id} is not connected")
        await cp.send_raw(frame)

    async def wait_connected(self, cp_id: str, timeout: float = 10.0) -> None:
        try:
            await self._wait_until(lambda: self.connected(cp_id) or None, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{cp_id} did not connect within {timeout}s; connected: {sorted(self._cps) or 'none'}"
            ) from None

    async def drop(self, cp_id: str) -> None:
        """Cut that charge point's connection without a closing handshake (simulated network loss)."""
        cp = self._cps.get(cp_id)
        if cp is None:
            return
        done = self._handler_done.get(cp_id)
        self.log_line(f"{cp_id} dropped by the back office")
        cp.abort()
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 5)

    # --- calls to the charge point ----------------------------------------------------------

    async def call(self, cp_id: str, request: Any, timeout: float = 10.0) -> Any:
        """Send an ``ocpp.v16.call.*`` payload; returns the ``call_result`` object.

        A CallError answer raises the corresponding ``ocpp.exceptions.OCPPError``;
        no answer within ``timeout`` raises ``TimeoutError``.
        """
        cp = self._cps.get(cp_id)
        if cp is None:
            raise ConnectionError(f"{cp_id} is not connected; connected: {sorted(self._cps) or 'none'}")
        action = type(request).__name__
        try:
            return await asyncio.wait_for(cp.call(request, suppress=False), timeout)
        except TimeoutError:
            raise TimeoutError(f"{cp_id} did not answer {action} within {timeout}s") from None

    # --- waiting on records ------------------------------------------------------------------

    async def wait_for(
        self,
        action: str,
        cp_id: str | None = None,
        predicate: Callable[[dict], bool] | None = None,
        timeout: float = 10.0,
        after: int = 0,
    ) -> Record:
        """First "in" record of ``action`` (from ``cp_id``, matching ``predicate``) at index >= after."""

        def find() -> Record | None:
            for record in self.records[after:]:
                if (
                    record.direction == "in"
                    and record.action == action
                    and (cp_id is None or record.cp_id == cp_id)
                    and (predicate is None or predicate(record.payload))
                ):
                    return record
            return None

        try:
            return await self._wait_until(find, timeout)
        except TimeoutError:
            raise TimeoutError(self._describe_timeout(action, cp_id, predicate, timeout, after)) from None

    def _describe_timeout(
        self,
        action: str,
        cp_id: str | None,
        predicate: Callable[[dict], bool] | None,
        timeout: float,
        after: int,
    ) -> str:
        who = f" from {cp_id}" if cp_id else ""
        cond = " matching the predicate" if predicate else ""
        seen = [r for r in self.records[after:] if r.direction in ("in", "invalid")]
        lines = [f"no {action}{who}{cond} within {timeout}s (looking at records from index {after});"]
        if not seen:
            lines.append("  nothing received from any charge point")
        for r in seen[-20:]:
            lines.append(f"  seen: {r.cp_id} -> {r.action or 'INVALID'} {_dumps(r.payload)}")
        if len(seen) > 20:
            lines.insert(1, f"  ({len(seen) - 20} earlier messages not shown)")
        lines.append(f"  connected: {sorted(self._cps) or 'none'}")
        return "\n".join(lines)

    async def _wait_until(self, find: Callable[[], Any], timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = find()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    # --- internals -------------------------------------------------------------------------

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def add_record(self, record: Record) -> None:
        self.records.append(record)
        self._notify()

    def log_line(self, line: str) -> None:
        if self._log_fn is None:
            return
        try:
            self._log_fn(line)
        except Exception:
            LOGGER.exception("back office log callback failed")


async def run_forever(host: str, port: int) -> None:
    """Run a back office that prints every message line to stdout, until cancelled."""
    office = BackOffice(host, port, log=lambda line: print(line, flush=True))
    bound = await office.start()
    print(f"OCPP 1.6J back office listening on ws://{host}:{bound}/<charge point id>", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await office.stop()
