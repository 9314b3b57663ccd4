"""What the control process tells the main process, dispatched: the channel's messages and the supervisor's
events (the frozen dataclasses of `controller.evse.protocol`) arrive here as they are. The mirror is updated
(`sockets.py`), and the services that react to it are told (sessions on a cp state change, Plug&Charge on a
plug-in, energy management on the RJ11 suspend contact, the watchdog notifier on stats, restarts traced). On
`Hello` (a new control process) it gets the evse keys and the limits again, and a simulated meter its last
reading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from controller.evse.protocol import (
    Calibration,
    ControlDied,
    ControlHung,
    Hello,
    Log,
    RestartLimitReached,
    Sample,
    State,
    StationSample,
    StationState,
    Stats,
)
from controller.ports import ChangeBus, ControlPort, Trace
from controller.statefile import NUMBER, StateWriteError, write_json
from controller.station.sockets import Sockets
from controller.transactions.journal import Journal
from controller.transactions.sessions import SessionManager

TILT_FILE = "tilt-calibration.json"
# the calibrated gravity vector (g); a file of an older release (a scalar offset) has none: uncalibrated
TILT_SHAPE = {"tilt_vector?": [NUMBER]}


class Notifier(Protocol):
    def control_ticks(self, ticks: int) -> None:
        """The control loop's tick count, as its `Stats` reported it (the systemd watchdog is fed on progress)."""
        ...

    def control_restarted(self) -> None: ...


class EnergyInputs(Protocol):
    """Energy management, as the loop's samples feed it."""

    def note_suspend_input(self, closed: bool | None) -> None: ...

    def note_samples(self) -> None:
        """The socket samples changed: the station's own current as of now (matched with grid readings)."""
        ...


class ControlEvents:
    def __init__(
        self,
        sockets: Sockets,
        sessions: SessionManager,
        control: Callable[[], ControlPort],
        energy: EnergyInputs,
        journal: Journal,
        notifier: Notifier,
        state_dir: Path,
        simulated: bool,
        evse_values: Callable[[], dict[str, str]],
        plug_and_charge_id: Callable[[], str | None],
        notify_sender: Callable[[], None],
        publish_limits: Callable[[], None],
        changes: ChangeBus,
        trace: Trace,
    ) -> None:
        self._sockets = sockets
        self._sessions = sessions
        self._control = control  # late-bound: the control process is built with this dispatcher
        self._energy = energy
        self._journal = journal
        self._notifier = notifier
        self._state_dir = state_dir
        self._simulated = simulated
        self._evse_values = evse_values
        self._plug_and_charge_id = plug_and_charge_id  # AuthorizationMethod Plug&Charge: the id to use, or None
        self._notify_sender = notify_sender
        self._publish_limits = publish_limits
        self._changes = changes
        self._trace = trace
        self.deaths = 0
        self.loop_log: list[str] = []  # what the loop reported with `log` (e.g. a configuration value it refused)

    def on_message(self, msg: object) -> None:
        """A message of the control process or an event of its supervisor (others, e.g. `StallDone`, are not ours)."""
        if isinstance(msg, State):
            self._on_state(msg)
        elif isinstance(msg, StationState):
            self._sockets.on_station_state(msg)
            self._changes.limits_changed()
        elif isinstance(msg, Sample):
            if self._sockets.on_sample(msg) is not None:
                self._energy.note_samples()
                self._changes.status_changed()
        elif isinstance(msg, StationSample):
            self._energy.note_suspend_input(msg.suspend_input)  # the RJ11 contact (DirectExternalSuspendSignal)
            self._sockets.on_station_sample(msg)
        elif isinstance(msg, Calibration):
            self._on_calibration(msg)
        elif isinstance(msg, RestartLimitReached):
            # the control process died too often: it stays down (outputs at their hardware-safe states) and
            # the station is Faulted (InternalError) until a Reset restarts it
            self._sockets.control_gave_up()
            self._trace(f"control process died {msg.restarts} times within {msg.window_s} s: station Faulted until Reset")
            self._changes.limits_changed()
        elif isinstance(msg, Log):
            self.loop_log.append(msg.text)
            del self.loop_log[:-100]
            self._trace(f"control loop ({msg.level}): {msg.text}")
        elif isinstance(msg, Stats):
            self._notifier.control_ticks(msg.ticks)
        elif isinstance(msg, ControlHung):
            self._notifier.control_restarted()
            self._trace(f"control process silent for {msg.silent_s} s; killed it")
        elif isinstance(msg, ControlDied):
            self.deaths += 1
            self._notifier.control_restarted()
            self._trace(f"control process died (exit {msg.returncode}); restarting it")
        elif isinstance(msg, Hello):
            if self._simulated:
                self._restore_sim_meters()
            self._control().send_config(self._evse_values())
            self._publish_limits()

    def _on_state(self, msg: State) -> None:
        change = self._sockets.on_state(msg)
        if change is None:
            return  # an unknown socket
        self._trace(self._sockets.describe(change.connector))
        if change.new_cp_state != change.old_cp_state:
            self._sessions.on_cp_state(change.connector, change.new_cp_state)
            if change.old_cp_state == "A" and change.new_cp_state in ("B", "C", "D"):
                self._plug_and_charge(change.connector)
        self._changes.limits_changed()

    def _on_calibration(self, msg: Calibration) -> None:
        if msg.tilt_vector is None or msg.error:
            self._trace(f"tilt calibration failed: {msg.error}")
            return
        vec = list(msg.tilt_vector)
        try:
            write_json(self._state_dir / TILT_FILE, {"tilt_vector": vec})
            self._trace(f"tilt sensor calibrated (vertical {vec})")
        except StateWriteError as exc:  # issue 11: a full disk is said, not raised into the reader
            self._trace(f"tilt calibration not stored (in use until the next restart): {exc}")

    def _plug_and_charge(self, cid: int) -> None:
        """A car was plugged in: with Plug&Charge, authorise PlugAndChargeIdentifier on that socket."""
        id_tag = self._plug_and_charge_id()
        s = self._sessions.sessions[cid]
        if id_tag is None or s.in_transaction or s.authorized_at is not None:
            return
        if self._sessions.authorize_on(cid, id_tag):
            self._trace(f"connector {cid}: Plug&Charge with {id_tag}")
            self._notify_sender()

    def _restore_sim_meters(self) -> None:
        """A new control process starts its simulated meters at 0; a real meter keeps counting. Give the
        simulated one back the highest reading we know, so meterStop never falls below meterStart."""
        for cid, v in self._sockets.items():
            wh = max(v.energy_wh, float(self._journal.highest_meter(cid)))
            if wh > 0:
                self._control().sim_nowait("meter_energy", {"connector": cid, "energy_wh": wh})
