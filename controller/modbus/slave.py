"""The Modbus TCP slave service: serves the Alfen register map from the station's state and hands written
setpoints to energy management (the master asks; the allocation and the control loop decide).

Started with the station when MbsSlaveTCPIP is On (the key needs a reboot, as on an Alfen station: its value
at start-up is what counts, for the listening socket and for the setpoint rules in energy management); port
502 unless the station options say otherwise (binding 502 needs CAP_NET_BIND_SERVICE under systemd). A failure
to listen is reported and leaves the station running; the sockets then stay on Safe-MaxCurrent (MbsSlaveTCPIPMode
Socket/SCN), as they would with a master that stopped writing.

What the registers show (units 1/2 = sockets, 200 = station):
- 1206 "actual applied max current": the offer energy management computed for the socket (the least of every
  limit, 0 while the station holds the car: external suspend, a second car waiting for the first to follow); 1210 reads back exactly what was written (0.0 before any write), 1208 the whole seconds left of its
  validity, 1214 whether it is used (MbsSlaveTCPIPMode Socket and still valid), 1212 Safe-MaxCurrent.
- 1215 (phases): the number of phases the socket charges on. A write needs EnablePhaseSwitching; on a socket
  with a phase relay 1 or 3 is a wish its relay follows (`EnergyManager.write_phases`), on one without only
  the present number is accepted; anything else is exception 03.
- 300.. socket meter: voltages, currents and their sum, total power, delivered energy; what the socket meter
  does not measure (N current, line voltages, power factor, per-phase power and energy, apparent and reactive
  values, frequency) reads 0xFFFF (NaN).
- 1100 station active max current: the least room of the grid phases the station is connected to
  (Station-MaxCurrent, the grid headroom or the safe current); 1405.. the station's draw and 1411.. its room
  per grid phase (see `registers.station_max_current`); 1417..1421 the SCN setpoints (used in
  MbsSlaveTCPIPMode SCN), 1423.. their seconds left, 1429 Safe-MaxCurrent. A station that coordinates a
  Smart Charging Network (`controller.scn`) refuses SCN setpoints with exception 01: whoever writes them is a
  second coordinator, a configuration error both sides report.
- Identification: name = Identity, manufacturer and firmware as in BootNotification, serial = DeviceIdentity
  (else Identity), platform = the board's name.
  Date and time are UTC (time zone offset 0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.clock import Clock
from controller.energy.manager import EnergyManager
from controller.energy.phases import charging_phase_count, to_grid
from controller.energy.settings import EnergySettings
from controller.modbus import codec
from controller.modbus.registers import (
    F32,
    ILLEGAL_FUNCTION,
    ILLEGAL_VALUE,
    SOCKET_MAP,
    STATION_MAP,
    STATION_UNIT,
    U16,
    Field,
    phase_max_currents,
    station_max_current,
)
from controller.modbus.server import WRITE_SINGLE, ModbusTcpServer
from controller.ocpp.link import LinkSettings
from controller.ports import LinkPort, Settings, SocketsView, Trace

log = logging.getLogger(__name__)

METER_TYPES = {"sdm_rtu": 0, "sdm_tcp": 1, "modbus_rtu": 0, "modbus_tcp": 1, "p1": 3}
FRESH_SAMPLE_S = 2.5
MAX_SETPOINT_A = 1000.0


def mode3_state(cp_state: str, pwm_on: bool) -> str:
    """Alfen's Mode 3 state: A, B1, B2, C1, C2, D1, D2, E, F (digit: 1 PWM off, 2 PWM on)."""
    letter = (cp_state or "A")[0].upper()
    if letter in ("B", "C", "D"):
        return f"{letter}{2 if pwm_on else 1}"
    return letter if letter in ("A", "E", "F") else "E"


def _secs(remaining: float) -> int:
    return int(math.ceil(remaining)) if remaining > 0 else 0


@dataclass(frozen=True)
class SlaveBoard:
    """What the register map tells about the hardware: the board's name, each socket's phases and meter."""

    name: str
    identity: str | None  # the --identity option, else the Identity key
    phases: Mapping[int, int]
    meter_drivers: Mapping[int, str]
    listener: Mapping[str, Any] = field(default_factory=dict)  # the board file's [modbus_slave] (issue 11)


