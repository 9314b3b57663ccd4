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

When a reading is new, and what the station drew when it was measured:
- A meter that pushes readings (a DSMR 4 P1 port sends a telegram every 10 s, DSMR 5 every second; the Modbus
  meters are polled by a thread) serves its last reading from memory (`hal.polling.Latest`) until the next
  one arrives. A reading is new only when the object the meter returns is a new one; the same object again is
  the same telegram, never measured again with the station's current of now. A new reading was measured
  after the previous poll and before this one (`Arrival`).
- The station's own current is known from the socket meters' samples (`note_own`, kept for a short while).
  A sample reflects the socket meter as it was up to `skew_s` before it arrived (the socket meter's poll and
  the control loop's sample interval). So the station's current at the instant the grid meter measured lies
  between the samples in effect from the earliest instant the reading may have been measured to `skew_s`
  after the latest one. A reading is used once that window has passed (`skew_s` after it arrived):
  - every sample of the window agrees (within `steady_tol_a`): the house load is exact (the reading minus
    the smallest of them, the safe side);
  - the station's current changed in the window (a car started, followed a new offer, stopped): the grid
    meter cannot tell the car's step from a step of the house. The part of a rise that is certain (the
    reading minus the highest of them) counts at once, and the reading is `uncertain`: the energy manager
    raises no offer until a reading taken while the station's current held still says how much room
    there is. (A safe guess on the high side would pause a starting car every time the meter measured
    during its ramp; on the low side it could let the grid over the fuse until the next reading.)
