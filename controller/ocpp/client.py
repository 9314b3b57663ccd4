"""The charge point side of OCPP 1.6J: the `ocpp` library's ChargePoint with our handlers mixed in.

Each feature profile's handlers live in their own module as a mixin; this class only combines them and
hardens message routing: a frame that is not valid OCPP-J gets a CALLERROR when it has a unique id we can
answer to, and is logged otherwise. It never kills the connection.

It also owns the boundary between the wire and the services (`_handle_call`, replacing the library's):
- numbers are normalised: the library parses SetChargingProfile/RemoteStartTransaction with `Decimal` (for
  its multipleOf check); no `Decimal` ever reaches a handler (integral values become `int`, others `float`);
- schema violations get the OCPP-J 1.6 §4.2.3 code: a missing field ProtocolError, a wrong type
  TypeConstraintViolation, a value outside an enum/minimum/maximum/pattern PropertyConstraintViolation,
  anything else FormationViolation;
- an action OCPP 1.6 does not know gets NotImplemented, a known one we do not support NotSupported (the
  library swaps them);
- while the back office has Rejected our registration its calls are not answered (OCPP 1.6 §4.2.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import (
    FormationViolationError,
    NotSupportedError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)
from ocpp.messages import Call, MessageType, get_validator, validate_payload
from ocpp.v16 import ChargePoint as _LibChargePoint
from ocpp.v16.enums import Action, RegistrationStatus

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

KNOWN_ACTIONS = frozenset(a.value for a in Action)  # OCPP 1.6 (with the security whitepaper's additions)
DECIMAL_ACTIONS = frozenset({"SetChargingProfile", "RemoteStartTransaction"})  # schemas with multipleOf 0.1
_PROPERTY_VALIDATORS = frozenset({"enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
                                  "multipleOf", "minLength", "minItems", "maxItems", "uniqueItems", "format"})


def normalise_numbers(value: Any) -> Any:
    """`Decimal` (and integral floats) to `int`, other `Decimal` to `float`, through dicts and lists."""
    if isinstance(value, dict):
        return {k: normalise_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_numbers(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def schema_error(e: Any) -> OCPPError:
    """The OCPP-J 1.6 §4.2.3 error for a schema violation (a jsonschema ValidationError)."""
    cause = {"cause": e.message[:200]}
    if e.validator == "required":
        return ProtocolError(details=cause)
    if e.validator == "type":
        return TypeConstraintViolationError(details=cause)
    if e.validator == "maxLength":
        return TypeConstraintViolationError(details=cause)  # CiStringNN: the type is "string of at most NN"
    if e.validator in _PROPERTY_VALIDATORS:
        return PropertyConstraintViolationError(details=cause)
    return FormationViolationError(details=cause)


def validate_call(action: str, payload: dict[str, Any]) -> None:
    """Validate a CALL's payload against the OCPP 1.6 schema; raises the OCPPError to answer with."""
    if action in DECIMAL_ACTIONS:
        validator = get_validator(MessageType.Call, action, "1.6", parse_float=decimal.Decimal)
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    else:
        validator = get_validator(MessageType.Call, action, "1.6")
    errors = sorted(validator.iter_errors(payload), key=lambda e: e.path)
    if errors:
        raise schema_error(errors[0])


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
        # the link replaces this with its own state; until then (a client on its own, in tests) Accepted
        self.registration_status: Callable[[], str | None] = lambda: RegistrationStatus.accepted

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

    def _rejected(self) -> bool:
        return self.registration_status() == RegistrationStatus.rejected

    async def _handle_call(self, msg: Call) -> Any:
        """The library's `_handle_call` with our boundary rules (see the module docstring). Our answers are
        still validated against the schema before they go out."""
        if self._rejected():
            log.info("registration Rejected: not answering %s (OCPP 1.6 §4.2.1)", msg.action)
            self._answered = msg.unique_id
            return None
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            if msg.action in KNOWN_ACTIONS:
                raise NotSupportedError(details={"cause": f"{msg.action} is not supported"})
            raise OcppNotImplementedError(details={"cause": f"{msg.action} is not an OCPP 1.6 action"})
        if not isinstance(msg.payload, dict):
            raise FormationViolationError(details={"cause": "payload is not an object"})
        if not handlers.get("_skip_schema_validation", False):
            validate_call(msg.action, msg.payload)
        payload = normalise_numbers(camel_to_snake_case(msg.payload))
        handler = handlers["_on_action"]
        try:
            response = handler(**payload)
            if inspect.isawaitable(response):
                response = await response
        except OCPPError as exc:
            await self._send(msg.create_call_error(exc).to_json())
            return None
        except TypeError as exc:  # a field the schema allows but the handler does not take
            log.warning("%s handler refused its arguments: %s", msg.action, exc)
            await self._send(msg.create_call_error(FormationViolationError(details={"cause": str(exc)[:200]})).to_json())
            return None
        result = msg.create_call_result(snake_to_camel_case(remove_nones(serialize_as_dict(response))))
        if not handlers.get("_skip_schema_validation", False):
            await validate_payload(result, self._ocpp_version)
        await self._send(result.to_json())
        after = handlers.get("_after_action")
        if after is not None:
            done = after(**payload)
            if inspect.isawaitable(done):
                task = asyncio.ensure_future(done)  # after the answer has gone out; may call the back office
                task.add_done_callback(_log_after_failure)
        return response

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


def _log_after_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("after-handler failed", exc_info=task.exception())
