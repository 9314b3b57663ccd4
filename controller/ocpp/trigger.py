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
from typing import Any

from ocpp.v16 import call

from controller.ocpp.meter_values import sampled_values

TRIGGERS = frozenset(
    {"BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
     "StatusNotification"}
)
EXTENDED_TRIGGERS = frozenset(
    {"BootNotification", "LogStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
     "SignChargePointCertificate", "StatusNotification"}
)


def trigger_status(station: Any, message: str, connector_id: int | None, extended: bool = False) -> str:
    if message not in (EXTENDED_TRIGGERS if extended else TRIGGERS):
        return "NotImplemented"
    if connector_id is not None and connector_id != 0 and connector_id not in station.views:
        return "Rejected"
    if message == "SignChargePointCertificate" and station.security.sign_problem() is not None:
        return "Rejected"  # no CSR without a CpoName (the whitepaper's A02 prerequisite)
    return "Accepted"


def _iso(station: Any) -> str:
    return station.clock.now().isoformat().replace("+00:00", "Z")


async def trigger(station: Any, message: str, connector_id: int | None, extended: bool = False) -> None:
    link = station.link
    if message == "Heartbeat":
        with contextlib.suppress(Exception):
            await link.call(call.Heartbeat())
    elif message == "StatusNotification":
        for cid in [0, *station.views] if connector_id is None else [connector_id]:
            if cid == 0 or cid in station.views:
                station._enqueue_status(cid, station._derive(cid), force=True)
    elif message == "MeterValues":
        measurands = station.config.get_list("MeterValuesSampledData")
        for cid, v in station.views.items():
            if connector_id not in (None, 0, cid) or v.meter is None:
                continue
            sample = dict(v.meter, offered_a=v.offered_a)
            tx = station.sessions.remote_id(station.sessions.sessions[cid])
            with contextlib.suppress(Exception):
                await link.call(
                    call.MeterValues(
                        connector_id=cid,
                        transaction_id=tx,
                        meter_value=[
                            {"timestamp": _iso(station), "sampled_value": sampled_values(sample, measurands, context="Trigger")}
                        ],
                    )
                )
    elif message == "BootNotification" and not link.accepted and hasattr(link, "trigger_boot"):
        link.trigger_boot()  # Pending/Rejected: the boot handshake sends it now
    elif message == "BootNotification":
        s = station._link_settings()
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
        await station.diagnostics.trigger_status()
    elif message == "LogStatusNotification":
        await station.diagnostics.trigger_log_status()
    elif message == "FirmwareStatusNotification":
        await station.firmware.trigger_status(signed=extended)
    elif message == "SignChargePointCertificate":
        await station.security.sign_certificate()
