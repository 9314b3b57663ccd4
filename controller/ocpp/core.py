"""Handlers of the Core profile (the calls the back office makes): remote start/stop, configuration,
reset, unlock, availability, cache, data transfer, trigger message.

Handlers never touch devices: they ask the services the composition root hands the client (`CoreApi`,
`TriggerApi`), and answer with what they say.
"""

from __future__ import annotations

from typing import Any, Protocol

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


class CoreApi(Protocol):
    """What the Core profile's handlers ask (station/requests.py implements it)."""

    async def remote_start(self, id_tag: str, connector_id: int | None, profile: dict[str, Any] | None) -> bool: ...

    async def remote_stop(self, transaction_id: int) -> bool: ...

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]: ...

    def change_configuration(self, key: str, value: str) -> str: ...

    async def after_configuration_change(self, key: str) -> None: ...

    def accept_reset(self, kind: str) -> bool: ...

    async def reset(self, kind: str) -> None: ...

    async def unlock(self, connector_id: int) -> str: ...

    def change_availability(self, connector_id: int, kind: str) -> str: ...

    def clear_cache(self) -> bool: ...


class TriggerApi(Protocol):
    """TriggerMessage and ExtendedTriggerMessage (ocpp/trigger.py implements it)."""

    def trigger_status(self, message: str, connector_id: int | None, extended: bool = False) -> str: ...

    async def trigger(self, message: str, connector_id: int | None, extended: bool = False) -> None: ...


class CoreHandlers:
    core_api: CoreApi
    trigger_api: TriggerApi

    @on(Action.remote_start_transaction)
    async def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict[str, Any] | None = None
    ) -> call_result.RemoteStartTransaction:
        ok = await self.core_api.remote_start(id_tag, connector_id, charging_profile)
        return call_result.RemoteStartTransaction(
            status=RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected
        )

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        ok = await self.core_api.remote_stop(transaction_id)
        return call_result.RemoteStopTransaction(
            status=RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected
        )

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        known, unknown = self.core_api.get_configuration(key or None)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        status = self.core_api.change_configuration(key, value)
        return call_result.ChangeConfiguration(status=ConfigurationStatus(str(status)))

    @after(Action.change_configuration)
    async def after_change_configuration(self, key: str, value: str) -> None:
        await self.core_api.after_configuration_change(key)

    @on(Action.reset)
    async def on_reset(self, type: str) -> call_result.Reset:  # noqa: A002 - OCPP field name
        ok = self.core_api.accept_reset(type)
        return call_result.Reset(status=ResetStatus.accepted if ok else ResetStatus.rejected)

    @after(Action.reset)
    async def after_reset(self, type: str) -> None:  # noqa: A002
        await self.core_api.reset(type)

    @on(Action.unlock_connector)
    async def on_unlock(self, connector_id: int) -> call_result.UnlockConnector:
        status = await self.core_api.unlock(connector_id)
        return call_result.UnlockConnector(status=UnlockStatus(status))

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int, type: str) -> call_result.ChangeAvailability:  # noqa: A002
        status = self.core_api.change_availability(connector_id, type)
        return call_result.ChangeAvailability(status=AvailabilityStatus(status))

    @on(Action.clear_cache)
    async def on_clear_cache(self) -> call_result.ClearCache:
        ok = self.core_api.clear_cache()
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
        status = self.trigger_api.trigger_status(requested_message, connector_id)
        return call_result.TriggerMessage(status=TriggerMessageStatus(status))

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if self.trigger_api.trigger_status(requested_message, connector_id) == "Accepted":
            await self.trigger_api.trigger(requested_message, connector_id)  # after the .conf has gone out
