"""The charge point side of OCPP 1.6J: the `ocpp` library's ChargePoint with our handlers mixed in.

Each feature profile's handlers live in their own module as a mixin; this class only combines them and
hardens message routing: a frame that is not valid OCPP-J gets a CALLERROR when it has a unique id we can
answer to, and is logged otherwise. It never kills the connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.messages import MessageType
from ocpp.v16 import ChargePoint as _LibChargePoint

from controller.ocpp.core import CoreApi, CoreHandlers, TriggerApi
from controller.ocpp.diagnostics import DiagnosticsApi, DiagnosticsHandlers
from controller.ocpp.firmware import FirmwareApi, FirmwareHandlers
from controller.ocpp.link import NO_LIBRARY_TIMEOUT
from controller.ocpp.localauth import LocalAuthHandlers, LocalListApi
from controller.ocpp.reservation import ReservationApi, ReservationHandlers
from controller.ocpp.security import CertificatesApi, SecurityHandlers
from controller.ocpp.smartcharging import SmartChargingApi, SmartChargingHandlers
from controller.ports import Trace
from controller.redact import redact_payload, redact_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientServices:
    """The services the handlers of each feature profile ask (the composition root provides them)."""

    core: CoreApi
    triggers: TriggerApi
    firmware: FirmwareApi
    diagnostics: DiagnosticsApi
    local_list: LocalListApi
    reservations: ReservationApi
    smart: SmartChargingApi
    certificates: CertificatesApi


def frame_tracer(trace: Trace, secret: frozenset[str] = frozenset()) -> Callable[[str, str], None]:
    """A short line in the station trace for every frame in or out; the values of the `secret` (write-only)
    keys are masked before anything is cut short."""

    def trace_frame(direction: str, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            trace(f"ocpp {direction}: {redact_text(raw, secret)[:120]}")
            return
        arrow = "->" if direction == "out" else "<-"
        if isinstance(msg, list) and len(msg) > 3 and msg[0] == 2:
            payload = redact_payload(str(msg[2]), msg[3], secret)
            trace(f"ocpp {arrow} {msg[2]} {json.dumps(payload, separators=(',', ':'))[:160]}")
        elif isinstance(msg, list) and msg and msg[0] == 3:
            trace(f"ocpp {arrow} result {json.dumps(msg[2], separators=(',', ':'))[:160]}")
        else:
            trace(f"ocpp {arrow} {redact_text(raw, secret)[:160]}")

    return trace_frame


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
    """One live connection's charge point; its handlers ask `services`."""

    def __init__(
        self, identity: str, connection: Any, services: ClientServices, trace: Callable[[str, str], None] | None = None
    ) -> None:
        # the link owns reply timeouts (on the injected clock): the library's own real-time timer must never fire first
        super().__init__(identity, connection, response_timeout=NO_LIBRARY_TIMEOUT)
        self.core_api = services.core
        self.trigger_api = services.triggers
        self.firmware_api = services.firmware
        self.diagnostics_api = services.diagnostics
        self.local_list_api = services.local_list
        self.reservation_api = services.reservations
        self.smart_api = services.smart
        self.certificates_api = services.certificates
        self._trace = trace

    async def route_message(self, raw_msg: str) -> None:
        if self._trace:
            with contextlib.suppress(Exception):  # tracing must not choke on a malformed frame
                self._trace("in", raw_msg)
        try:
            msg = json.loads(raw_msg)
        except (TypeError, ValueError):
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
                if frame[0] == 4 and len(frame) > 4 and frame[4]:
                    # the library's schema errors echo the request (a write-only key's value too): not sent back
                    frame[4] = {}
                    message = json.dumps(frame, separators=(",", ":"))
        await super()._send(message)
