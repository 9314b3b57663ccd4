"""The control loop's logic: every socket and the station-wide limits, stepped tick by tick.

`ControlLoop.step(now, inputs) -> outputs` knows nothing of processes or real time; tests drive it with a
fake clock. Messages from the main process come in through `handle()`; what the loop has to say (state
changes, samples, calibration, rejected configuration values) collects in `outbox` for the runner to send.

Messages handled (see `messages.py` for the whole channel):
- `limits` {connectors: {id: {max_current, authorized, suspended}}}: the main process's requests; also its
  heartbeat (MAIN_SILENT after `main_silence_s` without one).
- `config` {values: {Key: "string"}}: the evse-owned configuration keys (`settings.EvseConfig`).
- `clear_faults` {connector?: id}: drop the latched faults (welded/not closing contactor, overcurrent,
  ContactorProtect, diode, residual current, failed self-test) of one socket or all; a condition that is
  still there latches again in the next tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from controller.evse.connector import (
    CONNECTED,
    ConnectorCommand,
    ConnectorController,
    ConnectorInputs,
    ConnectorOutputs,
    EvseSettings,
)
from controller.evse.faults import Fault
from controller.evse.settings import EvseConfig, parse_bool, parse_float
from controller.evse.share import station_caps
from controller.evse.station import StationInputs, StationLimits, StationLimitSettings
from hal.interfaces import MeterReading

__all__ = [
    "SAMPLE_INTERVAL_S",
    "ControlLoop",
    "LoopInputs",
    "StationInputs",
    "StationLimitSettings",
    "StationLimits",
]

SAMPLE_INTERVAL_S = 1.0


@dataclass
class LoopInputs:
    connectors: dict[int, ConnectorInputs]
    station: StationInputs = field(default_factory=StationInputs)


def _meter_dict(m: MeterReading | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "currents": list(m.currents_a),
        "voltages": list(m.voltages_v),
        "power_w": m.power_w,
        "energy_wh": m.energy_wh,
        "frequency_hz": m.frequency_hz,
    }


class ControlLoop:
    def __init__(
        self,
        settings: dict[int, EvseSettings],
        station: StationLimitSettings,
        start: float,
    ) -> None:
        self.config = EvseConfig(
            temperature_high_c=station.temperature_high_c, temperature_low_c=station.temperature_low_c
        )
        self.connectors = {cid: ConnectorController(cid, s, start, self.config) for cid, s in settings.items()}
        self.commands = {cid: ConnectorCommand() for cid in settings}
        self.station = StationLimits(station, self.config)
        self.main_seen_at = start
        self.outbox: list[dict[str, Any]] = []
        self._last_status: dict[int, dict[str, Any]] = {}
        self._station_faults: list[str] | None = None
        self._next_sample = start
        self._last_meter: dict[int, MeterReading | None] = {}
        self._last_station = StationInputs()

    # -- messages from the main process ----------------------------------------------------------------------
    def handle(self, now: float, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "limits":
            self.main_seen_at = now
            conns = msg.get("connectors")
            for key, c in (conns if isinstance(conns, dict) else {}).items():
                try:
                    cid = int(key)
                except (TypeError, ValueError):
                    continue
                if cid in self.commands and isinstance(c, dict):
                    cur = parse_float(c.get("max_current", 0.0), 0.0)
                    self.commands[cid] = ConnectorCommand(
                        max_current=cur if cur is not None else 0.0,
                        authorized=parse_bool(c.get("authorized", False)) is True,
                        suspended=parse_bool(c.get("suspended", False)) is True,
                    )
        elif t == "config":
            values = msg.get("values")
            if isinstance(values, dict):
                self.apply_config(values)
        elif t == "clear_faults":
            only = msg.get("connector")
            for cid, c in self.connectors.items():
                if only is None or only == cid:
                    c.clear_latched()

    def apply_config(self, values: dict[str, Any]) -> None:
        """Take the evse-owned keys; a bad value keeps the old one and is reported as a `log` message."""
        for item in self.config.apply(values):
            self.outbox.append({"t": "log", "level": "warning", "text": f"control loop ignored config {item}"})

    def note_stall(self, now: float) -> None:
        """The dead-man watchdog forced every output safe while the loop did not tick."""
        self.station.note_stall(now)
        for c in self.connectors.values():
            c.forced_safe(now)

    # -- the tick ----------------------------------------------------------------------------------------------
    def step(self, now: float, inputs: LoopInputs) -> dict[int, ConnectorOutputs]:
        if inputs.station.suspend_input != self._last_station.suspend_input:
            self._next_sample = now  # the energy manager hears of the contact at once
        self._last_station = inputs.station
        station_faults = self.station.step(now, inputs.station, self.main_seen_at)
        cal = self.station.calibration
        if cal is not None:
            self.station.calibration = None
            msg: dict[str, Any] = {"t": "calibration", "tilt_offset_deg": cal.tilt_offset_deg}
            if cal.error:
                msg["error"] = cal.error
            self.outbox.append(msg)
        demands: dict[int, float] = {}
        for cid, ctl in self.connectors.items():
            cmd = self.commands[cid]
            asks = cmd.authorized and not cmd.suspended and ctl.state in CONNECTED
            demands[cid] = min(cmd.max_current, ctl.max_current) if asks else 0.0
        caps = station_caps(
            self.config.station_max_a, demands, {cid: c.may_draw(now) for cid, c in self.connectors.items()}
        )
        outputs: dict[int, ConnectorOutputs] = {}
        for cid, ctl in self.connectors.items():
            inp = inputs.connectors[cid]
            outputs[cid] = ctl.step(now, inp, self.commands[cid], station_faults, caps[cid])
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
        st = self._last_station
        station: dict[str, Any] = {
            "t": "sample",
            "connector": 0,
            "temperature_c": st.temperature_c if st.temperature_c is not None and math.isfinite(st.temperature_c) else None,
            "tilt_deg": self.station.relative_tilt_deg,
            "pe_present": st.pe_present,
            "suspend_input": st.suspend_input,
        }
        return [station] + [
            {"t": "sample", "connector": cid, "meter": _meter_dict(m)} for cid, m in self._last_meter.items()
        ]

    def station_faults(self) -> set[Fault]:
        return set(self.station.faults)

    def drain(self) -> list[dict[str, Any]]:
        out, self.outbox = self.outbox, []
        return out
