"""TriggerMessage (RemoteTrigger profile) and the security whitepaper's ExtendedTriggerMessage: which
messages can be triggered, and sending them after the .conf (the handlers run `trigger` in an @after hook).

TriggerMessage: BootNotification, DiagnosticsStatusNotification, FirmwareStatusNotification, Heartbeat,
MeterValues, StatusNotification. ExtendedTriggerMessage: BootNotification, LogStatusNotification,
FirmwareStatusNotification (answered with SignedFirmwareStatusNotification), Heartbeat, MeterValues,
SignChargePointCertificate, StatusNotification. A connectorId that does not exist: Rejected; anything else:
NotImplemented.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from ocpp.v16 import call

from controller.clock import Clock
from controller.ocpp.meter_values import sampled_values
from controller.ports import SessionsPort, Settings, SocketsView
from controller.timefmt import format_time

TRIGGERS = frozenset(
    {"BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
     "StatusNotification"}
)
EXTENDED_TRIGGERS = frozenset(
    {"BootNotification", "LogStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
     "SignChargePointCertificate", "StatusNotification"}
)


class BootLink(Protocol):
    """The link, as a trigger uses it: calls, and the boot handshake while not accepted yet."""

    @property
    def online(self) -> bool: ...

    @property
    def accepted(self) -> bool: ...

    async def call(self, request: Any) -> Any: ...

    def trigger_boot(self) -> None: ...


class BootInfo(Protocol):
    vendor: str
    model: str
    firmware_version: str
    serial: str | None


class StatusReport(Protocol):
    def report(self, cid: int, force: bool = False) -> None: ...


class DiagnosticsStatus(Protocol):
    async def trigger_status(self) -> None: ...

    async def trigger_log_status(self) -> None: ...


class FirmwareStatus(Protocol):
    async def trigger_status(self, signed: bool = False) -> None: ...


class CertificateSigning(Protocol):
    def sign_problem(self) -> str | None: ...

    async def sign_certificate(self) -> None: ...


class Triggers:
    """TriggerMessage / ExtendedTriggerMessage (implements `core.TriggerApi`)."""

    def __init__(
        self,
        sockets: SocketsView,
        settings: Settings,
        clock: Clock,
        link: BootLink,
        sessions: SessionsPort,
        status: StatusReport,
        boot_info: Callable[[], BootInfo],
        diagnostics: DiagnosticsStatus,
        firmware: FirmwareStatus,
        certificates: CertificateSigning,
    ) -> None:
        self._sockets = sockets
        self._settings = settings
        self._clock = clock
        self._link = link
        self._sessions = sessions
        self._status = status
        self._boot_info = boot_info
        self._diagnostics = diagnostics
        self._firmware = firmware
        self._certificates = certificates

    def trigger_status(self, message: str, connector_id: int | None, extended: bool = False) -> str:
        if message not in (EXTENDED_TRIGGERS if extended else TRIGGERS):
            return "NotImplemented"
        if connector_id is not None and connector_id != 0 and connector_id not in self._sockets:
            return "Rejected"
        if message == "SignChargePointCertificate" and self._certificates.sign_problem() is not None:
            return "Rejected"  # no CSR without a CpoName (the whitepaper's A02 prerequisite)
        return "Accepted"

    async def trigger(self, message: str, connector_id: int | None, extended: bool = False) -> None:
        link = self._link
        if message == "Heartbeat":
            with contextlib.suppress(Exception):
                await link.call(call.Heartbeat())
        elif message == "StatusNotification":
            for cid in [0, *self._sockets] if connector_id is None else [connector_id]:
                if cid == 0 or cid in self._sockets:
                    self._status.report(cid, force=True)
        elif message == "MeterValues":
            await self._meter_values(connector_id)
        elif message == "BootNotification" and not link.accepted:
            link.trigger_boot()  # Pending/Rejected: the boot handshake sends it now
        elif message == "BootNotification":
            s = self._boot_info()
            with contextlib.suppress(Exception):
                await link.call(
                    call.BootNotification(
                        charge_point_vendor=s.vendor,
                        charge_point_model=s.model,
                        firmware_version=s.firmware_version,
                        charge_point_serial_number=s.serial,
                    )
                )
        elif message == "DiagnosticsStatusNotification":
            await self._diagnostics.trigger_status()
        elif message == "LogStatusNotification":
            await self._diagnostics.trigger_log_status()
        elif message == "FirmwareStatusNotification":
            await self._firmware.trigger_status(signed=extended)
        elif message == "SignChargePointCertificate":
            await self._certificates.sign_certificate()

    async def _meter_values(self, connector_id: int | None) -> None:
        measurands = self._settings.get_list("MeterValuesSampledData")
        for cid in self._sockets:
            v = self._sockets[cid]
            if connector_id not in (None, 0, cid) or v.meter is None:
                continue
            sample = dict(v.meter, offered_a=v.offered_a)
            tx = self._sessions.remote_id(self._sessions.sessions[cid])
            stamp = format_time(self._clock.now())
            with contextlib.suppress(Exception):
                await self._link.call(
                    call.MeterValues(
                        connector_id=cid,
                        transaction_id=tx,
                        meter_value=[
                            {"timestamp": stamp, "sampled_value": sampled_values(sample, measurands, context="Trigger")}
                        ],
                    )
                )
