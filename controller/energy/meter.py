"""The grid meter for active load balancing (pure): which meter the keys select, and what its readings leave.

Which meter (`select_source`): Active-LoadBalancing On, then ALB-ProtocolSelection names the kind:
- "DSMR P1": the smart meter on the RJ11 port. That port is either the P1 input or the external suspend
  input (DirectExternalSuspendSignal); with the port set to suspend there is no P1 meter.
- "Modbus TCP/IP": the smart Modbus meter (MBTCPSmart-*) if MBTCPSmart-IsEnabled, else the central one
  (MBTCPCentral-*) if MBTCPCentral-IsEnabled; a meter model "None" means no meter.
- "None": no meter.
The device itself (serial port, host, unit) comes from the board file's `[grid_meter]` (a real board wires
one meter); the keys only say whether and which kind of meter load balancing uses, and `board_serves()`
checks that the board's meter is of that kind: driver `p1` serves "DSMR P1", `sdm_*`/`modbus_*` serve
"Modbus TCP/IP", `sim` (the simulator) stands in for either, `none` serves nothing. MBTCPSmart-IPAddress and
-SlaveUnitID are reported next to the board's host/unit when they differ (the board file wins). With Active
load balancing on and no usable meter, the station runs on Safe-MaxCurrent, exactly as when a meter is lost.

What the readings leave (`GridWatch`): per grid phase, the house load = measured current, minus the station's
own current when SmartMeterIncludesCharger. Rises count at once; falls only after `release_s` (the highest
house load of that window is used), so a load that drops for a moment does not lift the offer, and the offer
does not follow every flicker of the house. The room for the station on phase p is then
SmartMeter-MaxCurrent - house[p]. No valid reading for `validity_s` (and before the first one): lost.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.energy.settings import SUSPEND_P1, EnergySettings

METER_VALIDITY_S = 15.0  # a DSMR 4 meter sends a telegram every 10 s; DSMR 5 and Modbus meters every 1 s
RELEASE_S = 3.0
P1, MODBUS_TCP = "DSMR P1", "Modbus TCP/IP"
DRIVER_KINDS: dict[str, tuple[str, ...]] = {
    "sim": (P1, MODBUS_TCP),
    "p1": (P1,),
    "sdm_tcp": (MODBUS_TCP,),
    "sdm_rtu": (MODBUS_TCP,),
    "modbus_tcp": (MODBUS_TCP,),
    "modbus_rtu": (MODBUS_TCP,),
    "none": (),
}


@dataclass(frozen=True)
class MeterSource:
    """The meter the keys select. `kind` None: load balancing uses no meter (`problem` says why, if it
    should have one)."""

    kind: str | None
    host: str | None = None
    unit: int | None = None
    model: str | None = None
    problem: str | None = None


def select_source(s: EnergySettings) -> MeterSource:
    if not s.active_lb:
        return MeterSource(None)
    if s.protocol == P1:
        if s.suspend_mode != SUSPEND_P1:
            return MeterSource(None, problem="the RJ11 port is set to the external suspend signal, not DSMR P1")
        return MeterSource(P1)
    if s.protocol == MODBUS_TCP:
        for enabled, ip, unit, model, which in (
            (s.smart_enabled, s.smart_ip, s.smart_unit, s.smart_model, "MBTCPSmart"),
            (s.central_enabled, s.central_ip, s.central_unit, s.central_model, "MBTCPCentral"),
        ):
            if enabled:
                if model == "None":
                    return MeterSource(None, problem=f"{which}-SlaveMeterModel is None")
                return MeterSource(MODBUS_TCP, host=ip, unit=unit, model=model)
        return MeterSource(None, problem="neither MBTCPSmart-IsEnabled nor MBTCPCentral-IsEnabled is true")
    return MeterSource(None, problem="Active-LoadBalancing is On but ALB-ProtocolSelection is None")


def modbus_meter_model(s: EnergySettings) -> str:
    """MBTCP*-SlaveMeterModel of the Modbus meter the keys name (Central when only it is enabled, else Smart):
    the register map of a Modbus grid meter whose board entry pins no model (hal/meter_maps.py KEY_MODELS)."""
    return s.central_model if s.central_enabled and not s.smart_enabled else s.smart_model


def _canonical_ip(text: str) -> str:
    """'192.168.000.005' (the Alfen key format) -> '192.168.0.5'; anything else unchanged."""
    parts = text.strip().split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(str(int(p)) for p in parts)
    return text.strip()


def board_serves(source: MeterSource, driver: str | None, params: Mapping[str, Any] | None = None) -> tuple[bool, str | None]:
    """Whether the board's grid meter (`driver`, `params` from the board file) is the selected meter.
    Returns (usable, note)."""
    if source.kind is None:
        return False, source.problem
    if driver is None:
        return False, "this board has no grid meter"
    kinds = DRIVER_KINDS.get(driver)
    if kinds is None:
        return True, None  # a driver this table does not know yet: trust the board file
    if source.kind not in kinds:
        return False, f"ALB-ProtocolSelection is {source.kind} but the board's grid meter is {driver!r}"
    note = None
    if source.kind == MODBUS_TCP and driver in ("sdm_tcp", "modbus_tcp") and params:
        host, unit = params.get("host"), params.get("unit")
        if host is not None and source.host and _canonical_ip(source.host) != _canonical_ip(str(host)):
            note = f"the board's grid meter is at {host}; the MBTCP IP address key ({source.host}) is not used"
        elif unit is not None and source.unit is not None and int(unit) != source.unit:
            note = f"the board's grid meter is unit {unit}; the MBTCP unit id key ({source.unit}) is not used"
    return True, note


def valid_currents(currents: Sequence[float] | None) -> tuple[float, float, float] | None:
    if currents is None or len(currents) != 3:
        return None
    try:
        vals = tuple(float(c) for c in currents)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in vals):
        return None
    return (vals[0], vals[1], vals[2])


class GridWatch:
    """House load per grid phase from the grid meter's readings, with validity and release hysteresis."""

    def __init__(self, validity_s: float = METER_VALIDITY_S, release_s: float = RELEASE_S) -> None:
        self.validity_s = validity_s
        self.release_s = release_s
        self.last_ok: float | None = None
        self.last_measured: tuple[float, float, float] | None = None
        self._house: deque[tuple[float, tuple[float, float, float]]] = deque()
        self.errors = 0

    def reset(self) -> None:
        self.last_ok = None
        self.last_measured = None
        self._house.clear()

    def update(
        self, now: float, measured: Sequence[float] | None, own_grid: Sequence[float], includes_charger: bool
    ) -> bool:
        """One reading (None: the meter could not be read). Returns whether it was valid."""
        cur = valid_currents(measured)
        if cur is None:
            self.errors += 1
            return False
        house = tuple(cur[p] - (own_grid[p] if includes_charger else 0.0) for p in range(3))
        self.last_ok = now
        self.last_measured = cur
        self._house.append((now, (house[0], house[1], house[2])))
        while len(self._house) > 1 and self._house[0][0] < now - self.release_s:
            self._house.popleft()
        return True

    def lost(self, now: float) -> bool:
        return self.last_ok is None or now - self.last_ok > self.validity_s

    def house(self, now: float) -> tuple[float, float, float] | None:
        """The house load used for the headroom: the highest of the release window; None when lost."""
        if self.lost(now) or not self._house:
            return None
        recent = [h for t, h in self._house if t >= now - self.release_s] or [self._house[-1][1]]
        return (max(h[0] for h in recent), max(h[1] for h in recent), max(h[2] for h in recent))

    def room(self, now: float, fuse_a: float) -> tuple[float, float, float] | None:
        """What the station may draw per grid phase under the fuse; None when the meter is lost."""
        house = self.house(now)
        if house is None:
            return None
        return (fuse_a - house[0], fuse_a - house[1], fuse_a - house[2])
