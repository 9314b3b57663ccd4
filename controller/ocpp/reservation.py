"""The Reservation feature profile: ReserveNow and CancelReservation.

The rules (which connector, which id, expiry, connector 0) are in `controller.auth.reservations`; these
handlers only translate.
"""

from __future__ import annotations

from typing import Protocol

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, CancelReservationStatus, ReservationStatus


class ReservationApi(Protocol):
    def reserve(
        self, reservation_id: int, connector_id: int, expiry_date: str, id_tag: str, parent: str | None
    ) -> str: ...

    def cancel(self, reservation_id: int) -> bool: ...


class ReservationHandlers:
    reservation_api: ReservationApi

    @on(Action.reserve_now)
    async def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> call_result.ReserveNow:
        status = self.reservation_api.reserve(reservation_id, connector_id, expiry_date, id_tag, parent_id_tag)
        return call_result.ReserveNow(status=ReservationStatus(status))

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int) -> call_result.CancelReservation:
        ok = self.reservation_api.cancel(reservation_id)
        return call_result.CancelReservation(
            status=CancelReservationStatus.accepted if ok else CancelReservationStatus.rejected
        )
