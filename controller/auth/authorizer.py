"""The station's authoriser: applies the pure decision (`decision.py`) to the real local list, cache, link
and sessions.

- `authorize(id_tag)`: the status a presented card (or a RemoteStart with AuthorizeRemoteTxRequests) gets;
  asks the back office (Authorize) only when the decision says so, falls back to the offline decision when
  the back office cannot be reached, and keeps the cache up to date from every idTagInfo it hears
  (Authorize, StartTransaction and StopTransaction answers).
- Local list: GetLocalListVersion / SendLocalList (rules in `locallist.py`), persisted in `auth.sqlite`.
- Master key mode (MasterKey-isEnabled, MasterKey-Id): presenting the master tag opens the mode for
  MASTER_WINDOW_S; the next tag is added to (or removed from) the internal tag database, which then
  authorises like the local list; the master tag again closes the mode.
- After StartTransaction.conf: an id the back office does not accept is acted on (stop with DeAuthorized or
  suspend) once the transaction has delivered MaxEnergyOnInvalidId Wh; ConcurrentTx with AbortConcurrentTx.
- Plug&Charge (AuthorizationMethod): plugging a car in authorises PlugAndChargeIdentifier on that socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from controller.auth import locallist
from controller.auth.decision import (
    AuthSettings,
    Decision,
    IdTagInfo,
    after_start_conf,
    allowance_used,
    decide,
    should_cache,
)
from controller.auth.store import AuthStore
from controller.clock import Clock
from controller.ports import ChangeBus, LinkPort, NotConnected, SessionsPort, Settings, SocketsView, Trace

MASTER_WINDOW_S = 30.0

#: The configuration keys the authoriser applies (read where used; `decision.AuthSettings` reads the first six).
CONFIG_KEYS = (
    "LocalAuthListEnabled", "AuthorizationCacheEnabled", "WhiteListEnabled", "LocalPreAuthorize",
    "LocalAuthorizeOffline", "AllowOfflineTxForUnknownId", "SendLocalListMaxLength", "LocalAuthListMaxLength",
    "MasterKey-isEnabled", "MasterKey-Id", "StopTransactionOnInvalidId", "AbortConcurrentTx", "MaxEnergyOnInvalidId",
    "AuthorizationMethod", "PlugAndChargeIdentifier",
)


class Authorizer:
    def __init__(
        self,
        state_dir: Path,
        settings: Settings,
        clock: Clock,
        link: LinkPort,
        sessions: SessionsPort,
        sockets: SocketsView,
        notify_sender: Callable[[], None],
        changes: ChangeBus,
        trace: Trace,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._link = link
        self._sessions = sessions
        self._sockets = sockets
        self._notify_sender = notify_sender
        self._changes = changes
        self._trace = trace
        self.store = AuthStore(state_dir / "auth.sqlite")
        self.master_until: float | None = None
        self.last_decision: dict[str, Decision] = {}
        self.parents: dict[str, str | None] = {}

    def close(self) -> None:
        self.store.close()

    def settings(self) -> AuthSettings:
        return AuthSettings.from_config(self._settings)

    def _now(self) -> float:
        return float(self._clock.now().timestamp())

    def _master_enabled(self) -> bool:
        with contextlib.suppress(KeyError, ValueError):
            return bool(self._settings.get_bool("MasterKey-isEnabled"))
        return False

    def local_info(self, id_tag: str) -> IdTagInfo | None:
        info = self.store.local_get(id_tag)
        if info is None and self._master_enabled() and id_tag in self.store.master_tags():
            info = IdTagInfo("Accepted")
        return info

    # -- the decision ------------------------------------------------------------------------------------------
    def decide_now(self, id_tag: str, online: bool) -> Decision:
        return decide(self.settings(), self.local_info(id_tag), self.store.cache_get(id_tag), online, self._now())

    async def authorize(self, id_tag: str) -> str:
        d = self.decide_now(id_tag, self._link.online)
        if d.ask_backoffice:
            try:
                res = await self._link.call(call.Authorize(id_tag=id_tag))
            except NotConnected:
                d = self.decide_now(id_tag, False)
            except Exception as exc:  # noqa: BLE001 - no answer is treated as being offline
                self._trace(f"Authorize failed ({exc.__class__.__name__}); deciding offline")
                d = self.decide_now(id_tag, False)
            else:
                info = IdTagInfo.from_ocpp(res.id_tag_info)
                self.remember(id_tag, info)
                d = Decision(info.effective(self._now()), False, "backoffice", info.parent)
        self.last_decision[id_tag] = d
        self.parents[id_tag] = d.parent
        if d.source != "backoffice":
            self._trace(f"card {id_tag}: {d.status or '?'} ({d.source})")
        return d.status

    def parent_of(self, id_tag: str) -> str | None:
        if self.parents.get(id_tag) is not None:
            return self.parents[id_tag]
        info = self.local_info(id_tag) or self.store.cache_get(id_tag)
        return info.parent if info is not None else None

    def same_group(self, started_by: str, presented: str) -> bool:
        """A card with the same (known) parentIdTag as the one that started may stop the transaction."""
        parent = self.parent_of(started_by)
        return parent is not None and parent == self.parent_of(presented)

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        """An idTagInfo from the back office: update the cache (AuthorizationCacheEnabled/WhiteListEnabled)."""
        self.parents[id_tag] = info.parent
        if should_cache(self.settings(), self.store.local_get(id_tag) is not None):
            self.store.cache_put(id_tag, info)

    def clear_cache(self) -> bool:
        self.store.cache_clear()
        return True

    # -- local list --------------------------------------------------------------------------------------------
    def local_list_version(self) -> int:
        profiles = self._settings.get_list("SupportedFeatureProfiles")
        if "LocalAuthListManagement" not in profiles:
            return -1
        return locallist.reported_version(self.store.local_count(), self.store.local_version())

    def send_local_list(self, version: int, update_type: str, entries: list[dict[str, Any]] | None) -> str:
        cfg = self._settings
        upd = locallist.apply_update(
            self.store.local_list(),
            self.store.local_version(),
            update_type,
            version,
            entries,
            enabled=self.settings().local_list_enabled,
            max_send=cfg.get_int("SendLocalListMaxLength"),
            max_length=cfg.get_int("LocalAuthListMaxLength"),
        )
        if upd.status == "Accepted" and upd.entries is not None:
            self.store.replace_local_list(upd.entries, upd.version)
            self._trace(f"local list version {upd.version}: {len(upd.entries)} entries ({update_type})")
        else:
            self._trace(f"SendLocalList {update_type} v{version}: {upd.status} {upd.reason}")
        return upd.status

    # -- master key mode ---------------------------------------------------------------------------------------
    def master_intercept(self, uid: str) -> bool:
        """True when the card was consumed by master key mode (so it starts nothing)."""
        if not self._master_enabled():
            self.master_until = None
            return False
        master = self._settings.get("MasterKey-Id")
        now = self._clock.monotonic()
        if master and uid == master:
            if self.master_until is not None and now < self.master_until:
                self.master_until = None
                self._trace("master key mode closed")
            else:
                self.master_until = now + MASTER_WINDOW_S
                self._trace("master key mode: present a card to add or remove it")
            return True
        if self.master_until is not None and now < self.master_until:
            self.master_until = None
            added = self.store.master_toggle(uid)
            self._trace(f"master key mode: card {uid} {'added' if added else 'removed'}")
            return True
        return False

    # -- after the start -------------------------------------------------------------------------------------
    def on_confirmed(self, action: str, local_tx: int | None, res: dict[str, Any], id_tag: str | None) -> None:
        info_raw = res.get("idTagInfo")
        if id_tag and isinstance(info_raw, dict):
            self.remember(id_tag, IdTagInfo.from_ocpp(info_raw))
        if action != "StartTransaction" or local_tx is None:
            return
        status = (info_raw or {}).get("status") if isinstance(info_raw, dict) else None
        cfg = self._settings
        what = after_start_conf(
            status,
            stop_on_invalid=cfg.get_bool("StopTransactionOnInvalidId"),
            abort_concurrent=cfg.get_bool("AbortConcurrentTx"),
        )
        if what == "continue":
            return
        for s in self._sessions.sessions.values():
            if s.local_tx == local_tx:
                s.extra["invalidated"] = {"action": what, "status": status}
                self._trace(f"connector {s.connector_id}: id {s.id_tag} is {status}; will {what}")
        self.enforce()

    def enforce(self) -> None:
        """Act on invalidated transactions whose MaxEnergyOnInvalidId allowance is used up."""
        sessions = self._sessions
        for cid, s in sessions.sessions.items():
            inv = s.extra.get("invalidated")
            if inv is None or not s.in_transaction:
                s.extra.pop("invalidated", None)
                continue
            delivered = self._sockets[cid].energy_wh - s.meter_start_wh
            if inv["status"] != "ConcurrentTx" and not allowance_used(
                delivered, self._settings.get_float("MaxEnergyOnInvalidId")
            ):
                continue
            s.extra.pop("invalidated", None)
            if inv["action"] == "stop":
                sessions.stop(cid, "DeAuthorized")
                self._notify_sender()
            elif not s.suspended:
                s.suspended = True
                self._trace(f"connector {cid}: energy stopped (id not accepted), transaction kept")
                self._changes.limits_changed()

    # -- Plug&Charge ---------------------------------------------------------------------------------------------
    def plug_and_charge_id(self) -> str | None:
        cfg = self._settings
        with contextlib.suppress(KeyError, ValueError):
            if cfg.get("AuthorizationMethod") == "Plug&Charge":
                return cfg.get("PlugAndChargeIdentifier") or None
        return None
