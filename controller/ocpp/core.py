"""Handlers of the Core profile (the calls the back office makes): remote start/stop, configuration,
reset, unlock, availability, cache, data transfer, trigger message.

Handlers never touch devices: they ask the station facade (`self.station`), which the composition root
provides, and answer with what it says.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferStatus,
    RemoteStartStopStatus,
    ResetStatus,
    TriggerMessageStatus,
    UnlockStatus,
)


class CoreHandlers:
    station: Any

    @on(Action.remote_start_transaction)
    async def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict[str, Any] | None = None
    ) -> call_result.RemoteStartTransaction:
        link = getattr(self.station, "link", None)
        if link is not None and not link.accepted:  # Pending: no transaction before the back office accepts us
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        if connector_id is not None and connector_id <= 0:  # OCPP 1.6: connectorId SHALL be > 0 when present
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        ok = await self.station.remote_start(id_tag, connector_id, charging_profile)
        return call_result.RemoteStartTransaction(
            status=RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected
        )

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        ok = await self.station.remote_stop(transaction_id)
        return call_result.RemoteStopTransaction(
            status=RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected
        )

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        known, unknown = self.station.config.get_configuration(key or None)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        status = self.station.config.set(key, value)
        return call_result.ChangeConfiguration(status=ConfigurationStatus(str(status)))

    @after(Action.change_configuration)
    async def after_change_configuration(self, key: str, value: str) -> None:
        await self.station.after_configuration_change(key)

    @on(Action.reset)
    async def on_reset(self, type: str) -> call_result.Reset:  # noqa: A002 - OCPP field name
        ok = self.station.accept_reset(type)
        return call_result.Reset(status=ResetStatus.accepted if ok else ResetStatus.rejected)

    @after(Action.reset)
    async def after_reset(self, type: str) -> None:  # noqa: A002
        await self.station.reset(type)

    @on(Action.unlock_connector)
    async def on_unlock(self, connector_id: int) -> call_result.UnlockConnector:
        status = await self.station.unlock(connector_id)
        return call_result.UnlockConnector(status=UnlockStatus(status))

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int, type: str) -> call_result.ChangeAvailability:  # noqa: A002
        status = self.station.change_availability(connector_id, type)
        return call_result.ChangeAvailability(status=AvailabilityStatus(status))

    @on(Action.clear_cache)
    async def on_clear_cache(self) -> call_result.ClearCache:
        ok = self.station.clear_cache()
        return call_result.ClearCache(status=ClearCacheStatus.accepted if ok else ClearCacheStatus.rejected)

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.trigger_message)
    async def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None
    ) -> call_result.TriggerMessage:
        status = self.station.trigger_status(requested_message, connector_id)
        return call_result.TriggerMessage(status=TriggerMessageStatus(status))

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if self.station.trigger_status(requested_message, connector_id) == "Accepted":
            await self.station.trigger(requested_message, connector_id)  # after the .conf has gone out