- A meter that measures when it is read (the simulator's, computed from the same samples) has `skew_s` 0:
  its reading is new at every poll and exact at once.
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
# How old a socket meter's sample may be when it arrives: the socket meter is polled every second and the
# control loop sends its samples every second, plus half a second of slack.
OWN_SAMPLE_SKEW_S = 2.5
STEADY_TOL_A = 1.0  # the station's current "held still" while a reading was measured (cars draw a little unevenly)
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


@dataclass(frozen=True)
class MeterTiming:
    """How a grid meter's readings relate in time to the station's own samples.

    `measured_when_read`: the meter measures when it is read (every read is a new reading, taken now);
    otherwise it serves its last telegram/poll until the next one arrives. `own_skew_s`: how long after the
    grid meter measured the socket samples may still show the station's current of that instant."""

    measured_when_read: bool
    own_skew_s: float


def timing_of(driver: str | None) -> MeterTiming:
    """The simulator's grid meter adds the house load to the very samples the manager has (exact, at once);
    a real meter pushes readings and the socket samples lag by up to `OWN_SAMPLE_SKEW_S`."""
    if driver == "sim":
        return MeterTiming(measured_when_read=True, own_skew_s=0.0)
    return MeterTiming(measured_when_read=False, own_skew_s=OWN_SAMPLE_SKEW_S)


@dataclass(frozen=True)
class Arrival:
    """When a reading was measured: some instant in [earliest, latest]."""

    earliest: float
    latest: float


@dataclass(frozen=True)
class _Reading:
    at: Arrival
    measured: tuple[float, float, float]
    includes_charger: bool


@dataclass(frozen=True)
class HouseEstimate:
    """The house load one reading shows: `load` per grid phase; `uncertain` when the station's own current
    changed while it was measured (then `load` is the part of a rise that is certain)."""

    load: tuple[float, float, float]
    uncertain: bool


class GridWatch:
    """House load per grid phase from the grid meter's readings, with validity, release hysteresis and the
    station's own current as it was when each reading was measured."""

    def __init__(
        self,
        validity_s: float = METER_VALIDITY_S,
        release_s: float = RELEASE_S,
        skew_s: float = 0.0,
        steady_tol_a: float = STEADY_TOL_A,
    ) -> None:
        self.validity_s = validity_s
        self.release_s = release_s
        self.skew_s = skew_s
        self.steady_tol_a = steady_tol_a
        self.last_ok: float | None = None
        self.last_measured: tuple[float, float, float] | None = None
        self._readings: deque[_Reading] = deque()  # valid readings, oldest first
        self._own: deque[tuple[float, tuple[float, float, float]]] = deque()  # (noted at, own per grid phase)
        self._house: deque[tuple[float, tuple[float, float, float]]] = deque()  # (used at, house load)
        self._used = 0  # readings (from the front of `_readings`) already moved into `_house`
        self.uncertain = False
        self.errors = 0

    def reset(self) -> None:
        self.last_ok = None
        self.last_measured = None
        self._readings.clear()
        self._house.clear()
        self._used = 0
        self.uncertain = False

    # -- inputs ------------------------------------------------------------------------------------------------
    def note_own(self, now: float, own_grid: Sequence[float]) -> None:
        """The station's own current per grid phase, as the socket meters' samples show it at `now`."""
        own = (float(own_grid[0]), float(own_grid[1]), float(own_grid[2]))
        if self._own and self._own[-1][1] == own:
            return
        if self._own and self._own[-1][0] == now:
            self._own.pop()
        self._own.append((now, own))
        keep = now - self.validity_s - self.release_s - 2 * self.skew_s - 1.0
        while len(self._own) > 1 and self._own[1][0] <= keep:
            self._own.popleft()

    def update(
        self, now: float, measured: Sequence[float] | None, includes_charger: bool, at: Arrival | None = None
    ) -> bool:
        """One new reading (None: the meter could not be read), measured within `at` (default: now). Returns
        whether it was valid."""
        cur = valid_currents(measured)
        if cur is None:
            self.errors += 1
            return False
        at = at or Arrival(now, now)
        self.last_ok = at.latest
        self.last_measured = cur
        self._readings.append(_Reading(at, cur, includes_charger))
        self._settle(now)
        return True

    # -- the estimate ------------------------------------------------------------------------------------------
    def _own_between(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        """The own currents in effect at t0 and every one noted up to t1."""
        found: list[tuple[float, float, float]] = []
        for t, own in self._own:
            if t <= t0:
                found = [own]
            elif t <= t1:
                found.append(own)
            else:
                break
        return found or [(0.0, 0.0, 0.0)]

    def estimate(self, r: _Reading) -> HouseEstimate:
        if not r.includes_charger:
            return HouseEstimate(r.measured, False)
        seen = self._own_between(r.at.earliest, r.at.latest + self.skew_s)
        low = [min(o[p] for o in seen) for p in range(3)]
        high = [max(o[p] for o in seen) for p in range(3)]
        uncertain = any(high[p] - low[p] > self.steady_tol_a for p in range(3))
        own = high if uncertain else low
        m = r.measured
        return HouseEstimate((m[0] - own[0], m[1] - own[1], m[2] - own[2]), uncertain)

    def _settle(self, now: float) -> None:
        """Use every reading whose own-current window has passed."""
        while self._used < len(self._readings):
            r = self._readings[self._used]
            if now < r.at.latest + self.skew_s:
                break
            est = self.estimate(r)
            self._house.append((now, est.load))  # the release window counts from when it is used
            self.uncertain = est.uncertain
            self._used += 1
        while self._used > 1:
            self._readings.popleft()
            self._used -= 1
        while len(self._house) > 1 and self._house[0][0] < now - self.release_s - self.validity_s:
            self._house.popleft()

    def lost(self, now: float) -> bool:
        """No valid reading arrived within the validity time."""
        return self.last_ok is None or now - self.last_ok > self.validity_s

    def house(self, now: float) -> tuple[float, float, float] | None:
        """The house load used for the headroom: the highest of the release window; None when lost (or before
        the first reading could be used)."""
        self._settle(now)
        if self.lost(now) or not self._house or self._house[-1][0] < now - self.validity_s:
            return None
        latest = self._house[-1][0]
        recent = [h for t, h in self._house if t >= min(latest, now - self.release_s)]
        return (max(h[0] for h in recent), max(h[1] for h in recent), max(h[2] for h in recent))

    def room(self, now: float, fuse_a: float) -> tuple[float, float, float] | None:
        """What the station may draw per grid phase under the fuse; None when the meter is lost."""
        house = self.house(now)
        if house is None:
            return None
        return (fuse_a - house[0], fuse_a - house[1], fuse_a - house[2])
