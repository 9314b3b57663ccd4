"""The control loop's logic: every socket and the station-wide limits, stepped tick by tick.

`ControlLoop.step(now, inputs) -> outputs` knows nothing of processes or real time; tests drive it with a
fake clock. Messages from the main process come in through `handle()`; what the loop has to say (state
changes, samples, calibration, rejected configuration values) collects in `outbox` for the runner to send.

Messages handled (see `protocol.py` for the whole channel):
- `Limits`: the main process's requests; also its heartbeat (MAIN_SILENT after `main_silence_s` without one).
- `Config`: the evse-owned configuration keys (`settings.EvseConfig`).
- `ClearFaults`: drop the latched faults (welded/not closing contactor, overcurrent, ContactorProtect, diode,
  residual current, failed self-test) of one socket or all; a condition still there latches again next tick.
- `Restore`: what the main process kept of a previous control process (latched faults, tilt calibration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controller.evse.connector import (
    CONNECTED,
    ConnectorCommand,
    ConnectorController,
    ConnectorInputs,
    ConnectorOutputs,
    EvseSettings,
)
from controller.evse.faults import Fault
from controller.evse.protocol import (
    Calibration,
    ClearFaults,
    Config,
    InMessage,
    Limits,
    Log,
    MeterValues,
    OutMessage,
    Restore,
    Sample,
    State,
    StationSample,
    StationState,
)
from controller.evse.settings import EvseConfig
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


def meter_values(m: MeterReading | None) -> MeterValues | None:
    if m is None:
        return None
    return MeterValues(m.currents_a, m.voltages_v, m.power_w, m.energy_wh, m.frequency_hz)


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
        self.outbox: list[OutMessage] = []
        self._last_status: dict[int, State] = {}
        self._station_faults: tuple[str, ...] | None = None
        self._next_sample = start
        self._last_meter: dict[int, MeterReading | None] = {}
        self._last_station = StationInputs()

    # -- messages from the main process ----------------------------------------------------------------------
    def handle(self, now: float, msg: InMessage) -> None:
        if isinstance(msg, Limits):
            self.main_seen_at = now
            for cid, c in msg.connectors.items():
                if cid in self.commands:
                    self.commands[cid] = ConnectorCommand(
                        max_current=c.max_current if math.isfinite(c.max_current) else 0.0,
                        authorized=c.authorized,
                        suspended=c.suspended,
                    )
        elif isinstance(msg, Config):
            self.apply_config(msg.values)
        elif isinstance(msg, ClearFaults):
            for cid, ctl in self.connectors.items():
                if msg.connector is None or msg.connector == cid:
                    ctl.clear_latched()
        elif isinstance(msg, Restore):
            self.restore(msg)

    def restore(self, msg: Restore) -> None:
        """Take back what the main process kept of the previous control process."""
        for cid, names in msg.latched.items():
            ctl = self.connectors.get(cid)
            if ctl is None:
                continue
            for name in names:
                try:
                    ctl.latch(Fault(name))
                except ValueError:
                    self.log("warning", f"connector {cid}: unknown latched fault {name!r} handed back")
        if msg.tilt_vector is not None:
            self.config.tilt_vector = msg.tilt_vector
        if msg.restarted:  # the car may still be there: never report a guessed state A (an unplug)
            for ctl in self.connectors.values():
                ctl.quiet_until_pilot = True

    def log(self, level: str, text: str) -> None:
        self.outbox.append(Log(level, text))

    def apply_config(self, values: dict[str, str]) -> None:
        """Take the evse-owned keys; a bad value keeps the old one and is reported as a `Log` message."""
        for item in self.config.apply(values):
            self.log("warning", f"control loop ignored config {item}")

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
            self.outbox.append(Calibration(cal.tilt_vector, cal.tilt_deg, cal.error))
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
            status = ctl.status().message(cid)
            if ctl.pilot_known and status != self._last_status.get(cid):  # a fresh loop never reports a guess
                self._last_status[cid] = status
                self.outbox.append(status)
        sf = tuple(sorted(f.value for f in station_faults))
        if sf != self._station_faults:
            self._station_faults = sf
            self.outbox.append(StationState(sf))
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_INTERVAL_S
            self.outbox.extend(self.samples())
        return outputs

    def samples(self) -> list[OutMessage]:
        st = self._last_station
        temp = st.temperature_c if st.temperature_c is not None and math.isfinite(st.temperature_c) else None
        station = StationSample(temp, self.station.relative_tilt_deg, st.pe_present, st.suspend_input)
        return [station, *(Sample(cid, meter_values(m)) for cid, m in self._last_meter.items())]

    def station_faults(self) -> set[Fault]:
        return set(self.station.faults)

    def drain(self) -> list[OutMessage]:
        out, self.outbox = self.outbox, []
        return out
