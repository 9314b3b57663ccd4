"""When a connection key takes effect (issue 9 item 15): the rule as a table, and the view of the configuration
the link reads its settings through (`link_settings`).

`WHEN` names, for every key `conn_settings` reads:
- `AT_ONCE`: read each time it is used (the heartbeat keys: the next interval);
- `NEXT_CONNECTION`: read at every connection attempt; a change of SecurityProfile, AuthorizationKey or
  AuthorizationKeyFormat (the credentials) also reconnects at once (`Link.reconnect_if_changed`), timeouts and
  the ping interval wait for the next connection;
- `AFTER_REBOOT`: exactly the keys the key table marks reboot-required (ChangeConfiguration answers
  RebootRequired). The link keeps the value they had when the station started: a dropped
  connection reconnects to the same URL, path, proxy and identity; the stored value applies after the reboot.
  One exception, on purpose: an accepted SecurityProfile change applies every pending AFTER_REBOOT key together
  with the new profile (raising the profile usually needs the new wss:// URL set just before it, OCPP 1.6
  security whitepaper A05; TC_083). An AuthorizationKey change does not: it reconnects with the pending keys
  still pending.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Applies(StrEnum):
    AT_ONCE = "at once"
    NEXT_CONNECTION = "at the next connection"
    AFTER_REBOOT = "after a reboot (or with a SecurityProfile change)"


_A, _N, _R = Applies.AT_ONCE, Applies.NEXT_CONNECTION, Applies.AFTER_REBOOT

WHEN: dict[str, Applies] = {
    "HeartbeatInterval": _A,
    "HeartBeatSendAllways": _A,
    "SecurityProfile": _N,
    "AuthorizationKey": _N,
    "AuthorizationKeyFormat": _N,
    "ProtocolVersion": _N,
    "OCPP-reply timeout": _N,
    "OCPP-send timeout": _N,
    "WS timeout": _N,
    "WebSocketPingInterval": _N,
    "Identity": _R,
    "Network": _R,
    "BackOffice-URL-wired": _R,
    "BackOffice-Path-wired": _R,
    "BackOffice-Path-wired2": _R,
    "ProxyEnable": _R,
    "ProxyAddressAndPort": _R,
    "ProxyUsername": _R,
    "ProxyPassword": _R,
}
AFTER_REBOOT = tuple(k for k, when in WHEN.items() if when is Applies.AFTER_REBOOT)
PROFILE_KEY = "SecurityProfile"


class KeySpecLike(Protocol):
    @property
    def name(self) -> str: ...


class ConfigLike(Protocol):
    def get(self, name: str) -> str: ...

    def spec(self, name: str) -> KeySpecLike | None: ...


class ConnectionConfig:
    """The configuration as the link sees it: AFTER_REBOOT keys keep the values taken by `freeze()` (the
    station's start, i.e. the boot: what is written before it counts) until SecurityProfile changes; every other
    key, and every key before the freeze, is read live. `pending()` says what waits for the reboot."""

    def __init__(self, config: ConfigLike) -> None:
        self._config = config
        self._taken: dict[str, str] | None = None
        self._profile: str | None = None

    def freeze(self) -> None:
        self._taken = {k: v for k in AFTER_REBOOT if (v := self._read(k)) is not None}
        self._profile = self._read(PROFILE_KEY)

    def _sync(self) -> dict[str, str]:
        if self._taken is None:
            return {}
        if self._read(PROFILE_KEY) != self._profile:
            self.freeze()
        return self._taken or {}

    def _read(self, name: str) -> str | None:
        try:
            return self._config.get(name)
        except KeyError:
            return None

    def get(self, name: str) -> str:
        spec = self._config.spec(name)
        taken = self._sync()
        if spec is not None and spec.name in taken:
            return taken[spec.name]
        return self._config.get(name)

    def get_int(self, name: str) -> int:
        return int(self.get(name).strip())

    def get_bool(self, name: str) -> bool:
        value = self.get(name).strip().lower()
        if value not in ("true", "on", "false", "off"):
            raise ValueError(f"{name}={value!r} is not a boolean")
        return value in ("true", "on")

    def pending(self) -> dict[str, str]:
        """AFTER_REBOOT keys whose stored value is not (yet) the one in use: name -> stored value."""
        if self._taken is None:
            return {}
        taken = self._sync()
        return {k: v for k in AFTER_REBOOT if (v := self._read(k)) is not None and v != taken.get(k)}
