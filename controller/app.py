"""The composition root: builds every part of the station from a board file and a state directory, wires
them together, and runs them. No part finds another by itself; everything is passed in here.

The main (asyncio) process owns the network, the disk, configuration, sessions and energy allocation. The
control loop runs in its own process (`controller.evse`), which this root starts and supervises; the main
process only asks it for things (limits), and hears back what happens (states, faults, samples).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from board.loader import Board
from controller.clock import Clock, SystemClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.energy.allocator import allocate
from controller.evse.faults import PAUSING, REPORT_ONLY, Fault
from controller.evse.supervisor import ControlProcess
from controller.leds import LedController
from controller.ocpp.client import OcppClient
from controller.ocpp.link import LinkSettings, NotConnected, OcppLink
from controller.ocpp.meter_values import sampled_values
from controller.ocpp.outbox import JournalSender
from controller.ocpp.status import Status, StatusInputs, derive_status
from controller.sdnotify import SystemdNotifier
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
    energy_wh: float = 0.0
    reported: Status | None = None
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
        self.trace = trace or (lambda s: None)
        defaults = dict(board.defaults)
        defaults.setdefault("NumberOfConnectors", str(len(board.connectors)))
        self.config = ConfigRegistry(ConfigStore(state_dir / "config.json"), board_defaults=defaults)
        self.journal = Journal(state_dir / "journal.sqlite")
        self.views = {c.id: ConnectorView(c.id) for c in board.connectors}
        self.station_faults: list[str] = []
        self.temperature_c: float | None = None
        self.control = ControlProcess(
            board.path, self._on_control, tick_s=options.tick_s, main_silence_s=options.main_silence_s
        )
        self.devices: StationDevices = build_station_devices(
            board, self.clock.monotonic, lambda: [tuple(v.currents) for v in self.views.values()]  # type: ignore[misc]
        )
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
        )
        self.sender = JournalSender(self.journal, self.link, self.clock, self.config, self._on_confirmed, self.trace)
        self._status_queue: asyncio.Queue[tuple[int, Status]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._heartbeat_wake = asyncio.Event()
        self._meter_wake = asyncio.Event()
        self.control_deaths = 0
        self.leds = LedController(self.devices.leds, self.config, self.clock)
        self.notifier = SystemdNotifier()
        self.timers = SessionTimers()
        self.warnings: set[int] = set()
        self._subscribe_keys()
        self._register_live_keys()

    # -- configuration -----------------------------------------------------------------------------------------
    def _subscribe_keys(self) -> None:
        for spec in self.config.all_specs():
            if spec.owner == "evse":
                self.config.subscribe(spec.name, self._forward_evse_key)
        for key in ("HeartbeatInterval",):
            self.config.subscribe(key, lambda *_: self._heartbeat_wake.set())
        self.config.subscribe("MeterValueSampleInterval", lambda *_: self._meter_wake.set())
        for key in ("Station-MaxCurrent", *(f"Connector{c.id}-MaxCurrent" for c in self.board.connectors)):
            if self.config.spec(key) is not None:
                self.config.subscribe(key, lambda *_: self._publish_limits())

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
            if spec.owner == "evse" and spec.access != "W":
                try:
                    out[spec.name] = self.config.get(spec.name)
                except KeyError:
                    pass
        return out

    async def after_configuration_change(self, key: str) -> None:
        """Effects that need the ChangeConfiguration.conf sent first (e.g. a reconnect)."""

    # -- the link ----------------------------------------------------------------------------------------------
    def _link_settings(self) -> LinkSettings:
        url = self.options.backoffice_url or self.config.get("BackOffice-URL-wired")
        path = self.config.get("BackOffice-Path-wired") if not self.options.backoffice_url else ""
        identity = self.options.identity or self.config.get("Identity") or "CP"
        hb = self.config.get_int("WebSocketPingInterval") if self.config.spec("WebSocketPingInterval") else 0
        return LinkSettings(url=url.rstrip("/") + path, identity=identity, ping_interval_s=hb or None)

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
            st = self._derive(cid)
            self._enqueue_status(cid, st, force=True)
        self.sender.notify()
        self._heartbeat_wake.set()

    def _on_offline(self) -> None:
        self.trace("back office connection lost")

    def _on_boot_interval(self, interval: int) -> None:
        with contextlib.suppress(Exception):
            self.config.set_internal("HeartbeatInterval", str(interval))

    async def _authorize(self, id_tag: str) -> str:
        try:
            res = await self.link.call(call.Authorize(id_tag=id_tag))
        except NotConnected:
            return "Accepted" if self.config.get_bool("AllowOfflineTxForUnknownId") else "Invalid"
        except Exception as exc:  # noqa: BLE001 - a failed Authorize is a refusal, not a crash
            self.trace(f"Authorize failed: {exc}")
            return "Invalid"
        return str(res.id_tag_info["status"])

    def _on_confirmed(self, action: str, local_tx: int | None, res: dict[str, Any]) -> None:
        if action == "StartTransaction" and local_tx is not None:
            status = (res.get("idTagInfo") or {}).get("status")
            self.sessions.on_start_confirmed(local_tx, status)

    # -- the control process -------------------------------------------------------------------------------------
    def _on_control(self, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "state":
            cid = int(msg["connector"])
            if cid == 0:
                self.station_faults = list(msg.get("faults") or [])
                self._changed()
                return
            v = self.views.get(cid)
            if v is None:
                return
            old_state = v.cp_state
            v.cp_state = str(msg.get("cp_state", v.cp_state))
            v.pwm_duty = msg.get("pwm_duty")
            v.offered_a = float(msg.get("offered_a") or 0.0)
            v.contactor = str(msg.get("contactor", "open"))
            v.faults = list(msg.get("faults") or [])
            duty = f"{v.pwm_duty:.1f} %" if v.pwm_duty is not None else "off"
            self.trace(
                f"connector {cid}: state {v.cp_state}, PWM {duty} ({v.offered_a:.1f} A), contactor {v.contactor}"
                + (f", faults {','.join(v.faults)}" if v.faults else "")
            )
            if v.cp_state != old_state:
                self.sessions.on_cp_state(cid, v.cp_state)
            self._changed()
        elif t == "sample":
            cid = int(msg["connector"])
            if cid == 0:
                temp = msg.get("temperature_c")
                self.temperature_c = float(temp) if isinstance(temp, int | float) else None
                return
            v = self.views.get(cid)
            if v is not None:
                v.meter = msg.get("meter")
                if v.meter is not None:
                    v.energy_wh = float(v.meter.get("energy_wh", v.energy_wh))
                self._changed(limits=False)
        elif t == "stats":
            self.notifier.control_stats(msg)
        elif t == "hung":
            self.notifier.control_restarted()
            self.trace(f"control process silent for {msg.get('silent_s')} s; killed it")
        elif t == "died":
            self.control_deaths += 1
            self.notifier.control_restarted()
            self.trace(f"control process died (exit {msg.get('returncode')}); restarting it")
        elif t == "hello":
            self.control.send_config(self._evse_values())
            self._publish_limits()

    # -- limits and status -------------------------------------------------------------------------------------
    def _socket_max(self, cid: int) -> float:
        board_max = next(c.max_current for c in self.board.connectors if c.id == cid)
        key = f"Connector{cid}-MaxCurrent"
        if self.config.spec(key) is not None:
            return min(board_max, self.config.get_float(key))
        return board_max

    def _publish_limits(self) -> None:
        active = {cid for cid, s in self.sessions.sessions.items() if s.in_transaction}
        offers = allocate(
            self.config.get_float("Station-MaxCurrent"), {cid: self._socket_max(cid) for cid in self.views}, active
        )
        limits: dict[int, dict[str, Any]] = {}
        for cid in self.views:
            s = self.sessions.sessions[cid]
            limits[cid] = {
                "max_current": offers[cid],
                "authorized": self.sessions.authorized(cid) and not self.views[cid].unavailable,
                "suspended": s.suspended,
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
            return Status("Available")
        v = self.views[cid]
        s = self.sessions.sessions[cid]
        faults = tuple(sorted(set(v.faults)))
        return derive_status(
            StatusInputs(
                cp_state=v.cp_state,
                contactor_closed=v.contactor == "closed",
                offered_a=v.offered_a,
                current_a=max(v.currents) if v.currents else 0.0,
                faults=faults,
                in_transaction=s.in_transaction,
                authorized_waiting=s.authorized_at is not None,
                finishing=s.finishing,
                unavailable=v.unavailable,
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
        self._status_queue.put_nowait((cid, st))

    async def _status_sender(self) -> None:
        while True:
            cid, st = await self._status_queue.get()
            if not self.link.online:
                continue  # the current status of every connector is sent again on (re)connect
            try:
                await self.link.call(
                    call.StatusNotification(
                        connector_id=cid,
                        error_code=st.error_code,
                        status=st.status,
                        info=st.info,
                        timestamp=_iso(self.clock),
                    )
                )
            except Exception as exc:  # noqa: BLE001 - status is resent on the next connect
                self.trace(f"StatusNotification failed: {exc}")

    # -- periodic work -----------------------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        while True:
            interval = self.config.get_int("HeartbeatInterval")
            self._heartbeat_wake.clear()
            if interval <= 0:
                await self._heartbeat_wake.wait()
                continue
            sleeper = asyncio.ensure_future(self.clock.sleep(interval))
            waker = asyncio.ensure_future(self._heartbeat_wake.wait())
            done, _ = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            waker.cancel()
            if waker in done:
                continue  # rescheduled (new interval or new connection)
            if self.link.online:
                with contextlib.suppress(Exception):
                    await self.link.call(call.Heartbeat())

    async def _meter_loop(self) -> None:
        while True:
            interval = self.config.get_int("MeterValueSampleInterval")
            self._meter_wake.clear()
            if interval <= 0:
                await self._meter_wake.wait()
                continue
            sleeper = asyncio.ensure_future(self.clock.sleep(interval))
            waker = asyncio.ensure_future(self._meter_wake.wait())
            done, _ = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            waker.cancel()
            if waker in done:
                continue
            measurands = self.config.get_list("MeterValuesSampledData")
            for cid, v in self.views.items():
                if v.meter is None:
                    continue
                sample = dict(v.meter, offered_a=v.offered_a)
                self.sessions.meter_values(cid, sampled_values(sample, measurands))
            self.sender.notify()

    async def _housekeeping_loop(self) -> None:
        while True:
            await self.clock.sleep(0.1)
            rfid = self.devices.rfid
            if rfid is not None:
                uid = rfid.poll()
                if uid:
                    self.trace(f"card presented: {uid}")
                    self.leds.interaction()
                    outcome = await self.sessions.on_tag(uid)
                    if outcome not in ("authorized", "stop"):
                        self.leds.signal("red")
                    self.sender.notify()
            self.sessions.expire_authorizations()
            self._run_timers()
            self.leds.refresh()
            self.sender.notify() if self.journal.pending_count() else None

    # -- life cycle --------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.control.start()
        self.control.send_config(self._evse_values())
        self._publish_limits()
        self._tasks = [
            asyncio.create_task(self.link.run(), name="ocpp-link"),
            asyncio.create_task(self.sender.run(), name="journal-sender"),
            asyncio.create_task(self._status_sender(), name="status-sender"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._meter_loop(), name="meter-values"),
            asyncio.create_task(self._housekeeping_loop(), name="housekeeping"),
        ]
        self.notifier.notify("READY=1")

    async def stop(self) -> None:
        self.notifier.notify("STOPPING=1")
        await self.link.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        await self.control.stop()
        self.journal.close()

    # -- the facade the OCPP handlers ask ----------------------------------------------------------------------
    async def remote_start(self, id_tag: str, connector_id: int | None, profile: Any) -> bool:
        ok = await self.sessions.remote_start(id_tag, connector_id)
        self.sender.notify()
        return ok

    async def remote_stop(self, transaction_id: int) -> bool:
        ok = self.sessions.remote_stop(transaction_id)
        self.sender.notify()
        return ok

    def accept_reset(self, kind: str) -> bool:
        return True

    async def reset(self, kind: str) -> None:
        for cid, s in self.sessions.sessions.items():
            if s.in_transaction:
                self.sessions.stop(cid, "HardReset" if kind == "Hard" else "SoftReset")
        self.sender.notify()

    async def unlock(self, connector_id: int) -> str:
        if connector_id not in self.views:
            return "NotSupported"
        if self.board.fixed_cable:
            return "NotSupported"
        if self.sessions.sessions[connector_id].in_transaction:
            self.sessions.stop(connector_id, "UnlockCommand")
            self.sender.notify()
        return "Unlocked"

    def change_availability(self, connector_id: int, kind: str) -> str:
        targets = list(self.views) if connector_id == 0 else [connector_id]
        if any(t not in self.views for t in targets):
            return "Rejected"
        scheduled = False
        for t in targets:
            if self.sessions.sessions[t].in_transaction and kind == "Inoperative":
                scheduled = True
            else:
                self.views[t].unavailable = kind == "Inoperative"
        self._changed()
        return "Scheduled" if scheduled else "Accepted"

    def clear_cache(self) -> bool:
        return True

    def can_trigger(self, message: str, connector_id: int | None) -> bool:
        return message in ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues")

    async def trigger(self, message: str, connector_id: int | None) -> None:
        if message == "Heartbeat":
            with contextlib.suppress(Exception):
                await self.link.call(call.Heartbeat())
        elif message == "StatusNotification":
            for cid in [0, *self.views] if connector_id is None else [connector_id]:
                if cid == 0 or cid in self.views:
                    self._enqueue_status(cid, self._derive(cid), force=True)
        elif message == "MeterValues":
            measurands = self.config.get_list("MeterValuesSampledData")
            for cid, v in self.views.items():
                if (connector_id in (None, cid)) and v.meter is not None:
                    with contextlib.suppress(Exception):
                        await self.link.call(
                            call.MeterValues(
                                connector_id=cid,
                                meter_value=[
                                    {
                                        "timestamp": _iso(self.clock),
                                        "sampled_value": sampled_values(
                                            v.meter, measurands, context="Trigger"
                                        ),
                                    }
                                ],
                            )
                        )
        elif message == "BootNotification":
            s = self._link_settings()
            with contextlib.suppress(Exception):
                await self.link.call(
                    call.BootNotification(charge_point_vendor=s.vendor, charge_point_model=s.model)
                )

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
        }
