"""What the web interface reads and writes, as small Protocols (the composition root passes the real parts in
`WebParts`; a unit test passes fakes of exactly these)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from controller.ports import SocketsView

if TYPE_CHECKING:
    from controller.config.keys import KeySpec
    from controller.transactions.journal import TransactionRecord


class KeyRegistry(Protocol):
    """The configuration registry, read-only (writes go through `ConfigWriter`, as over OCPP)."""

    def all_specs(self) -> Sequence[KeySpec]: ...

    def spec(self, name: str) -> KeySpec | None: ...

    def get(self, name: str) -> str: ...

    def default(self, name: str) -> str: ...

    def check_password(self, name: str, candidate: str) -> bool: ...


class ConfigWriter(Protocol):
    """The Core profile's ChangeConfiguration (`station.requests.CoreRequests`): the very path OCPP takes."""

    def change_configuration(self, key: str, value: str) -> str: ...

    async def after_configuration_change(self, key: str) -> None: ...


class TransactionHistory(Protocol):
    """The transaction journal, as far as the session history goes."""

    def transactions(self, local_ids: Iterable[int] | None = None) -> list[TransactionRecord]: ...

    def active_transactions(self) -> list[TransactionRecord]: ...


class LinkFacts(Protocol):
    """Who the station is to the back office (`ocpp.link.LinkSettings`)."""

    @property
    def identity(self) -> str: ...

    @property
    def firmware_version(self) -> str: ...


@dataclass(frozen=True)
class WebParts:
    config: KeyRegistry
    writer: ConfigWriter
    sockets: SocketsView
    snapshot: Callable[[], Mapping[str, Any]]  # the station's status snapshot (`station.status.snapshot`)
    journal: TransactionHistory
    link: Callable[[], LinkFacts]