class AlfenSlave:
    """The register handler (for `ModbusTcpServer`) and the service around it."""

    def __init__(
        self,
        energy: EnergyManager,
        clock: Clock,
        settings: Settings,
        sockets: SocketsView,
        link: LinkPort,
        board: SlaveBoard,
        trace: Trace,
        host: str = "0.0.0.0",
        port: int = 502,
        idle_timeout_s: float = 60.0,
    ) -> None:
        self.energy = energy
        self.clock = clock
        self._settings = settings
        self._sockets = sockets
        self._link = link
        self._board = board
        self._trace = trace
        self.started_at = self.clock.monotonic()
        conf = board.listener
        self.server = ModbusTcpServer(
            self,
            str(conf.get("listen", host)),
            port,
            idle_timeout_s=idle_timeout_s,
            write_timeout_s=float(conf.get("write_timeout_s", 5.0)),
            max_per_peer=int(conf.get("max_connections_per_peer", 2)),
            allow=conf.get("allow"),
        )
        self.running = False
        # set when this station coordinates a Smart Charging Network (controller.scn): it takes no SCN
        # setpoints from anyone, and a master that sends some is a second coordinator (both report it)
        self.coordinator = False
        self.foreign_setpoints = 0

    # -- life cycle ----------------------------------------------------------------------------------------
    def enabled(self) -> bool:
        try:
            return bool(self._settings.get_bool("MbsSlaveTCPIP"))
        except (KeyError, ValueError):
            return False

    async def start(self) -> int | None:
        """Listen when MbsSlaveTCPIP is On; returns the port, or None."""
        self.energy.modbus_enabled = self.enabled()  # the key's value at start-up counts until a reboot
        if not self.energy.modbus_enabled:
            return None
        try:
            port = await self.server.start()
        except OSError as exc:
            log.error("Modbus TCP slave cannot listen on %s:%s: %s", self.server.host, self.server.port, exc)
            self._trace(f"Modbus TCP slave cannot listen on port {self.server.port}: {exc}")
            return None
        self.running = True
        self._trace(f"Modbus TCP slave listening on port {port}")
        return port

    async def stop(self) -> None:
        if self.running:
            await self.server.stop()
            self.running = False

    @property
    def port(self) -> int:
        return self.server.port

    # -- the register handler ------------------------------------------------------------------------------
    def known_unit(self, unit: int) -> bool:
        return unit == STATION_UNIT or unit in self._sockets

    def read(self, unit: int, addr: int, count: int) -> list[int] | int:
        if unit == STATION_UNIT:
            return STATION_MAP.read(addr, count, self.station_values)
        return SOCKET_MAP.read(addr, count, lambda: self.socket_values(unit))

    def write(self, unit: int, addr: int, regs: Sequence[int], function: int) -> int | None:
        fmap = STATION_MAP if unit == STATION_UNIT else SOCKET_MAP
        plan = fmap.plan_write(addr, regs)
        if isinstance(plan, int):
            return plan
        if self.coordinator and any(f.name.startswith("scn_setpoint_l") for f, _ in plan):
            self.foreign_setpoints += 1
            if self.foreign_setpoints == 1:
                log.error("SCN: a Modbus master writes SCN setpoints to this coordinator: a second coordinator")
                self._trace("SCN: a second coordinator writes SCN setpoints to this coordinator (configuration error)")
            return ILLEGAL_FUNCTION
        s = self.energy.settings()
        values: list[tuple[Field, float]] = []
        for f, raw in plan:
            if f.type == F32:
                if function == WRITE_SINGLE:
                    return ILLEGAL_VALUE  # unreachable: plan_write refuses half a float
                v = codec.decode_float32(raw)
                if not (math.isfinite(v) and 0.0 <= v <= MAX_SETPOINT_A):
                    return ILLEGAL_VALUE
            elif f.type == U16:  # 1215: phases
                v = float(raw[0])
                relay = unit in self.energy.relays
                if not s.phase_switching or v not in (1.0, 3.0) or (not relay and int(v) != self._phases(s, unit)):
                    return ILLEGAL_VALUE
            else:
                return ILLEGAL_VALUE
            values.append((f, v))
        for f, v in values:
            if f.name == "setpoint_a":
                self.energy.write_socket_setpoint(unit, v)
            elif f.name.startswith("scn_setpoint_l"):
                self.energy.write_phase_setpoint(int(f.name[-1]) - 1, v)
            elif f.name == "phases" and unit in self.energy.relays:
                self.energy.write_phases(unit, int(v))  # the relay follows (controller/energy/phases.py)
            # phases without a relay: the present number, accepted and nothing to change
        return None

    # -- values --------------------------------------------------------------------------------------------
    def _phases(self, s: EnergySettings, cid: int) -> int:
        if cid in self.energy.relays:
            return self.energy.phases_for(cid)
        board_phases = self._board.phases.get(cid, 3)
        return charging_phase_count(s.connected, board_phases, s.max_allowed_phases)

    def station_values(self) -> Mapping[str, Any]:
        s = self.energy.settings()
        now = self.clock.monotonic()
        identity = self._board.identity or self._config("Identity", "") or "CP"
        link = LinkSettings(url="", identity=identity)  # vendor and firmware as BootNotification reports them
        wall = self.clock.now()
        phase_max = phase_max_currents(self.energy.last_room, s.connected, s.station_max_a)
        draw = [0.0, 0.0, 0.0]
        for cid in self._sockets:
            v = self._sockets[cid]
            if v.meter is not None:
                for p, a in enumerate(to_grid(v.currents, s.connected)):
                    draw[p] += a
        vals: dict[str, Any] = {
            "name": link.identity,
            "manufacturer": link.vendor,
            "table_version": 1,
            "firmware": link.firmware_version,
            "platform": self._board.name,
            "serial": self._config("DeviceIdentity", "") or identity,
            "year": wall.year,
            "month": wall.month,
            "day": wall.day,
            "hour": wall.hour,
            "minute": wall.minute,
            "second": wall.second,
            "uptime_ms": int((now - self.started_at) * 1000),
            "tz_offset_min": 0,
            "station_max_a": station_max_current(self.energy.last_room, s.connected, s.station_max_a),
            "temperature_c": self._sockets.temperature_c,
            "ocpp_connected": 1 if self._link.online else 0,
            "sockets": len(self._sockets),
            "scn_name": self._config("SCN-NetworkName", ""),
            "scn_sockets": len(self._sockets),
            "scn_safe_a": s.safe_a,
            "scn_enabled": 1 if s.mbs_mode == "SCN" else 0,
        }
        for p in range(3):
            sp = self.energy.setpoints.phases[p]
            vals[f"scn_total_l{p + 1}"] = round(draw[p], 3)
            vals[f"scn_max_l{p + 1}"] = phase_max[p]
            vals[f"scn_setpoint_l{p + 1}"] = sp.value
            vals[f"scn_valid_l{p + 1}"] = _secs(sp.remaining(now, s.mbs_validity_s))
        return vals

    def socket_values(self, cid: int) -> Mapping[str, Any]:
        s = self.energy.settings()
        now = self.clock.monotonic()
        v = self._sockets[cid]
        sp = self.energy.setpoints.sockets[cid]
        valid = sp.valid(now, s.mbs_validity_s)
        meter_fault = "meter" in v.faults
        meter_at = v.meter_at
        vals: dict[str, Any] = {
            "available": 0 if v.unavailable else 1,
            "mode3_state": mode3_state(v.cp_state, v.pwm_duty is not None),
            "applied_max_a": self.energy.last_offers.get(cid, 0.0),
            "valid_s": _secs(sp.remaining(now, s.mbs_validity_s)),
            "setpoint_a": sp.value,
            "safe_a": s.safe_a,
            "setpoint_used": 1 if s.mbs_mode == "Socket" and valid else 0,
            "phases": self._phases(s, cid),
            "meter_type": self._meter_type(cid),
        }
        m = v.meter
        if m is None:
            vals["meter_state"] = 0x08 if meter_fault else 0x00
            return vals
        age = None if meter_at is None else max(0.0, now - meter_at)
        state = 0x01
        if age is not None and age <= FRESH_SAMPLE_S:
            state |= 0x02
        if meter_fault:
            state |= 0x08
        vals["meter_state"] = state
        vals["meter_age_ms"] = None if age is None else int(age * 1000)
        currents = [float(a) for a in (m.get("currents") or [])]
        voltages = [float(u) for u in (m.get("voltages") or [])]
        for p in range(3):
            if p < len(voltages):
                vals[f"v_l{p + 1}"] = voltages[p]
            if p < len(currents):
                vals[f"i_l{p + 1}"] = currents[p]
        if len(currents) == 3:
            vals["i_sum"] = sum(currents)
        if m.get("power_w") is not None:
            vals["p_sum"] = float(m["power_w"])
        if m.get("energy_wh") is not None:
            vals["e_delivered_sum"] = float(m["energy_wh"])
        return vals

    def _meter_type(self, cid: int) -> int:
        driver = self._board.meter_drivers.get(cid)
        return METER_TYPES.get(driver, 4) if driver is not None else 4

    def _config(self, key: str, default: str) -> str:
        try:
            return str(self._settings.get(key))
        except KeyError:
            return default
