"""Every connector status with its error code, as the back office sees it: SuspendedEVSE (a pausing fault),
SuspendedEV (the car pauses), Faulted (residual current; the station itself on tilt), Unavailable
(ChangeAvailability), Reserved (ReserveNow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocpp.v16 import call

from controller.backoffice.server import BackOffice
from tests.ocpp.link.support import Script, start_station, stop_station


async def _rig(tmp_path: Path):  # type: ignore[no-untyped-def]
    bo = BackOffice()
    await bo.start()
    rig = await start_station(tmp_path, bo)
    return bo, rig, Script(bo, rig.identity)


async def test_suspended_evse_and_ev_while_charging(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await rig.cmd("plug", connector=1)
        await rig.cmd("tag", uid="ST")
        await s.expect("StatusNotification", connectorId=1, status="Charging")
        await rig.cmd("temperature", celsius=95)
        await s.expect("StatusNotification", connectorId=1, status="SuspendedEVSE", errorCode="HighTemperature")
        await rig.cmd("temperature", celsius=25)
        await s.expect("StatusNotification", connectorId=1, status="Charging", errorCode="NoError")
        await rig.cmd("ev_pause", connector=1)
        await s.expect("StatusNotification", connectorId=1, status="SuspendedEV", timeout=15)
        await rig.cmd("ev_resume", connector=1)
        await s.expect("StatusNotification", connectorId=1, status="Charging")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_faulted_with_error_codes(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await rig.cmd("rcd", connector=1, trip=True)
        await s.expect("StatusNotification", connectorId=1, status="Faulted", errorCode="GroundFailure")
        await rig.cmd("tilt", degrees=40)
        await s.expect("StatusNotification", connectorId=0, status="Faulted", errorCode="OtherError", info="tilt")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_unavailable_and_reserved(tmp_path: Path) -> None:
    bo, rig, s = await _rig(tmp_path)
    try:
        await s.expect("StatusNotification", connectorId=1, status="Available")
        res = await s.send(call.ChangeAvailability(connector_id=1, type="Inoperative"))
        assert res.status == "Accepted"
        await s.expect("StatusNotification", connectorId=1, status="Unavailable")
        res = await s.send(call.ChangeAvailability(connector_id=1, type="Operative"))
        await s.expect("StatusNotification", connectorId=1, status="Available")
        expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        res = await s.send(call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="RES", reservation_id=7))
        assert res.status == "Accepted"
        await s.expect("StatusNotification", connectorId=1, status="Reserved")
        res = await s.send(call.CancelReservation(reservation_id=7))
        assert res.status == "Accepted"
        await s.expect("StatusNotification", connectorId=1, status="Available")
    finally:
        await stop_station(rig)
        await bo.stop()
