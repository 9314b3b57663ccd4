"""The composition root: builds every part of the station from a board file and a state directory, wires
them together, and runs them. No part finds another by itself; everything is passed in here.

The main (asyncio) process owns the network, the disk, configuration, sessions and energy allocation. The
control loop runs in its own process (`controller.evse`), which this root starts and supervises; the main
process only asks it for things (limits), and hears back what happens (states, faults, samples).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from board.loader import Board
from controller.auth.authorizer import Authorizer
from controller.auth.reservations import Reservations
from controller.clock import Clock, SystemClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.manager import EnergyManager
from controller.evse.faults import PAUSING, REPORT_ONLY, Fault
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
from controller.evse.supervisor import ControlProcess
from controller.leds import LedController
from controller.modbus.slave import AlfenSlave
from controller.ocpp import trigger as triggers
from controller.ocpp.aligned import MeterService
from controller.ocpp.availability import Availability
from controller.ocpp.client import OcppClient
from controller.ocpp.conn_settings import CertPaths, heartbeat_settings, link_settings, security_prerequisites
from controller.ocpp.diagnostics import Diagnostics
from controller.ocpp.firmware import Firmware
from controller.ocpp.link import LinkSettings, OcppLink
from controller.ocpp.outbox import JournalSender
from controller.ocpp.security import Security
from controller.ocpp.smartcharging import SmartCharging
from controller.ocpp.status import Status, StatusInputs, commanded_offer, derive_status
from controller.ocpp.statusq import StatusReporter
from controller.sdnotify import SystemdNotifier
from controller.statefile import read_json, write_json
from controller.transactions.journal import Journal
from controller.transactions.sessions import SessionManager
from controller.transactions.timers import ConnectorSnapshot, SessionTimers
from hal.factory import StationDevices, build_station_devices

log = logging.getLogger(__name__)


@dataclass
class ConnectorView:
    """What the main process knows of a socket: the control loop's last state and meter sample."""

    id: int
    cp_state: str = "A"
    pwm_duty: float | None = None
    offered_a: float = 0.0
    contactor: str = "open"
    faults: list[str] = field(default_factory=list)
    meter: dict[str, Any] | None = None
    meter_at: float | None = None  # monotonic time of the last meter sample
    energy_wh: float = 0.0
    reported: Status | None = None
    locked: bool | None = None  # lock feedback, when the control loop reports one
    unavailable: bool = False

    @property
    def currents(self) -> list[float]:
        return list((self.meter or {}).get("currents") or [0.0, 0.0, 0.0])

    @property
    def voltages(self) -> list[float]:
        return list((self.meter or {}).get("voltages") or [0.0, 0.0, 0.0])


@dataclass
class StationOptions:
    backoffice_url: str | None = None
    identity: str | None = None
    tick_s: float = 0.01
    main_silence_s: float = 3.0
    rt_priority: int = 0  # > 0: the control process runs SCHED_FIFO at this priority (needs CAP_SYS_NICE)
    modbus_host: str = "0.0.0.0"  # the Modbus TCP slave (MbsSlaveTCPIP)
    modbus_port: int = 502
    modbus_idle_s: float = 60.0


# keys of other owners that the control loop needs as well (it caps the offer with them within one tick)
LOOP_KEYS = frozenset({"Station-MaxCurrent"})
TILT_FILE = "tilt-calibration.json"


def _actual_power_kw(v: ConnectorView) -> str:
    return f"{((v.meter or {}).get('power_w') or 0.0) / 1000:.3f}"


def _output_phases(v: ConnectorView) -> str:
    return str(sum(1 for a in v.currents if a >= 0.5))


def _input_phases(v: ConnectorView) -> str:
    return str(sum(1 for u in v.voltages if u >= 100.0))


def _phases_connected(v: ConnectorView) -> str:
    return "".join(f"L{i + 1}" for i, u in enumerate(v.voltages) if u >= 100.0)


def _iso(clock: Clock) -> str:
    return clock.now().isoformat().replace("+00:00", "Z")


