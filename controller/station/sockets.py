"""The mirror: what the main process knows of each socket, from the control loop's `State` and `Sample`
messages (`controller.evse.protocol`), and the station-wide readings (`StationState`: station faults,
`StationSample`: temperature). Only `Sockets` writes it (from the channel); services read it through
`ports.SocketsView`, where a socket's meter is the mapping of `MeterValues.as_dict()`.

The channel's socket messages are read here and nowhere else in the main process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from controller.evse.protocol import Sample, State, StationSample, StationState


@dataclass
class ConnectorView:
    """One socket: the control loop's last state and meter sample."""

    id: int
    cp_state: str = "A"
    pwm_duty: float | None = None
    offered_a: float = 0.0
    contactor: str = "open"
    faults: list[str] = field(default_factory=list)
    meter: dict[str, Any] | None = None
    meter_at: float | None = None  # monotonic time of the last meter sample
    energy_wh: float = 0.0
    locked: bool | None = None  # lock feedback, when the control loop reports one
    unavailable: bool = False

    @property
    def currents(self) -> list[float]:
        return list((self.meter or {}).get("currents") or [0.0, 0.0, 0.0])

    @property
    def voltages(self) -> list[float]:
        return list((self.meter or {}).get("voltages") or [0.0, 0.0, 0.0])

    @property
    def charging(self) -> bool:
        return self.contactor == "closed" and max(self.currents) >= 0.5


@dataclass(frozen=True)
class StateChange:
    """What a `state` message changed on a socket (None for the station-wide one)."""

    connector: int
    old_cp_state: str
    new_cp_state: str


class Sockets:
    """The mirror of every socket (implements `ports.SocketsView`)."""

    def __init__(self, connector_ids: list[int], monotonic: Callable[[], float], keep_energy_up: bool = False) -> None:
        self.views: dict[int, ConnectorView] = {cid: ConnectorView(cid) for cid in connector_ids}
        self._monotonic = monotonic
        self._keep_energy_up = keep_energy_up  # simulated meters restart at 0 with a new control process
        self.station_faults: list[str] = []
        self.temperature_c: float | None = None

    # -- SocketsView -------------------------------------------------------------------------------------------
    def __contains__(self, cid: object) -> bool:
        return cid in self.views

    def __iter__(self) -> Iterator[int]:
        return iter(self.views)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, cid: int) -> ConnectorView:
        return self.views[cid]

    def items(self) -> list[tuple[int, ConnectorView]]:
        return list(self.views.items())

    # -- writers -----------------------------------------------------------------------------------------------
    def is_unavailable(self, cid: int) -> bool:
        return self.views[cid].unavailable

    def set_unavailable(self, cid: int, unavailable: bool) -> None:
        self.views[cid].unavailable = unavailable

    def on_state(self, msg: State) -> StateChange | None:
        """A socket's `State`; returns what changed on it, None for an unknown socket."""
        v = self.views.get(msg.connector)
        if v is None:
            return None
        old = v.cp_state
        v.cp_state = msg.cp_state
        v.pwm_duty = msg.pwm_duty
        v.offered_a = msg.offered_a
        v.contactor = msg.contactor
        v.faults = list(msg.faults)
        v.locked = msg.locked
        return StateChange(msg.connector, old, v.cp_state)

    def on_station_state(self, msg: StationState) -> None:
        self.station_faults = list(msg.faults)

    def control_gave_up(self) -> None:
        """The control process stays down: every socket and the station are Faulted (control_restarts)."""
        fault = "control_restarts"
        self.station_faults = sorted({*self.station_faults, fault})
        for v in self.views.values():
            v.faults = sorted({*v.faults, fault})
            v.contactor = "open"

    def on_sample(self, msg: Sample) -> int | None:
        """A socket's `Sample`; returns the socket it was for (None: an unknown one)."""
        v = self.views.get(msg.connector)
        if v is None:
            return None
        v.meter = None if msg.meter is None else msg.meter.as_dict()
        v.meter_at = self._monotonic()
        if v.meter is not None:
            wh = float(v.meter["energy_wh"])
            if self._keep_energy_up and wh < v.energy_wh:
                wh = v.energy_wh  # a restarted control process's simulated meter, before it is restored
                v.meter["energy_wh"] = wh
            v.energy_wh = wh
        return msg.connector

    def on_station_sample(self, msg: StationSample) -> None:
        self.temperature_c = msg.temperature_c

    def describe(self, cid: int) -> str:
        v = self.views[cid]
        duty = f"{v.pwm_duty:.1f} %" if v.pwm_duty is not None else "off"
        return (
            f"connector {cid}: state {v.cp_state}, PWM {duty} ({v.offered_a:.1f} A), contactor {v.contactor}"
            + (f", faults {','.join(v.faults)}" if v.faults else "")
        )
