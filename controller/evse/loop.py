"""The control loop's logic: every socket and the station-wide limits, stepped tick by tick.

`ControlLoop.step(now, inputs) -> outputs` knows nothing of processes or real time; tests drive it with a
fake clock. Messages from the main process come in through `handle()`; what the loop has to say (state
changes, samples, stats) collects in `outbox` for the runner to send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.evse.connector import (
    ConnectorCommand,
    ConnectorController,
    ConnectorInputs,
    ConnectorOutputs,
    EvseSettings,
)
from controller.evse.faults import Fault
from hal.interfaces import MeterReading

SAMPLE_INTERVAL_S = 1.0


@dataclass
class StationInputs:
    temperature_c: float | None = 25.0  # None: sensor lost
    tilt_deg: float | None = 0.0  # None: no tilt sensor on this board


@dataclass
class LoopInputs:
    connectors: dict[int, ConnectorInputs]
    station: StationInputs = field(default_factory=StationInputs)


@dataclass
class StationLimitSettings:
    """Station-wide limits: the Alerts keys and the board's tilt threshold."""

    temperature_high_c: float = 80.0
    temperature_low_c: float = -30.0
    temperature_hysteresis_c: float = 5.0
    tilt_threshold_deg: float = 15.0
    main_silence_s: float = 3.0


class StationLimits:
    """Temperature band with hysteresis, tilt, and the main process heartbeat."""

    def __init__(self, settings: StationLimitSettings) -> None:
        self.settings = settings
        self.faults: set[Fault] = set()

    def step(self, now: float, st: StationInputs, main_seen_at: float) -> set[Fault]:
        s = self.settings
        f = self.faults
        if st.temperature_c is None:
            f.add(Fault.TEMPERATURE_SENSOR)
            f.discard(Fault.HIGH_TEMPERATURE)
            f.discard(Fault.LOW_TEMPERATURE)
        else:
            f.discard(Fault.TEMPERATURE_SENSOR)
            t = st.temperature_c
            if t >= s.temperature_high_c:
                f.add(Fault.HIGH_TEMPERATURE)
            elif t < s.temperature_high_c - s.temperature_hysteresis_c:
                f.discard(Fault.HIGH_TEMPERATURE)
            if t <= s.temperature_low_c:
                f.add(Fault.LOW_TEMPERATURE)
            elif t > s.temperature_low_c + s.temperature_hysteresis_c:
                f.discard(Fault.LOW_TEMPERATURE)
        if st.tilt_deg is not None:
            if st.tilt_deg > s.tilt_threshold_deg:
                f.add(Fault.TILT)
            elif st.tilt_deg <= s.tilt_threshold_deg:
                f.discard(Fault.TILT)
        if now - main_seen_at > s.main_silence_s:
            f.add(Fault.MAIN_SILENT)
        else:
            f.discard(Fault.MAIN_SILENT)
        return set(f)


def _meter_dict(m: MeterReading | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "currents": list(m.currents_a),
        "voltages": list(m.voltages_v),
        "power_w": m.power_w,
        "energy_wh": m.energy_wh,
    }


class ControlLoop:
    def __init__(
        self,
        settings: dict[int, EvseSettings],
        station: StationLimitSettings,
        start: float,
    ) -> None:
        self.connectors = {cid: ConnectorController(cid, s, start) for cid, s in settings.items()}
        self.commands = {cid: ConnectorCommand() for cid in settings}
        self.station = StationLimits(station)
        self.main_seen_at = start
        self.outbox: list[dict[str, Any]] = []
        self._last_status: dict[int, dict[str, Any]] = {}
        self._station_faults: list[str] = []
        self._next_sample = start
        self._last_meter: dict[int, MeterReading | None] = {}

    # -- messages from the main process ----------------------------------------------------------------------
    def handle(self, now: float, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "limits":
            self.main_seen_at = now
            for key, c in (msg.get("connectors") or {}).items():
                cid = int(key)
                if cid in self.commands and isinstance(c, dict):
                    self.commands[cid] = ConnectorCommand(
                        max_current=float(c.get("max_current", 0.0)),
                        authorized=bool(c.get("authorized", False)),
                        suspended=bool(c.get("suspended", False)),
                    )
        elif t == "config":
            self.apply_config(msg.get("values") or {})
        elif t == "clear_faults":
            for c in self.connectors.values():
                c.clear_latched()

    def apply_config(self, values: dict[str, Any]) -> None:
        s = self.station.settings
        if "TemperatureHigh" in values:
            s.temperature_high_c = float(values["TemperatureHigh"])
        if "TemperatureLow" in values:
            s.temperature_low_c = float(values["TemperatureLow"])
        for cid, c in self.connectors.items():
            key = f"Connector{cid}-MaxCurrent"
            if key in values:
                c.settings.max_current = float(values[key])

    # -- the tick ----------------------------------------------------------------------------------------------
    def step(self, now: float, inputs: LoopInputs) -> dict[int, ConnectorOutputs]:
        station_faults = self.station.step(now, inputs.station, self.main_seen_at)
        outputs: dict[int, ConnectorOutputs] = {}
        for cid, ctl in self.connectors.items():
            inp = inputs.connectors[cid]
            outputs[cid] = ctl.step(now, inp, self.commands[cid], station_faults)
            self._last_meter[cid] = inp.meter
            status = ctl.status().as_dict()
            if status != self._last_status.get(cid):
                self._last_status[cid] = status
                self.outbox.append({"t": "state", "connector": cid, **status})
        sf = sorted(f.value for f in station_faults)
        if sf != self._station_faults:
            self._station_faults = sf
            self.outbox.append({"t": "state", "connector": 0, "faults": sf})
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_INTERVAL_S
            self.outbox.extend(self.samples())
        return outputs

    def samples(self) -> list[dict[str, Any]]:
        return [
            {"t": "sample", "connector": cid, "meter": _meter_dict(m)} for cid, m in self._last_meter.items()
        ]

    def drain(self) -> list[dict[str, Any]]:
        out, self.outbox = self.outbox, []
        return out