class Station:
    def __init__(
        self,
        board: Board,
        state_dir: Path,
        options: StationOptions,
        clock: Clock | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.board = board
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.options = options
        self.clock = clock or SystemClock()
        outer_trace = trace or (lambda s: None)
        self.recent_log: collections.deque[tuple[float, str]] = collections.deque(maxlen=5000)  # for diagnostics

        def _trace(line: str) -> None:
            self.recent_log.append((time.time(), line))
            outer_trace(line)

        self.trace = _trace
        defaults = dict(board.defaults)
        defaults.setdefault("NumberOfConnectors", str(len(board.connectors)))
        self.config = ConfigRegistry(ConfigStore(state_dir / "config.json"), board_defaults=defaults)
        self.journal = Journal(state_dir / "journal.sqlite")
        self._recover_after_outage()
        self.views = {c.id: ConnectorView(c.id) for c in board.connectors}
        self.station_faults: list[str] = []
        self.temperature_c: float | None = None
        self.control = ControlProcess(
            board.path,
            self._on_control,
            tick_s=options.tick_s,
            main_silence_s=options.main_silence_s,
            rt_priority=options.rt_priority,
            clock=self.clock.monotonic,
        )
        self.devices: StationDevices = build_station_devices(
            board, self.clock.monotonic, lambda: [tuple(v.currents) for v in self.views.values()]  # type: ignore[misc]
        )
        grid_spec = board.station.get("grid_meter")
        self.energy = EnergyManager(
            self.config,
            self.clock,
            {c.id: c.phases for c in board.connectors},
            self.devices.grid_meter,
            lambda: {cid: (v.currents if v.meter is not None else None) for cid, v in self.views.items()},
            lambda: self._publish_limits(),
            self.trace,
            grid_driver=grid_spec.driver if grid_spec is not None else None,
            grid_params=grid_spec.params if grid_spec is not None else None,
        )
        self.modbus = AlfenSlave(self, options.modbus_host, options.modbus_port, options.modbus_idle_s)
        self.sessions = SessionManager(
            [c.id for c in board.connectors],
            self.journal,
            self.clock,
            self.config,
            self._authorize,
            lambda cid: self.views[cid].energy_wh,
            self._changed,
            self.trace,
        )
        self.link = OcppLink(
            self._link_settings,
            self._make_client,
            self.clock,
            self._on_online,
            self._on_offline,
            self._on_boot_interval,
            self.trace,
            heartbeat=lambda: heartbeat_settings(self.config),
        )
        self.sender = JournalSender(self.journal, self.link, self.clock, self.config, self._on_confirmed, self.trace)
        self.status_reporter = StatusReporter(self.config, self.clock, self.journal, self.link, self.sender, self.trace)
        self.meters = MeterService(
            self.config, self.clock, self.journal, self.link, self.sessions, self._meter_sample,
            self.devices.grid_meter, self.sender.notify, self.trace,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self.control_deaths = 0
        self.leds = LedController(self.devices.leds, self.config, self.clock)
        self.notifier = SystemdNotifier()
        self.timers = SessionTimers()
        self.warnings: set[int] = set()
        # OCPP feature profiles beyond Core (their state lives under the state directory)
        self.auth = Authorizer(self)
        self.security = Security(self)
        self.reservations = Reservations(self)
        self.availability = Availability(self)
        self.availability.apply()
        self.smart = SmartCharging(self)
        self.diagnostics = Diagnostics(self)
        self.firmware = Firmware(self)
        self.sessions.may_use = self._may_use
        self.sessions.reservation_for = self._consume_reservation
        self.sessions.on_started = self._on_tx_started
        self.sessions.on_stopped = self._on_tx_stopped
        self.sessions.same_group = self.auth.same_group
        self._pending_tx_profiles: dict[str, dict[str, Any]] = {}  # id tag -> TxProfile of a RemoteStart
        self.reset_done = asyncio.Event()  # set when a Reset/firmware reboot has stopped the station
        self.reset_kind: str | None = None
        self._subscribe_keys()
        self._register_live_keys()

    # -- configuration -----------------------------------------------------------------------------------------
    def _subscribe_keys(self) -> None:
        for spec in self.config.all_specs():
            if spec.owner == "evse" or spec.name in LOOP_KEYS:
                self.config.subscribe(spec.name, self._forward_evse_key)
        for key in ("HeartbeatInterval", "HeartBeatSendAllways"):
            self.config.subscribe(key, lambda *_: self.link.heartbeat_changed())
        for key in ("MeterValueSampleInterval", "ClockAlignedDataInterval", "CentralMeterValueSampleInterval",
                    "CentralMeterValueAlignment", "CentralMeterValueTransmissionMode"):
            self.config.subscribe(key, self.meters.changed)
        certs = CertPaths.under(self.state_dir)
        self.config.register_validator(
            "SecurityProfile", lambda v: security_prerequisites(int(v), self.config, certs) if v.isdigit() else None
        )
        for key in ("OfflineAuthorise", "OnlineAuthorise"):
            self.config.subscribe(key, self._replaced_keys)
        for key in ("Station-MaxCurrent", *(f"Connector{c.id}-MaxCurrent" for c in self.board.connectors)):
            if self.config.spec(key) is not None:
                self.config.subscribe(key, lambda *_: self._publish_limits())

    def _replaced_keys(self, name: str, value: str) -> None:
        """Obsolete Alfen keys a back office may still write: apply them to the keys that replaced them."""
        on = value.strip().lower() == "true"
        if name == "OfflineAuthorise":
            self.config.set_internal("LocalAuthorizeOffline", "true" if on else "false")
        elif name == "OnlineAuthorise":
            self.config.set_internal("LocalPreAuthorize", "false" if on else "true")

    def _register_live_keys(self) -> None:
        """Monitoring keys read live values from the devices and the control loop's samples."""
        for cid, v in self.views.items():
            self._live(f"Connector{cid}-ActualPower", partial(_actual_power_kw, v))
            self._live(f"Connector{cid}-OutputPhases", partial(_output_phases, v))
            self._live(f"Connector{cid}-InputPhases", partial(_input_phases, v))
            self._live(f"Connector{cid}-PhasesConnected", partial(_phases_connected, v))
        self._live("Temperature", lambda: "" if self.temperature_c is None else f"{self.temperature_c:.1f}")
        rfid = self.devices.rfid
        self._live("NFC-Version1", lambda: rfid.version() if rfid is not None else "")

    def _live(self, key: str, provider: Callable[[], str]) -> None:
        if self.config.spec(key) is not None:
            self.config.register_live(key, provider)

    def _forward_evse_key(self, name: str, value: str) -> None:
        self.control.send_config({name: value})

    def _evse_values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for spec in self.config.all_specs():
            if (spec.owner == "evse" or spec.name in LOOP_KEYS) and spec.access != "W":
                try:
                    out[spec.name] = self.config.get(spec.name)
                except KeyError:
                    pass
        tilt = read_json(self.state_dir / TILT_FILE, {})
        vec = tilt.get("tilt_vector") if isinstance(tilt, dict) else None
        if isinstance(vec, list) and len(vec) == 3 and all(isinstance(x, int | float) for x in vec):
            out["_TiltVector"] = ",".join(str(x) for x in vec)
        return out

    async def after_configuration_change(self, key: str) -> None:
        """Effects that need the ChangeConfiguration.conf sent first (e.g. a reconnect)."""
        if key in ("SecurityProfile", "AuthorizationKey"):
            self.security.event("ReconfigurationOfSecurityParameters", key)  # sent once connected again
            self.link.reconnect_if_changed()  # a new profile / key applies to a new connection at once

    # -- the link ----------------------------------------------------------------------------------------------
    def _link_settings(self) -> LinkSettings:
        return link_settings(self.config, self.state_dir, self.options.backoffice_url, self.options.identity)

    def _recover_after_outage(self) -> None:
        """Power Outage Recovery: resume or stop (PowerLoss) what was active when we went down."""
        try:
            policy = self.config.get("Power Outage Recovery")
            max_s = self.config.get_int("Max Allowed Outage Duration (s)")
        except (KeyError, ValueError):
            policy, max_s = "Idle", 0
        d = self.journal.recover_after_outage(policy, max_s, self.clock.now().timestamp())
        self._resumed = list(d.resumed)
        if d.resumed or d.stopped:
            outage = f"{d.outage_s:.0f} s" if d.outage_s is not None else "unknown"
            self.trace(f"after an outage of {outage}: resumed {d.resumed}, stopped {d.stopped} ({d.reason})")

    def _make_client(self, identity: str, ws: Any) -> OcppClient:
        return OcppClient(identity, ws, self, trace=self._trace_frame)

    def _trace_frame(self, direction: str, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self.trace(f"ocpp {direction}: {raw[:120]}")
            return
        arrow = "->" if direction == "out" else "<-"
        if isinstance(msg, list) and msg and msg[0] == 2:
            self.trace(f"ocpp {arrow} {msg[2]} {json.dumps(msg[3], separators=(',', ':'))[:160]}")
        elif isinstance(msg, list) and msg and msg[0] == 3:
            self.trace(f"ocpp {arrow} result {json.dumps(msg[2], separators=(',', ':'))[:160]}")
        else:
            self.trace(f"ocpp {arrow} {raw[:160]}")

    async def _on_online(self) -> None:
        for cid in [0, *self.views]:
            self._enqueue_status(cid, self._derive(cid))
        self.status_reporter.on_online()
        self.sender.notify()
        asyncio.ensure_future(self.security.flush())
        asyncio.ensure_future(self.firmware.on_online())

    def _on_offline(self) -> None:
        self.trace("back office connection lost")

    def _on_boot_interval(self, interval: int) -> None:
        with contextlib.suppress(Exception):
            self.config.set_internal("HeartbeatInterval", str(interval))

    async def _authorize(self, id_tag: str) -> str:
        return await self.auth.authorize(id_tag)  # local list, cache, offline rules: controller.auth

    def _on_confirmed(self, action: str, local_tx: int | None, res: dict[str, Any]) -> None:
        rec = self.journal.transaction(local_tx) if local_tx is not None else None
        self.auth.on_confirmed(action, local_tx, res, rec.id_tag if rec is not None else None)

    # -- the control process -------------------------------------------------------------------------------------
    def _on_control(self, msg: Any) -> None:
        if isinstance(msg, StationState):
            self.station_faults = list(msg.faults)
            self._changed()
        elif isinstance(msg, State):
            cid = msg.connector
            v = self.views.get(cid)
            if v is None:
                return
            old_state = v.cp_state
            v.cp_state = msg.cp_state
            v.pwm_duty = msg.pwm_duty
            v.offered_a = msg.offered_a
            v.contactor = msg.contactor
            v.faults = list(msg.faults)
            v.locked = msg.locked
            duty = f"{v.pwm_duty:.1f} %" if v.pwm_duty is not None else "off"
            self.trace(
                f"connector {cid}: state {v.cp_state}, PWM {duty} ({v.offered_a:.1f} A), contactor {v.contactor}"
                + (f", faults {','.join(v.faults)}" if v.faults else "")
            )
            if v.cp_state != old_state:
                self.sessions.on_cp_state(cid, v.cp_state)
                if old_state == "A" and v.cp_state in ("B", "C", "D"):
                    self._plug_and_charge(cid)
            self._changed()
        elif isinstance(msg, StationSample):
            self.temperature_c = msg.temperature_c
            self.energy.note_suspend_input(msg.suspend_input)  # the RJ11 contact (DirectExternalSuspendSignal)
        elif isinstance(msg, Sample):
            v = self.views.get(msg.connector)
            if v is not None:
                v.meter = msg.meter.as_dict() if msg.meter is not None else None
                v.meter_at = self.clock.monotonic()
                if v.meter is not None:
                    wh = float(v.meter.get("energy_wh", v.energy_wh))
                    if self.board.is_simulated and wh < v.energy_wh:
                        # a restarted station's simulated meter, before _restore_sim_meters lands
                        wh = v.energy_wh
                        v.meter["energy_wh"] = wh
                    v.energy_wh = wh
                self._changed(limits=False)
        elif isinstance(msg, Calibration):
            if msg.tilt_vector is not None and msg.error is None:
                write_json(self.state_dir / TILT_FILE, {"tilt_vector": list(msg.tilt_vector)})
                self.trace(f"tilt sensor calibrated (vertical {msg.tilt_vector})")
            else:
                self.trace(f"tilt calibration failed: {msg.error}")
        elif isinstance(msg, Stats):
            self.notifier.control_stats(dataclasses.asdict(msg))
        elif isinstance(msg, Log):
            self.trace(f"control process {msg.level}: {msg.text}")
        elif isinstance(msg, ControlHung):
            self.notifier.control_restarted()
            self.trace(f"control process silent for {msg.silent_s} s; killed it")
        elif isinstance(msg, ControlDied):
            self.control_deaths += 1
            self.notifier.control_restarted()
            self.trace(f"control process died (exit {msg.returncode}); restarting it")
        elif isinstance(msg, RestartLimitReached):
            self._control_gave_up(msg)
        elif isinstance(msg, Hello):
            if self.board.is_simulated:
                self._restore_sim_meters()
            self.control.send_config(self._evse_values())
            self._publish_limits()

    def _control_gave_up(self, msg: RestartLimitReached) -> None:
        """The control process died too often: it stays down (outputs at their hardware-safe states) and the
        station is Faulted (InternalError) until a Reset restarts it."""
        fault = Fault.CONTROL_RESTARTS.value
        self.station_faults = sorted({*self.station_faults, fault})
        for v in self.views.values():
            v.faults = sorted({*v.faults, fault})
            v.contactor = "open"
        self.trace(f"control process died {msg.restarts} times within {msg.window_s:.0f} s: station Faulted until Reset")
        self._changed()

    def _restore_sim_meters(self) -> None:
        """A new control process starts its simulated meters at 0; a real meter keeps counting. Give the
        simulated one back the highest reading we know, so meterStop never falls below meterStart."""
        for cid, v in self.views.items():
            wh = max(v.energy_wh, float(self.journal.highest_meter(cid)))
            if wh > 0:
                self.control.sim_nowait("meter_energy", {"connector": cid, "energy_wh": wh})

    # -- limits and status -------------------------------------------------------------------------------------
    def _socket_max(self, cid: int) -> float:
        board_max = next(c.max_current for c in self.board.connectors if c.id == cid)
        key = f"Connector{cid}-MaxCurrent"
        if self.config.spec(key) is not None:
            return min(board_max, self.config.get_float(key))
        return board_max

    def _publish_limits(self) -> None:
        active = {cid for cid, s in self.sessions.sessions.items() if s.in_transaction}
        station_cap, socket_caps = self.smart.caps()  # smart charging limits in force now
        # load balancing: Station-MaxCurrent, grid meter headroom / safe current, Modbus setpoints, hysteresis
        offers = self.energy.offers(
            {cid: min(self._socket_max(cid), socket_caps.get(cid, math.inf)) for cid in self.views},
            active,
            station_cap=station_cap,
        )
        external_suspend = self.energy.external_suspend  # DirectExternalSuspendSignal
        limits: dict[int, dict[str, Any]] = {}
        for cid in self.views:
            s = self.sessions.sessions[cid]
            limits[cid] = {
                "max_current": offers[cid],
                "authorized": self.sessions.authorized(cid) and not self.views[cid].unavailable,
                "suspended": s.suspended or external_suspend,
            }
        self.control.set_limits(limits)

    def _changed(self, limits: bool = True) -> None:
        if limits:
            self._publish_limits()
        for cid in [0, *self.views]:
            self._enqueue_status(cid, self._derive(cid))
        self.leds.update([(v.reported or self._derive(v.id)).status for v in self.views.values()], bool(self.warnings))

    def _run_timers(self) -> None:
        snaps = {
            cid: ConnectorSnapshot(
                in_transaction=self.sessions.sessions[cid].in_transaction,
                cp_state=v.cp_state,
                charging=v.contactor == "closed" and max(v.currents) >= 0.5,
            )
            for cid, v in self.views.items()
        }
        for action in self.timers.step(self.clock.monotonic(), self.config, self.link.online, snaps):
            if action.kind == "stop":
                self.trace(f"connector {action.connector}: session timer stops the transaction ({action.reason})")
                self.sessions.stop(action.connector, action.reason)
                self.sender.notify()
            elif action.kind == "warn":
                self.warnings.add(action.connector)
                self._changed(limits=False)
            elif action.kind == "clear_warn":
                self.warnings.discard(action.connector)
                self._changed(limits=False)

    def _derive(self, cid: int) -> Status:
        if cid == 0:
            hard = [f for f in self.station_faults if Fault(f) not in PAUSING and Fault(f) not in REPORT_ONLY]
            if hard:
                from controller.evse.faults import ocpp_error

                code, info = ocpp_error(hard)
                return Status("Faulted", code, info)
            return Status("Unavailable" if self.availability.station_unavailable else "Available")
        return self._derive_connector(cid, self.reservations.shows_reserved(cid))

    def status_without_reservation(self, cid: int) -> str:
        return self._derive_connector(cid, False).status

    def _derive_connector(self, cid: int, reserved: bool) -> Status:
        v = self.views[cid]
        s = self.sessions.sessions[cid]
        faults = tuple(sorted(set(v.faults)))
        return derive_status(
            StatusInputs(
                cp_state=v.cp_state,
                contactor_closed=v.contactor == "closed",
                offered_a=commanded_offer(getattr(self.control, "_limits", None), cid, v.offered_a),
                current_a=max(v.currents) if v.currents else 0.0,
                faults=faults,
                in_transaction=s.in_transaction,
                authorized_waiting=s.authorized_at is not None,
                finishing=s.finishing,
                unavailable=v.unavailable,
                reserved=reserved,
            )
        )

    def _enqueue_status(self, cid: int, st: Status, force: bool = False) -> None:
        prev = self.views[cid].reported if cid else getattr(self, "_station_reported", None)
        if st == prev and not force:
            return
        if cid:
            self.views[cid].reported = st
        else:
            self._station_reported = st
        if st != prev:
            self.trace(f"connector {cid}: {st.status}" + (f" ({st.error_code} {st.info})" if st.info else ""))
        self.status_reporter.update(cid, st, force)

    # -- periodic work -----------------------------------------------------------------------------------------
    def _meter_sample(self, cid: int) -> dict[str, Any] | None:
        """What the meter value schedule measures on `cid`: the loop's last sample, our offer, the temperature."""
        v = self.views.get(cid)
        if v is None or v.meter is None:
            return None
        offered = commanded_offer(getattr(self.control, "_limits", None), cid, v.offered_a)
        return dict(v.meter, offered_a=offered, temperature_c=self.temperature_c)

    async def _housekeeping_loop(self) -> None:
        while True:
            await self.clock.sleep(0.1)
            rfid = self.devices.rfid
            if rfid is not None:
                uid = rfid.poll()
                if uid:
                    self.trace(f"card presented: {uid}")
                    self.leds.interaction()
                    if self.auth.master_intercept(uid):
                        continue
                    outcome = await self.sessions.on_tag(uid)
                    if outcome not in ("authorized", "stop"):
                        self.leds.signal("red")
                    self.sender.notify()
            self.sessions.expire_authorizations()
            self.auth.enforce()
            self._run_timers()
            self.leds.refresh()
            self.sender.notify() if self.journal.pending_count() else None

    # -- life cycle --------------------------------------------------------------------------------------------
    def _mark_resumed(self) -> None:
        """A resumed transaction's car was plugged when the power went: if the loop now sees no car, that is
        an unplug (StopTransactionOnEVSideDisconnect decides), not a quiet state A."""
        for rec in self.journal.active_transactions():
            if rec.local_id in getattr(self, "_resumed", []) and rec.connector_id in self.views:
                self.views[rec.connector_id].cp_state = "C"
                self.sessions.cp_state[rec.connector_id] = "C"

    async def start(self) -> None:
        self._mark_resumed()
        await self.control.start()
        self.control.send_config(self._evse_values())
        self._publish_limits()
        self._tasks = [
            asyncio.create_task(self.link.run(), name="ocpp-link"),
            asyncio.create_task(self.sender.run(), name="journal-sender"),
            asyncio.create_task(self.status_reporter.run(), name="status-reporter"),
            asyncio.create_task(self.meters.run(), name="meter-values"),
            asyncio.create_task(self._housekeeping_loop(), name="housekeeping"),
            asyncio.create_task(self.smart.run(), name="smart-charging"),
            asyncio.create_task(self.reservations.run(), name="reservations"),
            asyncio.create_task(self.energy.run(), name="grid-meter"),
        ]
        await self.modbus.start()  # only when MbsSlaveTCPIP is On
        self.security.event("StartupOfTheDevice")
        self.notifier.notify("READY=1")

    async def stop(self) -> None:
        self.notifier.notify("STOPPING=1")
        await self.modbus.stop()
        await self.link.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        await self.meters.stop()
        self.meters.touch_alive()
        await self.control.stop()
        self.journal.close()
        self.auth.close()

    # -- the facade the OCPP handlers ask ----------------------------------------------------------------------
    async def remote_start(self, id_tag: str, connector_id: int | None, profile: Any) -> bool:
        if profile is not None and not self.smart.acceptable_remote_start_profile(profile):
            return False  # only a TxProfile may come with RemoteStartTransaction
        if profile is not None:
            self._pending_tx_profiles[id_tag] = profile  # installed when its transaction starts
        ok = await self.sessions.remote_start(id_tag, connector_id)
        if not ok:
            self._pending_tx_profiles.pop(id_tag, None)
        self.sender.notify()
        return ok

    # -- hooks of the session manager ----------------------------------------------------------------------------
    def _may_use(self, cid: int, id_tag: str | None) -> bool:
        return not self.views[cid].unavailable and self.reservations.may_use(cid, id_tag)

    def _consume_reservation(self, cid: int, id_tag: str | None) -> int | None:
        r = self.reservations.match(cid, id_tag)
        if r is None:
            return None
        self.reservations.consume(r)
        return r.id

    def _on_tx_started(self, cid: int) -> None:
        tag = self.sessions.sessions[cid].id_tag
        profile = self._pending_tx_profiles.pop(tag, None) if tag is not None else None
        if profile is not None:
            self.smart.install_tx_profile(cid, profile)
        self.smart.notify()

    def _on_tx_stopped(self, cid: int) -> None:
        self.smart.on_transaction_end(cid)
        self.availability.on_transaction_end(cid)

    def _plug_and_charge(self, cid: int) -> None:
        id_tag = self.auth.plug_and_charge_id()
        s = self.sessions.sessions[cid]
        if id_tag is None or s.in_transaction or s.authorized_at is not None:
            return
        if self.sessions.authorize_on(cid, id_tag):
            self.trace(f"connector {cid}: Plug&Charge with {id_tag}")
            self.sender.notify()

    async def remote_stop(self, transaction_id: int) -> bool:
        ok = self.sessions.remote_stop(transaction_id)
        self.sender.notify()
        return ok

    def accept_reset(self, kind: str) -> bool:
        return True

    async def reset(self, kind: str) -> None:
        """Reset.req (after the .conf): stop every transaction (SoftReset/HardReset), give the journal a
        moment to deliver the stops (what it cannot deliver now it delivers after the restart), then stop."""
        for cid, s in self.sessions.sessions.items():
            if s.in_transaction:
                self.sessions.stop(cid, "HardReset" if kind == "Hard" else "SoftReset")
        self.sender.notify()
        self.security.event("ResetOrReboot", f"{kind} reset requested by the back office")
        deadline = time.monotonic() + 5.0
        while (self.journal.pending_count() or self.security._unsent) and self.link.online:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        await self.restart(kind)

    async def restart(self, kind: str) -> None:
        """Stop the station (retried ResetRetries times) and tell whoever runs it (`reset_done`) to start a new
        one on the same state directory: the CLI runner does, and so do the tests."""
        attempts = 1 + max(0, self.config.get_int("ResetRetries"))
        for attempt in range(attempts):
            try:
                await self.stop()
                break
            except Exception as exc:  # noqa: BLE001 - a failed stop is retried, then the restart goes on
                self.trace(f"reset: stopping failed (try {attempt + 1}/{attempts}): {exc}")
        self.reset_kind = kind
        self.reset_done.set()

    async def unlock(self, connector_id: int) -> str:
        """UnlockConnector: stop the transaction (UnlockCommand), withdraw the authorisation so the control
        loop releases the lock, and wait for its lock feedback: Unlocked, or UnlockFailed when the lock stays
        shut (jammed) or reports a lock fault. A fixed cable has no lock: NotSupported."""
        if connector_id not in self.views or self.board.fixed_cable:
            return "NotSupported"
        lock = next((c.devices.get("lock") for c in self.board.connectors if c.id == connector_id), None)
        if lock is not None and lock.driver == "none":
            return "NotSupported"
        if self.sessions.sessions[connector_id].in_transaction:
            self.sessions.stop(connector_id, "UnlockCommand")
            self.sender.notify()
        self._publish_limits()
        v = self.views[connector_id]
        deadline = time.monotonic() + 8.0  # the contactor opens at the latest 6 s after the PWM goes off
        while time.monotonic() < deadline:
            if "lock" in v.faults:
                return "UnlockFailed"
            if v.locked is False or (v.locked is None and v.contactor == "open"):
                return "Unlocked"
            await asyncio.sleep(0.05)
        return "UnlockFailed"

    def change_availability(self, connector_id: int, kind: str) -> str:
        return self.availability.change(connector_id, kind)  # persisted; Scheduled while charging

    def clear_cache(self) -> bool:
        return self.auth.clear_cache()

    def can_trigger(self, message: str, connector_id: int | None) -> bool:
        return self.trigger_status(message, connector_id) == "Accepted"

    def trigger_status(self, message: str, connector_id: int | None, extended: bool = False) -> str:
        return triggers.trigger_status(self, message, connector_id, extended)

    async def trigger(self, message: str, connector_id: int | None, extended: bool = False) -> None:
        await triggers.trigger(self, message, connector_id, extended)

    # -- for the sim control API and the demo ------------------------------------------------------------------
    def status_snapshot(self) -> dict[str, Any]:
        conns = []
        for cid, v in self.views.items():
            s = self.sessions.sessions[cid]
            conns.append(
                {
                    "id": cid,
                    "cp_state": v.cp_state,
                    "pwm_duty": v.pwm_duty,
                    "offered_a": v.offered_a,
                    "contactor": v.contactor,
                    "currents": v.currents,
                    "energy_wh": v.energy_wh,
                    "ocpp_status": (v.reported or self._derive(cid)).status,
                    "faults": v.faults,
                    "transaction_id": self.sessions.remote_id(s),
                    "id_tag": s.id_tag,
                }
            )
        return {
            "connectors": conns,
            "faults": self.station_faults,
            "online": self.link.online,
            "control_restarts": self.control.restarts,
            "energy": self.energy.status(),
        }
