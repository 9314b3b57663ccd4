"""TC_046 reservations against the real back office: Reserved status, other id tags refused (card and
remote start), the reserved id starting locally or remotely with reservationId in StartTransaction,
expiry, CancelReservation, connector 0."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call

from tests.conftest import Rig, until
from tests.ocpp.profiles.conftest import calls


def expiry(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def reserve(rig: Rig, rid: int, connector: int, tag: str, seconds: float = 600, parent: str | None = None) -> str:
    res = await rig.bo.call(
        rig.identity,
        call.ReserveNow(connector_id=connector, expiry_date=expiry(seconds), id_tag=tag, reservation_id=rid,
                        parent_id_tag=parent),
    )
    return str(res.status)


async def test_tc046_local_start_with_the_reserved_tag_others_refused(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    assert await reserve(rig, 7, 1, "RESERVED") == "Accepted"
    await rig.wait_status("Reserved")
    await bo.wait_for("StatusNotification", cp, lambda p: p["connectorId"] == 1 and p["status"] == "Reserved")
    assert await reserve(rig, 8, 1, "SOMEONE") == "Occupied"
    assert await reserve(rig, 9, 2, "SOMEONE") == "Rejected"  # no connector 2 on this board
    # another card is refused, also by remote start
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="OTHER")
    await until(lambda: "card OTHER: no free connector" in rig.trace, 3, "the other card refused")
    res = await bo.call(cp, call.RemoteStartTransaction(id_tag="OTHER", connector_id=1))
    assert res.status == "Rejected"
    assert not calls(rig, "StartTransaction")
    # the reserved card starts and uses the reservation
    await rig.cmd("tag", uid="RESERVED")
    start = await bo.wait_for("StartTransaction", cp, timeout=5)
    assert start.payload["reservationId"] == 7 and start.payload["idTag"] == "RESERVED"
    await rig.wait_status("Charging")
    assert rig.station.reservations.items == {}
    res = await bo.call(cp, call.CancelReservation(reservation_id=7))
    assert res.status == "Rejected"  # used up


async def test_tc046_remote_start_parent_id_and_cancel(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    assert await reserve(rig, 11, 1, "BOOKED") == "Accepted"
    await rig.wait_status("Reserved")
    res = await bo.call(cp, call.CancelReservation(reservation_id=11))
    assert res.status == "Accepted"
    await rig.wait_status("Available")
    # a reservation by parent id: a card of the same group (parentIdTag from the local list) may use it
    await bo.call(cp, call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"id_tag": "MEMBER", "id_tag_info": {"status": "Accepted", "parent_id_tag": "FLEET"}},
        {"id_tag": "COLLEAGUE", "id_tag_info": {"status": "Accepted", "parent_id_tag": "FLEET"}}]))
    assert await reserve(rig, 12, 1, "BOOKER", parent="FLEET") == "Accepted"
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    res = await bo.call(cp, call.RemoteStartTransaction(id_tag="MEMBER", connector_id=1))
    assert res.status == "Accepted"
    start = await bo.wait_for("StartTransaction", cp, timeout=5)
    assert start.payload["reservationId"] == 12 and start.payload["idTag"] == "MEMBER"
    # a card with the same parentIdTag may stop the transaction
    await rig.wait_status("Charging")
    await rig.cmd("tag", uid="COLLEAGUE")
    stop = await bo.wait_for("StopTransaction", cp, timeout=5)
    assert stop.payload["reason"] == "Local"


async def test_tc046_expiry_and_connector_zero(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig()
    bo, cp = rig.bo, rig.identity
    assert await reserve(rig, 21, 1, "SOON", seconds=1.5) == "Accepted"
    await rig.wait_status("Reserved")
    await rig.wait_status("Available", timeout=5)  # expired through the clock
    res = await bo.call(cp, call.CancelReservation(reservation_id=21))
    assert res.status == "Rejected"
    # connector 0 keeps the one free connector of this board for its id
    assert await reserve(rig, 22, 0, "ANYWHERE") == "Accepted"
    await rig.wait_status("Reserved")
    assert await reserve(rig, 23, 0, "SECOND") == "Occupied"
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="OTHER")
    await until(lambda: "card OTHER: no free connector" in rig.trace, 3, "the other card refused")
    await rig.cmd("tag", uid="ANYWHERE")
    start = await bo.wait_for("StartTransaction", cp, timeout=5)
    assert start.payload["reservationId"] == 22
    # ReserveConnectorZeroSupported false: connector 0 reservations are Rejected
    rig.station.config.set_internal("ReserveConnectorZeroSupported", "false")
    assert await reserve(rig, 24, 0, "ANYWHERE") == "Rejected"
