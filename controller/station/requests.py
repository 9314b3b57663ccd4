"""What the back office asks of the station through the Core profile (implements `ocpp.core.CoreApi`):
remote start/stop (with a RemoteStart's TxProfile installed when its transaction starts), configuration,
reset, unlock, availability, the authorisation cache. Each request goes to the service that owns it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from controller.config.registry import ConfigRegistry
from controller.ocpp.conn_settings import SECURITY_KEYS
from controller.station.lifecycle import Lifecycle
from controller.transactions.sessions import SessionManager


class RemoteStartProfiles(Protocol):
    """Smart charging, as far as a RemoteStartTransaction's chargingProfile goes."""

    def acceptable_remote_start_profile(self, wire: dict[str, Any]) -> bool: ...

    def install_tx_profile(self, connector_id: int, wire: dict[str, Any]) -> str: ...


class AvailabilityChange(Protocol):
    def change(self, connector_id: int, kind: str) -> str: ...


class Cache(Protocol):
    def clear_cache(self) -> bool: ...


class Reconfiguration(Protocol):
    """Effects of a key change that need the ChangeConfiguration.conf sent first."""

    def event(self, kind: str, tech_info: str | None = None) -> None: ...


class Reconnect(Protocol):
    def reconnect_if_changed(self) -> bool: ...


class CoreRequests:
    def __init__(
        self,
        config: ConfigRegistry,
        sessions: SessionManager,
        smart: RemoteStartProfiles,
        lifecycle: Lifecycle,
        availability: AvailabilityChange,
        cache: Cache,
        security: Reconfiguration,
        link: Reconnect,
        notify_sender: Callable[[], None],
    ) -> None:
        self._config = config
        self._sessions = sessions
        self._smart = smart
        self._lifecycle = lifecycle
        self._availability = availability
        self._cache = cache
        self._security = security
        self._link = link
        self._notify_sender = notify_sender
        self._pending_tx_profiles: dict[str, dict[str, Any]] = {}  # id tag -> TxProfile of a RemoteStart
        self._security_changes: set[str] = set()  # security keys changed, not acted on yet

    async def remote_start(self, id_tag: str, connector_id: int | None, profile: dict[str, Any] | None) -> bool:
        if profile is not None and not self._smart.acceptable_remote_start_profile(profile):
            return False  # only a TxProfile may come with RemoteStartTransaction
        if profile is not None:
            self._pending_tx_profiles[id_tag] = profile  # installed when its transaction starts
        ok = await self._sessions.remote_start(id_tag, connector_id)
        if not ok:
            self._pending_tx_profiles.pop(id_tag, None)
        self._notify_sender()
        return ok

    def on_tx_started(self, cid: int) -> None:
        """A transaction started: install the TxProfile its RemoteStart brought, if any."""
        tag = self._sessions.sessions[cid].id_tag
        profile = self._pending_tx_profiles.pop(tag, None) if tag is not None else None
        if profile is not None:
            self._smart.install_tx_profile(cid, profile)

    async def remote_stop(self, transaction_id: int) -> bool:
        ok = self._sessions.remote_stop(transaction_id)
        self._notify_sender()
        return ok

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        return self._config.get_configuration(keys)

    def change_configuration(self, key: str, value: str) -> str:
        status = str(self._config.set(key, value))
        spec = self._config.spec(key)
        if spec is not None and spec.name in SECURITY_KEYS and status in ("Accepted", "RebootRequired"):
            self._security_changes.add(spec.name)  # acted on once the .conf has gone out
        return status

    async def after_configuration_change(self, key: str) -> None:
        """Effects that need the ChangeConfiguration.conf sent first (e.g. a reconnect); only for a change that
        was Accepted (a Rejected one changed nothing)."""
        spec = self._config.spec(key)
        if spec is not None and spec.name in self._security_changes:
            self._security_changes.discard(spec.name)
            self._security.event("ReconfigurationOfSecurityParameters", spec.name)  # sent once connected again
            self._link.reconnect_if_changed()  # a new profile / key applies to a new connection at once

    def accept_reset(self, kind: str) -> bool:
        return True

    async def reset(self, kind: str) -> None:
        await self._lifecycle.reset(kind)

    async def unlock(self, connector_id: int) -> str:
        return await self._lifecycle.unlock(connector_id)

    def change_availability(self, connector_id: int, kind: str) -> str:
        return self._availability.change(connector_id, kind)  # persisted; Scheduled while charging

    def clear_cache(self) -> bool:
        return self._cache.clear_cache()
