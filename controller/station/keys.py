"""The configuration keys the station itself owns, bound where they are used: the evse keys forwarded to the
control loop (with Station-MaxCurrent, which the loop also caps the offer with), the socket limits that
re-publish the limits, the live monitoring keys read from the mirror, and the obsolete Alfen names that a
back office may still write (applied to the keys that replaced them)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from functools import partial
from pathlib import Path

from controller.auth import authorizer, reservations
from controller.clock import Clock
from controller.config.keys import Access
from controller.config.registry import ConfigRegistry
from controller.energy import settings as energy_settings
from controller.evse.settings import EvseConfig
from controller.ocpp import aligned, outbox, security, smartcharging, statusq
from controller.ocpp import conn_settings as conn
from controller.ports import ControlPort
from controller.statefile import read_json
from controller.station import lifecycle
from controller.station.control import TILT_FILE, TILT_SHAPE
from controller.station.sockets import ConnectorView, Sockets
from controller.transactions import sessions, timers

OWNER = "station"
# keys of other owners that the control loop needs as well (it caps the offer with them within one tick)
LOOP_KEYS = frozenset({"Station-MaxCurrent"})
# obsolete name -> (replacement, value written for "true", value written for "false")
REPLACED: dict[str, tuple[str, str, str]] = {
    "OfflineAuthorise": ("LocalAuthorizeOffline", "true", "false"),
    "OnlineAuthorise": ("LocalPreAuthorize", "false", "true"),  # true = always ask the back office
}


def _actual_power_kw(v: ConnectorView) -> str:
    return f"{((v.meter or {}).get('power_w') or 0.0) / 1000:.3f}"


def _output_phases(v: ConnectorView) -> str:
    return str(sum(1 for a in v.currents if a >= 0.5))


def _input_phases(v: ConnectorView) -> str:
    return str(sum(1 for u in v.voltages if u >= 100.0))


def _phases_connected(v: ConnectorView) -> str:
    return "".join(f"L{i + 1}" for i, u in enumerate(v.voltages) if u >= 100.0)


def loop_keys(config: ConfigRegistry) -> list[str]:
    """The keys the control loop applies (forwarded over the channel)."""
    return [s.name for s in config.all_specs() if s.owner == "evse" or s.name in LOOP_KEYS]


def evse_values(config: ConfigRegistry, state_dir: Path) -> dict[str, str]:
    """Every loop key's value (and the persisted tilt calibration), for a (re)started control process."""
    out: dict[str, str] = {}
    for name in loop_keys(config):
        spec = config.spec(name)
        if spec is not None and spec.access != "W":
            out[name] = config.get(name)
    tilt = read_json(state_dir / TILT_FILE, {}, TILT_SHAPE)
    vec = tilt.get("tilt_vector") if isinstance(tilt, dict) else None
    if isinstance(vec, list) and len(vec) == 3:
        out["_TiltVector"] = ",".join(str(x) for x in vec)
    return out


def loop_refuses(name: str, value: str) -> str | None:
    """The control loop's own verdict on a value of one of its keys (its pure parser, `EvseConfig.apply`), so
    that a value the loop would ignore is Rejected where it comes in instead of Accepted and never applied."""
    if EvseConfig().apply({name: value}):
        return "the control loop cannot apply this value"
    return None


def apply_replaced(config: ConfigRegistry, name: str, value: str) -> None:
    """An obsolete key was written: write the key that replaced it."""
    target, when_true, when_false = REPLACED[name]
    config.set_internal(target, when_true if value.strip().lower() == "true" else when_false)


def bind_station_keys(
    config: ConfigRegistry,
    control: ControlPort,
    sockets: Sockets,
    publish_limits: Callable[[], None],
    nfc_version: Callable[[], str],
) -> None:
    """The keys the station's own modules apply: the control loop's (forwarded, validated by its own parser),
    the socket limits, the obsolete names and the live monitoring values."""
    evse = [s.name for s in config.all_specs() if s.name in loop_keys(config) and s.name not in LOOP_KEYS
            and s.access is not Access.R]
    config.bind("evse (control loop)", evse)
    for name in loop_keys(config):
        config.register_validator(name, partial(loop_refuses, name))
        config.subscribe(name, lambda n, v: control.send_config({n: v}))
    for name in ("Station-MaxCurrent", *(f"Connector{cid}-MaxCurrent" for cid in sockets)):
        if config.spec(name) is not None:
            config.subscribe(name, lambda *_: publish_limits())
    config.bind("station (obsolete names)", REPLACED, on_change=lambda n, v: apply_replaced(config, n, v))
    live = {"Temperature": lambda: "" if sockets.temperature_c is None else f"{sockets.temperature_c:.1f}",
            "NFC-Version1": nfc_version}
    for cid, v in sockets.items():
        live[f"Connector{cid}-ActualPower"] = partial(_actual_power_kw, v)
        live[f"Connector{cid}-OutputPhases"] = partial(_output_phases, v)
        live[f"Connector{cid}-InputPhases"] = partial(_input_phases, v)
        live[f"Connector{cid}-PhasesConnected"] = partial(_phases_connected, v)
    for name, provider in live.items():
        if config.spec(name) is not None:
            config.bind("station (live values)", [name], live=provider)


def bind_owners(config: ConfigRegistry, owners: dict[str, Iterable[str]]) -> None:
    """Bind the keys each service declares it applies where it uses them (its module's CONFIG_KEYS)."""
    for owner, names in owners.items():
        config.bind(owner, [n for n in names if config.spec(n) is not None])


def bind_service_keys(
    config: ConfigRegistry,
    state_dir: Path,
    clock: Clock,
    heartbeat_changed: Callable[[], None],
    meter_schedule_changed: Callable[[str, str], None],
    phase_relays: Collection[int] = (),
) -> None:
    """Bind every service's keys to it: those it reads where it uses them (its CONFIG_KEYS) and those it must
    hear about at once (the link's heartbeat, the meter value schedule) or validates (SecurityProfile).
    `phase_relays`: the sockets with a 1/3-phase relay (energy management switches them during a session)."""
    config.bind("ocpp.link", conn.HEARTBEAT_KEYS, on_change=lambda *_: heartbeat_changed())
    conn.register_validators(config, state_dir, clock)  # SecurityProfile and BackOffice URL rules
    config.bind("ocpp.meter_values", aligned.SCHEDULE_KEYS, on_change=meter_schedule_changed)
    bind_owners(config, {
        "ocpp.link": conn.KEYS, "ocpp.meter_values": aligned.CONFIG_KEYS, "ocpp.outbox": outbox.CONFIG_KEYS,
        "ocpp.status": statusq.CONFIG_KEYS, "ocpp.smartcharging": smartcharging.CONFIG_KEYS,
        "ocpp.security": security.CONFIG_KEYS, "auth": authorizer.CONFIG_KEYS,
        "auth.reservations": reservations.CONFIG_KEYS, "transactions.sessions": sessions.CONFIG_KEYS,
        "transactions.timers": timers.CONFIG_KEYS, "station.lifecycle": lifecycle.CONFIG_KEYS,
        "energy": (*energy_settings.KEYS, "Station-MaxCurrent"), "modbus": ("MbsSlaveTCPIP", "SCN-NetworkName"),
    })
    supported = "true" if phase_relays else "false"
    config.bind("energy", ["ConnectorSwitch3to1PhaseSupported"], live=lambda: supported)
