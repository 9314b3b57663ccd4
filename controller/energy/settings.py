"""The energy-owned configuration keys, read into one typed snapshot (`EnergySettings.read(config)`).

Read fresh for every allocation (a handful of dictionary look-ups), so a ChangeConfiguration acts on the next
allocation without any caching to get wrong. A value that cannot be parsed (only a corrupt store can hold
one: the registry validates every write) falls back to the key's documented default.

What each key means here (the Alfen key list is the authority):
- `Static-LoadBalancing` On: the sockets share Station-MaxCurrent by what their cars really draw (a car that
  takes less than its offer leaves the rest to the other socket). Off: a plain fair split of
  Station-MaxCurrent between charging sockets, whatever they draw. Station-MaxCurrent is never exceeded
  either way (and the control loop checks it again).
- `Active-LoadBalancing` On: the grid meter limits the offer to the headroom under `SmartMeter-MaxCurrent`
  on every grid phase. The meter is the one `ALB-ProtocolSelection` names (see `controller.energy.meter`).
- `SmartMeterIncludesCharger`: the meter also measures the station; its own current is subtracted first.
- `Safe-MaxCurrent`: what the whole station may draw per phase once the meter has been lost for the meter
  validity time (and what a socket falls back to when a Modbus setpoint expires).
- `Phase-Connected`, `MaxAllowedPhases`, `EnablePhaseSwitching`: see `controller.energy.phases`.
- `MaxImbalanceCurrent` (A, 0 = off): the largest difference between the most and the least loaded grid phase
  the station's own draw may cause.
- `DirectExternalSuspendSignal`: what the RJ11 port is for (see `controller.energy.suspend`).
- `MbsSlaveTCPIP` On: the Modbus TCP slave runs; the value at start-up counts (reboot required, see
  `EnergyManager.modbus_enabled`). `MbsSlaveTCPIPMode` Socket: the per-socket
  setpoints (unit 1/2 register 1210) limit the sockets; SCN: the station setpoints (unit 200 registers
  1417..1421) limit the station per phase; Off: setpoints are read back but not used.
  `MbsSlaveTCPIPValidityTime` (s): a setpoint counts for this long after its last write.
- `SmartChargingMode`: the OCPP 1.5 smart charging mode. This station speaks OCPP 1.6J, where smart charging
  is the SmartCharging feature profile, so the value is stored and has no effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.energy.phases import parse_phase_connected

SUSPEND_P1 = "DSMR P1"
SUSPEND_WHEN_CLOSED = "Suspend when an external circuit is closed"
SUSPEND_WHEN_OPENED = "Suspend when an external circuit is opened"


def _get(config: Any, key: str, default: str) -> str:
    try:
        return str(config.get(key))
    except KeyError:
        return default


def _float(config: Any, key: str, default: float) -> float:
    try:
        return float(config.get_float(key))
    except (KeyError, ValueError):
        return default


def _int(config: Any, key: str, default: int) -> int:
    try:
        return int(config.get_int(key))
    except (KeyError, ValueError):
        return default


def _bool(config: Any, key: str, default: bool) -> bool:
    try:
        return bool(config.get_bool(key))
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True)
class EnergySettings:
    static_lb: bool = False
    active_lb: bool = False
    protocol: str = "None"
    suspend_mode: str = SUSPEND_P1
    station_max_a: float = 32.0
    fuse_a: float = 25.0
    includes_charger: bool = True
    safe_a: float = 6.0
    connected: tuple[int, ...] = (0, 1, 2)
    max_imbalance_a: float = 0.0
    max_allowed_phases: int = 3
    phase_switching: bool = False
    mbs_enabled: bool = False
    mbs_mode: str = "Socket"
    mbs_validity_s: float = 60.0
    smart_enabled: bool = False
    smart_ip: str = ""
    smart_unit: int = 5
    smart_model: str = "Socomec"
    central_enabled: bool = False
    central_ip: str = ""
    central_unit: int = 5
    central_model: str = "Socomec"

    @staticmethod
    def read(config: Any) -> EnergySettings:
        d = EnergySettings()
        phases = _get(config, "MaxAllowedPhases", "3").strip()
        return EnergySettings(
            static_lb=_bool(config, "Static-LoadBalancing", d.static_lb),
            active_lb=_bool(config, "Active-LoadBalancing", d.active_lb),
            protocol=_get(config, "ALB-ProtocolSelection", d.protocol),
            suspend_mode=_get(config, "DirectExternalSuspendSignal", d.suspend_mode),
            station_max_a=_float(config, "Station-MaxCurrent", d.station_max_a),
            fuse_a=_float(config, "SmartMeter-MaxCurrent", d.fuse_a),
            includes_charger=_bool(config, "SmartMeterIncludesCharger", d.includes_charger),
            safe_a=_float(config, "Safe-MaxCurrent", d.safe_a),
            connected=parse_phase_connected(_get(config, "Phase-Connected", "L1L2L3")),
            max_imbalance_a=_float(config, "MaxImbalanceCurrent", d.max_imbalance_a),
            max_allowed_phases=1 if phases == "1" else 3,
            phase_switching=_bool(config, "EnablePhaseSwitching", d.phase_switching),
            mbs_enabled=_bool(config, "MbsSlaveTCPIP", d.mbs_enabled),
            mbs_mode=_get(config, "MbsSlaveTCPIPMode", d.mbs_mode),
            mbs_validity_s=float(_int(config, "MbsSlaveTCPIPValidityTime", int(d.mbs_validity_s))),
            smart_enabled=_bool(config, "MBTCPSmart-IsEnabled", d.smart_enabled),
            smart_ip=_get(config, "MBTCPSmart-IPAddress", d.smart_ip),
            smart_unit=_int(config, "MBTCPSmart-SlaveUnitID", d.smart_unit),
            smart_model=_get(config, "MBTCPSmart-SlaveMeterModel", d.smart_model),
            central_enabled=_bool(config, "MBTCPCentral-IsEnabled", d.central_enabled),
            central_ip=_get(config, "MBTCPCentral-IPAddress", d.central_ip),
            central_unit=_int(config, "MBTCPCentral-SlaveUnitID", d.central_unit),
            central_model=_get(config, "MBTCPCentral-SlaveMeterModel", d.central_model),
        )

    @property
    def imbalance_limit(self) -> float | None:
        return self.max_imbalance_a if self.max_imbalance_a > 0 else None


#: The keys whose change should re-run the allocation at once.
KEYS = (
    "Static-LoadBalancing",
    "Active-LoadBalancing",
    "ALB-ProtocolSelection",
    "DirectExternalSuspendSignal",
    "SmartMeter-MaxCurrent",
    "SmartMeterIncludesCharger",
    "Safe-MaxCurrent",
    "Phase-Connected",
    "MaxImbalanceCurrent",
    "MaxAllowedPhases",
    "EnablePhaseSwitching",
    "MbsSlaveTCPIPMode",
    "MbsSlaveTCPIPValidityTime",
    "MBTCPSmart-IsEnabled",
    "MBTCPSmart-SlaveMeterModel",
    "MBTCPCentral-IsEnabled",
    "MBTCPCentral-SlaveMeterModel",
)
