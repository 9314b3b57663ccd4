"""The composition root: builds every part of the station from a board file and a state directory, connects
their ports, and starts and stops them. No part finds another by itself; everything is passed in here, and
nothing else happens here.

The main (asyncio) process owns the network, the disk, configuration, sessions and energy allocation. The
control loop runs in its own process (`controller.evse`), which this root starts and supervises; the main
process only asks it for things (limits), and hears back what happens (states, faults, samples).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from board.loader import Board
from controller.auth.authorizer import Authorizer
from controller.auth.reservations import Reservations
from controller.clock import Clock, SystemClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.manager import EnergyManager
from controller.energy.meter import modbus_meter_model
from controller.energy.settings import EnergySettings
from controller.evse.supervisor import ControlProcess
from controller.leds import LedController
from controller.metering.signed import SignedMeterValues
from controller.modbus.slave import AlfenSlave, SlaveBoard
from controller.mqtt.factory import build_mqtt
from controller.ocpp.aligned import MeterService
from controller.ocpp.availability import Availability
from controller.ocpp.client import ClientServices, OcppClient, frame_tracer
from controller.ocpp.conn_keys import ConnectionConfig
from controller.ocpp.conn_settings import heartbeat_interval_taker, heartbeat_settings, link_settings
from controller.ocpp.diagnostics import ArchiveSources, Diagnostics
from controller.ocpp.firmware import Firmware
from controller.ocpp.link import LinkSettings, OcppLink
from controller.ocpp.outbox import JournalSender
from controller.ocpp.security import Security
from controller.ocpp.smartcharging import SmartCharging
from controller.ocpp.statusq import StatusReporter
from controller.ocpp.trigger import Triggers
from controller.redact import install_log_redaction, secret_key_names
from controller.scn.service import ScnService
from controller.sdnotify import SystemdNotifier
from controller.statefile import private_dir
from controller.station import keys as station_keys
from controller.station.changes import Changes
from controller.station.control import ControlEvents
from controller.station.housekeeping import Housekeeping
from controller.station.lifecycle import Lifecycle, recover_after_outage, unlockable
from controller.station.limits import LimitArbiter
from controller.station.requests import CoreRequests
from controller.station.sockets import Sockets
from controller.station.status import StationStatus, snapshot
from controller.station.trace import TraceLog
from controller.supervise import Supervisor
from controller.transactions.journal import Journal, outbox_cap
from controller.transactions.sessions import SessionManager
from controller.web.factory import WebParts, web_server
from hal.factory import StationDevices, build_station_devices


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


class Station:
    def __init__(self, board: Board, state_dir: Path, options: StationOptions, clock: Clock | None = None,
                 trace: Callable[[str], None] | None = None) -> None:
        self.board, self.state_dir, self.options = board, state_dir, options
        private_dir(state_dir, tighten=True)  # issue 11: 0700 (RFID UIDs, keys)
        self.clock = clock = clock or SystemClock()
        self.trace = self.trace_log = TraceLog(clock, trace)
        ids = [c.id for c in board.connectors]
        defaults = dict(board.defaults)
        defaults.setdefault("NumberOfConnectors", str(len(ids)))
        self.config = config = ConfigRegistry(ConfigStore(state_dir / "config.json"), board_defaults=defaults)
        self._secret_keys = secret_key_names(config.all_specs())  # write-only values: never traced or logged
        for logger in ("ocpp", "controller.ocpp.client"):  # they log whole frames
            install_log_redaction(logging.getLogger(logger), lambda: self._secret_keys)
        self.journal = journal = Journal(state_dir / "journal.sqlite", outbox_cap(board.journal))
        resumed = recover_after_outage(config, journal, clock, self.trace)  # before the sessions read the journal
        self.changes = changes = Changes()
        self.sockets = sockets = Sockets(ids, clock.monotonic, keep_energy_up=board.is_simulated)
        self.devices: StationDevices = build_station_devices(
            board, clock.monotonic, lambda: [tuple(v.currents) for v in sockets.views.values()],  # type: ignore[misc]
            meter_model=lambda: modbus_meter_model(EnergySettings.read(config)),
        )
        grid = board.station.get("grid_meter")
        self.energy = EnergyManager(
            config, clock, {c.id: c.phases for c in board.connectors}, self.devices.grid_meter,
            lambda: {cid: (v.currents if v.meter is not None else None) for cid, v in sockets.items()},
            changes.limits_changed, self.trace, relays=board.phase_relays,
            grid_driver=grid.driver if grid is not None else None, grid_params=grid.params if grid is not None else None,
        )
        self.connection_config = ConnectionConfig(config)  # reboot-required connection keys: after the reboot
        self.link = OcppLink(
            self._link_settings, self._make_client, clock, self._on_online, lambda: self.trace("back office connection lost"),
            heartbeat_interval_taker(config), self.trace, heartbeat=lambda: heartbeat_settings(config),
            on_attempt=lambda s, url, error: self.security.link_attempt(s, url, error),
        )
        self.sessions = sessions = SessionManager(ids, journal, clock, config, lambda tag: self.auth.authorize(tag),
                                                  lambda cid: sockets[cid].energy_wh, changes.limits_changed, self.trace)
        self.sender = JournalSender(journal, self.link, clock, config, self._on_confirmed, self.trace)
        self.status_reporter = StatusReporter(config, clock, journal, self.link, self.sender, self.trace)
        self.lifecycle = Lifecycle(
            clock, config, journal, sessions, sockets, self.link, lambda: self.security, self.sender.notify,
            lambda: self.limits.publish(), self.stop, unlockable(board), resumed, self.trace,
        )
        self.control = ControlProcess(
            board.path, lambda msg: self.control_events.on_message(msg), tick_s=options.tick_s,
            main_silence_s=options.main_silence_s, rt_priority=options.rt_priority, clock=clock.monotonic,
        )
        self.limits = LimitArbiter({c.id: c.max_current for c in board.connectors}, config, sockets, self.control,
                                   sessions, lambda: self.smart, self.energy)
        self.meters = MeterService(config, clock, journal, self.link, sessions, lambda cid: self.status.meter_sample(cid),
                                   self.devices.grid_meter, self.sender.notify, self.trace)
        self.signed = SignedMeterValues.of(board, state_dir, self._identity(), sockets, sessions, config, clock, journal,
                                           self.sender.notify, self.trace)
        self.leds = LedController(self.devices.leds, config, clock)
        self.notifier = SystemdNotifier()
        # OCPP feature profiles beyond Core (their state lives under the state directory)
        self.auth = Authorizer(state_dir, config, clock, self.link, sessions, sockets, self.sender.notify, changes, self.trace)
        self.security = Security(state_dir, config, clock, self.link, self._identity, self.trace)
        journal.report_to(self.security.event)  # issue 11: a damaged journal, outbox drops: security events
        self.availability = Availability(state_dir, ids, sockets, sessions, changes, self.trace)
        self.availability.apply()
        self.reservations = Reservations(
            self.auth.store, self.auth, config, clock, sockets, sessions,
            lambda cid: self.status.without_reservation(cid), changes, self.trace,
        )
        self.status = StationStatus(
            sockets, sessions, lambda: self.limits.commanded, self.reservations, self.availability,
            self.status_reporter, self.trace,
        )
        self.smart = SmartCharging(
            state_dir, config, clock, {c.id: c.phases for c in board.connectors}, sessions, journal,
            self.limits.socket_max, changes, self.trace, power_phases=self.energy.charging_phases,
        )
        self.energy.phase_plan.profile_phases = self.smart.number_phases
        self.diagnostics = Diagnostics(clock, self.link, self._identity, ArchiveSources(
            state_dir, self.trace_log.recent, lambda: config.get_configuration(None)[0], journal,
            self.status_snapshot, lambda: self.security.events,
        ), self.trace)
        self.firmware = Firmware(state_dir, clock, self.link, self.security, sessions, self.lifecycle.restart,
                                 board.firmware, self.trace, ticking=lambda: self.notifier.ticking)
        self.triggers = Triggers(
            sockets, config, clock, self.link, sessions, self.status, self._link_settings, self.diagnostics,
            self.firmware, self.security,
        )
        self.requests = CoreRequests(
            config, sessions, self.smart, self.lifecycle, self.availability, self.auth, self.security, self.link,
            self.sender.notify,
        )
        self.housekeeping = Housekeeping(
            clock, config, self.devices.rfid, self.auth, sessions, sockets, journal, self.link, self.leds,
            self.sender.notify, changes, self.trace,
        )
        self.control_events = ControlEvents(
            sockets, sessions, lambda: self.control, self.energy, journal, self.notifier, state_dir,
            board.is_simulated, self._evse_values, self.auth.plug_and_charge_id, self.sender.notify, self.limits.publish,
            changes, self.trace,
        )
        self.modbus = AlfenSlave(
            self.energy, clock, config, sockets, self.link,
            SlaveBoard(board.name, options.identity, {c.id: c.phases for c in board.connectors},
                       {c.id: c.devices["meter"].driver for c in board.connectors if "meter" in c.devices},
                       board.modbus_slave),
            self.trace, options.modbus_host, options.modbus_port, options.modbus_idle_s,
        )
        self.scn = ScnService.of(board, config, clock, sockets, self.energy, self.modbus, options.modbus_host, self.trace)
        self.mqtt = build_mqtt(board, clock, config, sockets, sessions, lambda cid: self.status.current(cid).status,
                               self._link_settings, self.limits, changes.limits_changed, self.trace)
        self.web = web_server(board, clock, self.trace, WebParts(
            config, self.requests, sockets, self.status_snapshot, journal, self._link_settings))
        self.reset_done = self.lifecycle.reset_done  # set when a Reset/firmware reboot has stopped the station
        self._wire()
        self._tasks: list[asyncio.Task[Any]] = []
        self.supervisor = Supervisor(clock)  # issue 11: every long-lived task is supervised

    def _wire(self) -> None:
        """Connect what follows what: the change bus, the session hooks, the keys the station owns."""
        self.changes.on_limits(self.limits.publish)
        self.changes.on_status(self.status.report_all)
        self.changes.on_status(
            lambda: self.leds.update([self.status.current(cid).status for cid in self.sockets],
                                     bool(self.housekeeping.warnings))
        )
        s = self.sessions
        s.may_use = lambda cid, tag: not self.sockets[cid].unavailable and self.reservations.may_use(cid, tag)
        s.reservation_for = self.reservations.consume_for
        s.on_started, s.on_stopped = self._on_tx_started, self._on_tx_stopped
        s.before_stop, self.meters.signed_sample = self.signed.end, self.signed.update  # Eichrecht: signed end, updates
        s.same_group = self.auth.same_group
        rfid = self.devices.rfid
        station_keys.bind_station_keys(
            self.config, self.control, self.sockets, self.limits.publish, lambda: rfid.version() if rfid else ""
        )
        station_keys.bind_service_keys(self.config, self.state_dir, self.clock, self.link.heartbeat_changed,
                                       self.meters.changed, self.energy.relays)

    # -- small adapters between the parts ----------------------------------------------------------------------
    def _link_settings(self) -> LinkSettings:
        return link_settings(self.connection_config, self.state_dir, self.options.backoffice_url, self.options.identity)

    def _identity(self) -> str:
        return self._link_settings().identity

    def _evse_values(self) -> dict[str, str]:
        return station_keys.evse_values(self.config, self.state_dir)

    def _make_client(self, identity: str, ws: Any) -> OcppClient:
        services = ClientServices(
            self.requests, self.triggers, self.firmware, self.diagnostics, self.auth, self.reservations, self.smart,
            self.security,
        )
        return OcppClient(identity, ws, services, trace=frame_tracer(self.trace, self._secret_keys))

    async def _on_online(self) -> None:
        self.status.report_all()
        self.status_reporter.on_online()
        self.sender.notify()
        asyncio.ensure_future(self.security.flush())
        asyncio.ensure_future(self.firmware.on_online())

    def _on_confirmed(self, action: str, local_tx: int | None, res: dict[str, Any]) -> None:
        rec = self.journal.transaction(local_tx) if local_tx is not None else None
        self.auth.on_confirmed(action, local_tx, res, rec.id_tag if rec is not None else None)

    def _on_tx_started(self, cid: int) -> None:
        self.signed.begin(cid)  # the signed begin value (Eichrecht)
        self.requests.on_tx_started(cid)  # a RemoteStart's TxProfile
        self.smart.notify()

    def _on_tx_stopped(self, cid: int) -> None:
        self.smart.on_transaction_end(cid)
        self.availability.on_transaction_end(cid)

    # -- life cycle ----------------------------------------------------------------------------------------------
    @property
    def reset_kind(self) -> str | None:
        return self.lifecycle.reset_kind

    async def start(self) -> None:
        for cid in self.lifecycle.resumed_connectors():
            self.sockets[cid].cp_state = "C"
            self.sessions.cp_state[cid] = "C"
        await self.control.start()
        self.control.send_config(self._evse_values())
        self.limits.publish()
        await self.modbus.start()  # only when MbsSlaveTCPIP is On (before the SCN task: it announces the slave)
        self.connection_config.freeze()  # the boot: reboot-required connection keys keep these values
        self._tasks = [
            self.supervisor.start(name, run)
            for name, run in (
                ("ocpp-link", self.link.run), ("journal-sender", self.sender.run), ("scn", self.scn.run),
                ("status-reporter", self.status_reporter.run), ("meter-values", self.meters.run),
                ("housekeeping", self.housekeeping.run), ("smart-charging", self.smart.run),
                ("reservations", self.reservations.run), ("grid-meter", self.energy.run), ("mqtt", self.mqtt.run),
                ("firmware", self.firmware.run), ("web", self.web.run),
            )
        ]
        self.security.event("StartupOfTheDevice")
        self.notifier.notify("READY=1")

    async def stop(self) -> None:
        self.notifier.notify("STOPPING=1")
        await self.modbus.stop()
        await self.mqtt.stop()  # says offline (the last will covers every other end)
        self.supervisor.stop()
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

    def status_snapshot(self) -> dict[str, Any]:
        """For the sim control API, diagnostics and the demo."""
        return snapshot(self.sockets, self.sessions, self.status, self.link.online, self.control.restarts,
                        {**self.energy.status(), "scn": self.scn.status()})
