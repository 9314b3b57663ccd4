"""The energy-owned configuration keys, read into one typed snapshot (`EnergySettings.read(config)`).

Read fresh for every allocation (a handful of dictionary look-ups), so a ChangeConfiguration acts on the next
allocation without any caching to get wrong. Each field names its key in `FIELDS`; its default, range and
options come from the key table (`controller.config.keys`), the one place they are declared. A value that
cannot be parsed or lies outside the key's range (only a corrupt store can hold one: the registry validates
every write) falls back to the key's default.

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
  `MbsSlaveTCPIPValidityTime` (s): a setpoint counts for this long after its last write. In SCN mode, once
  the station setpoints ran out (the coordinator is lost), each socket is also held to `SCN-SocketSafeCurrent`
  (the coordinator counts it there: `controller.scn`).
- `SmartChargingMode`: the OCPP 1.5 smart charging mode. This station speaks OCPP 1.6J, where smart charging
  is the SmartCharging feature profile, so the value is stored and has no effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

from controller.config.keys import KEYS as KEY_TABLE
from controller.config.keys import KeySpec
from controller.energy.phases import parse_phase_connected

SUSPEND_P1 = "DSMR P1"
SUSPEND_WHEN_CLOSED = "Suspend when an external circuit is closed"
SUSPEND_WHEN_OPENED = "Suspend when an external circuit is opened"

_SPECS: dict[str, KeySpec] = {k.name: k for k in KEY_TABLE}


class KeyValues(Protocol):
    """What the settings read from the configuration: a key's value as OCPP holds it (KeyError: unknown)."""

    def get(self, name: str) -> str: ...


def _in_range(spec: KeySpec, number: float) -> bool:
    return (
        math.isfinite(number)
        and (spec.minimum is None or number >= spec.minimum)
        and (spec.maximum is None or number <= spec.maximum)
    )


def _as_bool(spec: KeySpec, text: str) -> bool | None:
    v = text.strip().lower()
    return True if v in ("true", "on") else False if v in ("false", "off") else None


def _as_float(spec: KeySpec, text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if _in_range(spec, number) else None


def _as_int(spec: KeySpec, text: str) -> int | None:
    number = _as_float(spec, text)
    return int(number) if number is not None and number == int(number) else None


def _as_text(spec: KeySpec, text: str) -> str | None:
    if not spec.options:
        return text.strip()
    return next((o for o in spec.options if o.lower() == text.strip().lower()), None)


def _as_phases(spec: KeySpec, text: str) -> tuple[int, ...] | None:
    return parse_phase_connected(text)


def _as_phase_count(spec: KeySpec, text: str) -> int | None:
    choice = _as_text(spec, text)
    return None if choice is None else int(choice)


Parser = Callable[[KeySpec, str], Any]

#: field of EnergySettings -> (its key, how its value is read)
FIELDS: dict[str, tuple[str, Parser]] = {
    "static_lb": ("Static-LoadBalancing", _as_bool),
    "active_lb": ("Active-LoadBalancing", _as_bool),
    "protocol": ("ALB-ProtocolSelection", _as_text),
    "suspend_mode": ("DirectExternalSuspendSignal", _as_text),
    "station_max_a": ("Station-MaxCurrent", _as_float),
    "fuse_a": ("SmartMeter-MaxCurrent", _as_float),
    "includes_charger": ("SmartMeterIncludesCharger", _as_bool),
    "safe_a": ("Safe-MaxCurrent", _as_float),
    "connected": ("Phase-Connected", _as_phases),
    "max_imbalance_a": ("MaxImbalanceCurrent", _as_float),
    "max_allowed_phases": ("MaxAllowedPhases", _as_phase_count),
    "phase_switching": ("EnablePhaseSwitching", _as_bool),
    "mbs_enabled": ("MbsSlaveTCPIP", _as_bool),
    "mbs_mode": ("MbsSlaveTCPIPMode", _as_text),
    "mbs_validity_s": ("MbsSlaveTCPIPValidityTime", _as_int),
    "scn_socket_safe_a": ("SCN-SocketSafeCurrent", _as_float),
    "smart_enabled": ("MBTCPSmart-IsEnabled", _as_bool),
    "smart_ip": ("MBTCPSmart-IPAddress", _as_text),
    "smart_unit": ("MBTCPSmart-SlaveUnitID", _as_int),
    "smart_model": ("MBTCPSmart-SlaveMeterModel", _as_text),
    "central_enabled": ("MBTCPCentral-IsEnabled", _as_bool),
    "central_ip": ("MBTCPCentral-IPAddress", _as_text),
    "central_unit": ("MBTCPCentral-SlaveUnitID", _as_int),
    "central_model": ("MBTCPCentral-SlaveMeterModel", _as_text),
}


def key_default(field_name: str) -> Any:
    """The key table's default of a field, parsed like any value."""
    key, parse = FIELDS[field_name]
    spec = _SPECS[key]
    value = parse(spec, spec.default)
    if value is None:
        raise ValueError(f"the key table's default of {key} ({spec.default!r}) is not a valid value")
    return value


def read_field(config: KeyValues, field_name: str) -> Any:
    """A field's value from the configuration; the key's default when missing, unparsable or out of range."""
    key, parse = FIELDS[field_name]
    try:
        value = parse(_SPECS[key], str(config.get(key)))
    except KeyError:
        value = None
    return key_default(field_name) if value is None else value


@dataclass(frozen=True)
class EnergySettings:
    static_lb: bool = key_default("static_lb")
    active_lb: bool = key_default("active_lb")
    protocol: str = key_default("protocol")
    suspend_mode: str = key_default("suspend_mode")
    station_max_a: float = key_default("station_max_a")
    fuse_a: float = key_default("fuse_a")
    includes_charger: bool = key_default("includes_charger")
    safe_a: float = key_default("safe_a")
    connected: tuple[int, ...] = key_default("connected")
    max_imbalance_a: float = key_default("max_imbalance_a")
    max_allowed_phases: int = key_default("max_allowed_phases")
    phase_switching: bool = key_default("phase_switching")
    mbs_enabled: bool = key_default("mbs_enabled")
    mbs_mode: str = key_default("mbs_mode")
    mbs_validity_s: float = key_default("mbs_validity_s")
    scn_socket_safe_a: float = key_default("scn_socket_safe_a")
    smart_enabled: bool = key_default("smart_enabled")
    smart_ip: str = key_default("smart_ip")
    smart_unit: int = key_default("smart_unit")
    smart_model: str = key_default("smart_model")
    central_enabled: bool = key_default("central_enabled")
    central_ip: str = key_default("central_ip")
    central_unit: int = key_default("central_unit")
    central_model: str = key_default("central_model")

    @staticmethod
    def read(config: KeyValues) -> EnergySettings:
        return EnergySettings(**{f.name: read_field(config, f.name) for f in fields(EnergySettings)})

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
