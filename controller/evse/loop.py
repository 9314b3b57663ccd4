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

Phase switching: a socket with a phase relay (`relays`) has a `PhaseSwitch`; the limits' `phases` is the
phase count their `max_current` is meant for and the relay's target. The offer is made only while the relay
sits at those phases and no switch is running (`phaseswitch.py`); a socket without a relay is offered nothing
under limits meant for another phase count than it is wired for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from controller.evse.connector import (
    CONNECTED,
    ConnectorCommand,
    ConnectorController,
    ConnectorInputs,
    ConnectorOutputs,
    EvseSettings,
)
from controller.evse.faults import Fault
from controller.evse.phaseswitch import PhaseSwitch, RelaySettings, SwitchInputs
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
        relays: Mapping[int, RelaySettings] | None = None,
    ) -> None:
        self.config = EvseConfig(
            temperature_high_c=station.temperature_high_c, temperature_low_c=station.temperature_low_c
        )
        self.connectors = {cid: ConnectorController(cid, s, start, self.config) for cid, s in settings.items()}
        self.commands = {cid: ConnectorCommand() for cid in settings}
        self.switches = {cid: PhaseSwitch(r, start) for cid, r in (relays or {}).items() if cid in settings}
        self.phases_wanted: dict[int, int] = {cid: 0 for cid in settings}  # ConnectorLimits.phases
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
                    self.phases_wanted[cid] = c.phases
        elif isinstance(msg, Config):
            self.apply_config(msg.values)
        elif isinstance(msg, ClearFaults):
            for cid, ctl in self.connectors.items():
                if msg.connector is None or msg.connector == cid:
                    ctl.clear_latched()
                    if cid in self.switches:
                        self.switches[cid].clear(now)
        elif isinstance(msg, Restore):
            self.restore(msg, now)

    def restore(self, msg: Restore, now: float = 0.0) -> None:
        """Take back what the main process kept of the previous control process."""
        for cid, names in msg.latched.items():
            ctl = self.connectors.get(cid)
            if ctl is None:
                continue
            for name in names:
                try:
                    fault = Fault(name)
                    ctl.latch(fault)
                    if fault in (Fault.PHASE_RELAY, Fault.PHASE_COUNT_MISMATCH) and cid in self.switches:
                        self.switches[cid].latch(fault, now)
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
        commands = {cid: self._phase_command(now, cid, inputs.connectors[cid]) for cid in self.connectors}
        demands: dict[int, float] = {}
        for cid, ctl in self.connectors.items():
            cmd = commands[cid]
            asks = cmd.authorized and not cmd.suspended and ctl.state in CONNECTED
            demands[cid] = min(cmd.max_current, ctl.max_current) if asks else 0.0
        caps = station_caps(
            self.config.station_max_a, demands, {cid: c.may_draw(now) for cid, c in self.connectors.items()}
        )
        outputs: dict[int, ConnectorOutputs] = {}
        for cid, ctl in self.connectors.items():
            inp = inputs.connectors[cid]
            outputs[cid] = ctl.step(now, inp, commands[cid], station_faults, caps[cid])
            self._last_meter[cid] = inp.meter
            status = ctl.status().message(cid)
            sw = self.switches.get(cid)
            if sw is not None:
                outputs[cid] = replace(outputs[cid], phases=sw.relay)
                status = replace(status, phases=sw.relay, phase_switch=sw.step_name.value)
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

    def _phase_command(self, now: float, cid: int, inp: ConnectorInputs) -> ConnectorCommand:
        """The main process's command as the phase relay allows it: no offer during a switch or under limits
        meant for other phases than the socket draws on; the contactor held open while the relay moves."""
        cmd, ctl, wanted = self.commands[cid], self.connectors[cid], self.phases_wanted[cid]
        sw = self.switches.get(cid)
        if sw is None:
            return cmd if wanted in (0, ctl.settings.phases) else replace(cmd, max_current=0.0)
        out = sw.step(
            now,
            SwitchInputs(
                target=wanted,
                currents=inp.meter.currents_a if inp.meter is not None else None,
                contactor_closed=ctl.contactor_closed,
                contacts_open=ctl.contacts_open(inp),
                feedback=inp.phase_feedback,
            ),
        )
        if out.fault is not None:
            ctl.latch(out.fault, now)
        offer = not out.pause and wanted in (0, out.relay)
        return replace(cmd, max_current=cmd.max_current if offer else 0.0, hold_open=out.hold_open)

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
