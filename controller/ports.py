"""The seams of the main process: the small Protocols services depend on, passed in by the composition root.

A service names the ports it uses and nothing else; a unit test constructs it directly with fakes of exactly
those ports. The ports:
- `ControlPort`: what the main process may ask of the control process (limits, configuration, fault
  clearing, simulator commands). Only the control loop writes actuators; everything else asks through this.
- `LinkPort`: the back office link as a service sees it (online?, call). A call raises `NotConnected` when
  the link is down.
- `SocketsView`: the read-only mirror of what the control loop reported per socket (`station/sockets.py`).
- `ChangeBus`: "something that changes the limits / the status happened" (`station/changes.py` fans it out).
- `Settings`: reading configuration values (the registry; owners bind their keys in `config.registry`).
- `SessionsPort`: the charging sessions (transactions/sessions.py), as the profiles read and stop them.
- `Trace`: one line of the station trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from controller.config.keys import KeySpec
    from controller.transactions.sessions import Session

Trace = Callable[[str], None]


class NotConnected(Exception):
    """The back office is not reachable (or has not accepted our boot) right now."""


class ControlPort(Protocol):
    """The control process, as the main process may ask it things (controller/evse/supervisor.py)."""

    restarts: int

    def set_limits(self, connectors: dict[int, dict[str, Any]]) -> None: ...

    def send_config(self, values: dict[str, Any]) -> None: ...

    def clear_faults(self) -> None: ...

    def sim_nowait(self, cmd: str, args: dict[str, Any]) -> None: ...

    async def sim(self, cmd: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]: ...


class LinkPort(Protocol):
    """The back office link (controller/ocpp/link.py) as a service uses it."""

    @property
    def online(self) -> bool: ...

    async def call(self, request: Any) -> Any: ...


class SocketState(Protocol):
    """One socket of the mirror, read-only."""

    @property
    def id(self) -> int: ...
    @property
    def cp_state(self) -> str: ...
    @property
    def pwm_duty(self) -> float | None: ...
    @property
    def offered_a(self) -> float: ...
    @property
    def contactor(self) -> str: ...
    @property
    def faults(self) -> Sequence[str]: ...
    @property
    def meter(self) -> Mapping[str, Any] | None: ...
    @property
    def meter_at(self) -> float | None: ...
    @property
    def energy_wh(self) -> float: ...
    @property
    def locked(self) -> bool | None: ...
    @property
    def unavailable(self) -> bool: ...
    @property
    def currents(self) -> list[float]: ...
    @property
    def voltages(self) -> list[float]: ...


class SocketsView(Protocol):
    """The read-only mirror of the control loop's sockets (and the station-wide readings)."""

    def __contains__(self, cid: object) -> bool: ...

    def __iter__(self) -> Iterator[int]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, cid: int) -> SocketState: ...

    @property
    def temperature_c(self) -> float | None: ...

    @property
    def station_faults(self) -> Sequence[str]: ...


class ChangeBus(Protocol):
    """Tell the station something changed: the limits (and so the status), or only the status."""

    def limits_changed(self) -> None: ...

    def status_changed(self) -> None: ...


class Settings(Protocol):
    """Configuration values, read by name (the registry)."""

    def spec(self, name: str) -> KeySpec | None: ...

    def get(self, name: str) -> str: ...

    def get_int(self, name: str) -> int: ...

    def get_float(self, name: str) -> float: ...

    def get_bool(self, name: str) -> bool: ...

    def get_list(self, name: str) -> list[str]: ...


class SessionsPort(Protocol):
    """The charging sessions, as the feature profiles read and stop them."""

    @property
    def sessions(self) -> Mapping[int, Session]: ...

    def remote_id(self, s: Session) -> int | None: ...

    def stop(self, cid: int, reason: str | None) -> None: ...
