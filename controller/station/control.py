"""What the control process tells the main process, dispatched: the mirror is updated (`sockets.py`), and the
services that react to it are told (sessions on a cp state change, Plug&Charge on a plug-in, energy
management on the RJ11 suspend contact, the watchdog notifier on stats, restarts traced). On `hello` (a new
control process) it gets the evse keys and the limits again, and a simulated meter its last reading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from controller.ports import ChangeBus, ControlPort, Trace
from controller.statefile import NUMBER, StateWriteError, write_json
from controller.station.sockets import Sockets
from controller.transactions.journal import Journal
from controller.transactions.sessions import SessionManager

TILT_FILE = "tilt-calibration.json"
# the calibrated gravity vector (g); a file of an older release (a scalar offset) has none: uncalibrated
TILT_SHAPE = {"tilt_vector?": [NUMBER]}


class Notifier(Protocol):
    def control_stats(self, msg: dict[str, Any]) -> None: ...

    def control_restarted(self) -> None: ...


class EnergyInputs(Protocol):
    """Energy management, as the loop's samples feed it."""

    def note_suspend_input(self, closed: Any) -> None: ...

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

    def on_message(self, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "state":
            self._on_state(msg)
        elif t == "sample":
            if int(msg["connector"]) == 0 and "suspend_input" in msg:
                self._energy.note_suspend_input(msg["suspend_input"])  # the RJ11 contact (DirectExternalSuspendSignal)
            if self._sockets.on_sample(msg) is not None:
                self._energy.note_samples()
                self._changes.status_changed()
        elif t == "calibration":
            vec = msg.get("tilt_vector")
            if isinstance(vec, list) and len(vec) == 3 and not msg.get("error"):
                try:
                    write_json(self._state_dir / TILT_FILE, {"tilt_vector": vec})
                    self._trace(f"tilt sensor calibrated (vertical {vec})")
                except StateWriteError as exc:  # issue 11: a full disk is said, not raised into the reader
                    self._trace(f"tilt calibration not stored (in use until the next restart): {exc}")
            else:
                self._trace(f"tilt calibration failed: {msg.get('error')}")
        elif t == "restart_limit":
            # the control process died too often: it stays down (outputs at their hardware-safe states) and
            # the station is Faulted (InternalError) until a Reset restarts it
            self._sockets.control_gave_up()
            self._trace(f"control process died {msg.get('restarts')} times within {msg.get('window_s')} s: "
                        "station Faulted until Reset")
            self._changes.limits_changed()
        elif t == "log":
            text = str(msg.get("text", ""))
            self.loop_log.append(text)
            del self.loop_log[:-100]
            self._trace(f"control loop ({msg.get('level', 'info')}): {text}")
        elif t == "stats":
            self._notifier.control_stats(msg)
        elif t == "hung":
            self._notifier.control_restarted()
            self._trace(f"control process silent for {msg.get('silent_s')} s; killed it")
        elif t == "died":
            self.deaths += 1
            self._notifier.control_restarted()
            self._trace(f"control process died (exit {msg.get('returncode')}); restarting it")
        elif t == "hello":
            if self._simulated:
                self._restore_sim_meters()
            self._control().send_config(self._evse_values())
            self._publish_limits()

    def _on_state(self, msg: dict[str, Any]) -> None:
        change = self._sockets.on_state(msg)
        if change is not None:
            self._trace(self._sockets.describe(change.connector))
            if change.new_cp_state != change.old_cp_state:
                self._sessions.on_cp_state(change.connector, change.new_cp_state)
                if change.old_cp_state == "A" and change.new_cp_state in ("B", "C", "D"):
                    self._plug_and_charge(change.connector)
        elif int(msg["connector"]) != 0:
            return  # an unknown socket
        self._changes.limits_changed()

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
