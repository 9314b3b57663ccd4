"""Authorisation decisions (pure): given the configuration, what the local list and the cache know of an
id tag, and whether the back office is reachable, decide whether to accept, refuse or ask the back office.

OCPP 1.6 §3.5 as configured by the keys:
- LocalAuthListEnabled: the Local Authorization List is consulted; it takes precedence over the cache.
- AuthorizationCacheEnabled and WhiteListEnabled (Alfen's name for the same cache switch): the cache of
  idTagInfo from earlier answers is consulted and kept up to date.
- Online: with LocalPreAuthorize, an id that the list/cache knows as Accepted (and not expired) starts at
  once (the back office checks it through StartTransaction); otherwise the back office is asked (Authorize).
- Offline: with LocalAuthorizeOffline, a known id is decided locally (Accepted, or refused with its stored
  status; an expiryDate in the past makes it Expired). An unknown id is accepted only with
  AllowOfflineTxForUnknownId. An id the station knows is never treated as unknown.
- After the start (StartTransaction.conf): a status other than Accepted ends the energy delivery
  (StopTransactionOnInvalidId: stop the transaction with reason DeAuthorized; else suspend it), once the
  transaction has delivered MaxEnergyOnInvalidId Wh; ConcurrentTx only with AbortConcurrentTx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.timefmt import TimeFormatError, parse_time

ACCEPTED = "Accepted"


@dataclass(frozen=True)
class IdTagInfo:
    status: str
    expiry: float | None = None  # epoch seconds
    parent: str | None = None

    def effective(self, now: float) -> str:
        if self.status == ACCEPTED and self.expiry is not None and self.expiry <= now:
            return "Expired"
        return self.status

    @classmethod
    def from_ocpp(cls, d: Mapping[str, Any]) -> IdTagInfo:
        """From idTagInfo (camelCase or snake_case); an unreadable expiryDate counts as none."""
        expiry_raw = d.get("expiryDate", d.get("expiry_date"))
        try:
            expiry = parse_time(expiry_raw) if isinstance(expiry_raw, str) else None
        except TimeFormatError:
            expiry = None
        parent = d.get("parentIdTag", d.get("parent_id_tag"))
        return cls(str(d.get("status", "Invalid")), expiry, None if parent is None else str(parent))


@dataclass(frozen=True)
class AuthSettings:
    local_list_enabled: bool = True
    cache_enabled: bool = True
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    allow_offline_unknown: bool = False

    @classmethod
    def from_config(cls, config: Any) -> AuthSettings:
        def b(key: str, default: bool) -> bool:
            try:
                return bool(config.get_bool(key))
            except (KeyError, ValueError):
                return default

        return cls(
            local_list_enabled=b("LocalAuthListEnabled", True),
            cache_enabled=b("AuthorizationCacheEnabled", True) and b("WhiteListEnabled", True),
            local_pre_authorize=b("LocalPreAuthorize", False),
            local_authorize_offline=b("LocalAuthorizeOffline", True),
            allow_offline_unknown=b("AllowOfflineTxForUnknownId", False),
        )


@dataclass(frozen=True)
class Decision:
    status: str  # the idTagInfo status to act on ("" when the back office must be asked)
    ask_backoffice: bool
    source: str  # local-list | cache | offline-unknown | offline | backoffice
    parent: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


def known_info(
    settings: AuthSettings, local: IdTagInfo | None, cached: IdTagInfo | None
) -> tuple[IdTagInfo | None, str]:
    """What the station itself knows of an id: the local list first, then the cache."""
    if settings.local_list_enabled and local is not None:
        return local, "local-list"
    if settings.cache_enabled and cached is not None:
        return cached, "cache"
    return None, ""


def decide(
    settings: AuthSettings,
    local: IdTagInfo | None,
    cached: IdTagInfo | None,
    online: bool,
    now: float,
) -> Decision:
    known, source = known_info(settings, local, cached)
    if online:
        if settings.local_pre_authorize and known is not None and known.effective(now) == ACCEPTED:
            return Decision(ACCEPTED, False, source, known.parent)
        return Decision("", True, "backoffice")
    if known is not None:
        status = known.effective(now)
        if status != ACCEPTED:
            return Decision(status, False, source, known.parent)
        if settings.local_authorize_offline:
            return Decision(ACCEPTED, False, source, known.parent)
        return Decision("Invalid", False, "offline")
    if settings.allow_offline_unknown:
        return Decision(ACCEPTED, False, "offline-unknown")
    return Decision("Invalid", False, "offline")


def should_cache(settings: AuthSettings, in_local_list: bool) -> bool:
    """Answers of the back office go into the cache unless the id is on the (enabled) local list."""
    return settings.cache_enabled and not (settings.local_list_enabled and in_local_list)


def after_start_conf(status: str | None, *, stop_on_invalid: bool, abort_concurrent: bool) -> str:
    """What StartTransaction.conf's idTagInfo status means for the running transaction:
    "continue", "stop" (reason DeAuthorized) or "suspend" (no more energy, transaction kept)."""
    if status in (None, ACCEPTED):
        return "continue"
    if status == "ConcurrentTx":
        return "stop" if abort_concurrent else "continue"
    return "stop" if stop_on_invalid else "suspend"


def allowance_used(delivered_wh: float, max_energy_wh: float) -> bool:
    """MaxEnergyOnInvalidId: an invalidated transaction may deliver this much in total before it is acted on."""
    return delivered_wh >= max_energy_wh
