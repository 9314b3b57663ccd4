"""The charge point side of OCPP 1.6J: the `ocpp` library's ChargePoint with our handlers mixed in.

Each feature profile's handlers live in their own module as a mixin; this class only combines them and
hardens message routing: a frame that is not valid OCPP-J gets a CALLERROR when it has a unique id we can
answer to, and is logged otherwise. It never kills the connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from ocpp.messages import MessageType
from ocpp.v16 import ChargePoint as _LibChargePoint

from controller.ocpp.core import CoreHandlers
from controller.ocpp.diagnostics import DiagnosticsHandlers
from controller.ocpp.firmware import FirmwareHandlers
from controller.ocpp.localauth import LocalAuthHandlers
from controller.ocpp.reservation import ReservationHandlers
from controller.ocpp.security import SecurityHandlers
from controller.ocpp.smartcharging import SmartChargingHandlers

log = logging.getLogger(__name__)


class OcppClient(
    CoreHandlers,
    FirmwareHandlers,
    DiagnosticsHandlers,
    LocalAuthHandlers,
    ReservationHandlers,
    SmartChargingHandlers,
    SecurityHandlers,
    _LibChargePoint,
):
    """One live connection's charge point. `station` is the facade the handlers ask (see core.StationApi)."""

    def __init__(self, identity: str, connection: Any, station: Any, trace: Any = None) -> None:
        super().__init__(identity, connection)
        self.station = station
        self._trace = trace

    async def route_message(self, raw_msg: str) -> None:
        if self._trace:
            with contextlib.suppress(Exception):  # tracing must not choke on a malformed frame
                self._trace("in", raw_msg)
        try:
            msg = json.loads(raw_msg)
        except (TypeError, ValueError, RecursionError):  # RecursionError: "[" * 100 000 (found by fuzzing)
            log.warning("dropping a frame that is not JSON: %.200r", raw_msg)
            return
        if (
            not isinstance(msg, list)
            or len(msg) < 3
            or msg[0] not in (MessageType.Call, MessageType.CallResult, MessageType.CallError)
            or not isinstance(msg[1], str)
        ):
            if isinstance(msg, list) and len(msg) >= 2 and isinstance(msg[1], str) and msg[0] == MessageType.Call:
                await self._send(json.dumps([4, msg[1], "FormationViolation", "malformed CALL frame", {}]))
            else:
                log.warning("dropping a frame that is not OCPP-J: %.200r", raw_msg)
            return
        if msg[0] == MessageType.Call and (len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict)):
            await self._send(json.dumps([4, msg[1], "FormationViolation", "CALL must be [2, id, action, {payload}]", {}]))
            return
        self._answered: str | None = None
        try:
            await super().route_message(raw_msg)
        except Exception as exc:  # noqa: BLE001 - a handler failure answers with a CALLERROR, never kills the link
            log.exception("handling %.200r failed", raw_msg)
            if msg[0] == MessageType.Call and self._answered != msg[1]:
                await self._send(json.dumps([4, msg[1], "InternalError", f"{exc.__class__.__name__}", {}]))

    async def _send(self, message: str) -> None:
        if self._trace:
            with contextlib.suppress(Exception):
                self._trace("out", message)
        if message[:3] in ("[3,", "[4,"):
            with contextlib.suppress(ValueError, IndexError, TypeError):
                frame = json.loads(message)
                self._answered = frame[1]
                if frame[0] == 4 and frame[2] == "FormatViolation":  # the library's OCPP 2.x spelling
                    frame[2] = "FormationViolation"  # OCPP-J 1.6 §4.2.3
                    message = json.dumps(frame, separators=(",", ":"))
        await super()._send(message)
