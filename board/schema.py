"""What a board file may contain, as data: sections, device kinds, their drivers and each driver's parameters.

Each driver declares its own parameters, once, beside its code (`Driver`, with a `Param` per parameter: type,
required, default, bounds, choices). The simulated drivers ("sim", "none") are declared here; the real drivers
declare themselves in their `hal/` modules and are registered as entry points of the group
`chargepoint.board_drivers` in pyproject.toml (name "kind.driver", value "module:DECLARATION"). This module
collects them from there, so `board/` never imports `hal/` (hal imports board), and the loader refuses every
parameter a driver does not declare: a parameter the driver would ignore is an error at load time.

Parameters whose name ends in `pin` are GPIO pins (BCM numbers) and must not be used twice on one board.
A parameter with role "serial_port" is any pyserial URL (/dev/ttyAMA0, socket://host:port, loop://); a
/dev/ttyAMA<N> port must be enabled by the board's [system] config_txt. `Driver.i2c` names the (bus, address)
parameter pairs: two devices at one address on one bus are an error.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from board.errors import BoardError

NUMBER = (int, float)
ENTRY_POINT_GROUP = "chargepoint.board_drivers"


@dataclass(frozen=True)
class Param:
    """One parameter of a driver (or of a board section)."""

    type: type | tuple[type, ...]
    required: bool = False
    default: Any = None  # what the driver uses when the board leaves it out (None: nothing / computed)
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    role: str = ""  # "serial_port": a pyserial URL whose /dev/ttyAMA<N> must be enabled by [system]
    why: str = ""  # what it is; a bound's reason (shown in errors)


def as_param(spec: Param | tuple[Any, bool]) -> Param:
    """A `Param` from a `Param` or the older `(type, required)` tuple form."""
    return spec if isinstance(spec, Param) else Param(spec[0], spec[1])


@dataclass(frozen=True)
class Driver:
    """A driver's declaration: what the board file may say about one device it drives."""

    kind: str
    name: str
    params: Mapping[str, Param] = field(default_factory=dict)
    what: str = ""
    # power-path output (contactor, lock, phase relay): claimed and driven off before any other device is built
    power_output: bool = False
    i2c: tuple[tuple[str, str], ...] = ()  # (bus parameter, address parameter) pairs
    # config.txt lines the driver needs, as (regular expression, why): checked against [system] config_txt
    config_txt: tuple[tuple[str, str], ...] = ()

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The given parameters with the declared defaults filled in (what the driver is built with)."""
        out = {k: p.default for k, p in self.params.items() if p.default is not None}
        out.update(given)
        return out


def _sim(kind: str, name: str = "sim", params: Mapping[str, Param] | None = None) -> Driver:
    return Driver(kind, name, dict(params or {}), what="simulated" if name == "sim" else "not fitted")


CONNECTOR_DEVICES = ("pilot", "contactor", "lock", "meter", "rcd")
# the proximity pilot of a socket outlet (IEC 61851-1 Annex B): required (not "none") on each connector of a
# socket board; absent (or "none") on a `fixed_cable = true` board, whose cable is rated by the board.
# phase_relay: the 1/3-phase switch relay of a three-phase socket (controller/evse/phaseswitch.py); optional.
OPTIONAL_CONNECTOR_DEVICES = ("pp", "phase_relay")
STATION_DEVICES = ("temperature", "tilt", "rfid", "leds", "grid_meter", "suspend_input")
DEVICE_KINDS = CONNECTOR_DEVICES + OPTIONAL_CONNECTOR_DEVICES + STATION_DEVICES
OPTIONAL_DEVICES = ("lock", "pp", "phase_relay", "tilt", "rfid", "leds", "grid_meter", "suspend_input")  # these may be "none"

# the settings of a phase relay that the control loop reads (every phase_relay driver declares them)
PHASE_RELAY_PARAMS: dict[str, Param] = {
    "rest_phases": Param(int, default=3, choices=(1, 3), why="the position of the de-energised relay (safe state)"),
    "settle_s": Param(
        NUMBER, default=2.0, min=0.0, max=60.0,
        why="wait after the relay moved before the offer comes back (some cars need longer than 2 s)",
    ),
}  # fmt: skip
_SIM_PARAMS: dict[str, dict[str, Param]] = {
    "contactor": {
        "feedback": Param(bool, default=True, why="the simulated contactor has a mirror contact"),
        "feedback_delay_s": Param(NUMBER, min=0.0, max=1.0, why="delay of the simulated mirror contact"),
    },
    "phase_relay": {
        **PHASE_RELAY_PARAMS,
        "feedback": Param(bool, default=True, why="the simulated relay has a feedback contact"),
        "feedback_delay_s": Param(NUMBER, min=0.0, max=1.0, why="delay of the simulated relay and its feedback"),
    },
}

# the drivers of the simulated board (hal/sim) and "none" for optional devices; real drivers are entry points
SIM_DRIVERS: dict[str, dict[str, Driver]] = {
    kind: {
        "sim": _sim(kind, params=_SIM_PARAMS.get(kind)),
        **({"none": _sim(kind, "none")} if kind in OPTIONAL_DEVICES else {}),
    }
    for kind in DEVICE_KINDS
}


@functools.cache
def _installed() -> dict[tuple[str, str], importlib.metadata.EntryPoint]:
    out: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        kind, _, name = ep.name.partition(".")
        out[(kind, name)] = ep
    return out


def driver_names(kind: str) -> list[str]:
    """Every driver a board may name for `kind`: the simulated ones and the installed real ones."""
    return sorted({*SIM_DRIVERS.get(kind, {}), *(name for k, name in _installed() if k == kind)})


def real_drivers_installed() -> bool:
    return bool(_installed())


@functools.cache
def driver(kind: str, name: str) -> Driver | None:
    """The declaration of driver `name` for device `kind`, or None when there is no such driver."""
    if name in SIM_DRIVERS.get(kind, {}):
        return SIM_DRIVERS[kind][name]
    ep = _installed().get((kind, name))
    if ep is None:
        return None
    try:
        decl = ep.load()
    except Exception as exc:  # an installed driver that cannot be imported: say which and why
        raise BoardError(f"driver {kind}.{name} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(decl, Driver) or (decl.kind, decl.name) != (kind, name):
        raise BoardError(f"entry point {kind}.{name} = {ep.value} is not the declaration of that driver")
    return decl


BOARD_KEYS: dict[str, Param] = {
    "name": Param(str, True),
    "description": Param(str),
    "connectors": Param(int, True, min=1, max=8),
    "fixed_cable": Param(bool),
}

CONNECTOR_KEYS: dict[str, Param] = {
    "id": Param(int, True),
    "max_current": Param(NUMBER, min=6, max=80),
    "phases": Param(int, choices=(1, 3)),
    "ventilation": Param(bool),  # the socket can ventilate: a car asking for state D may be energised
    **{dev: Param(dict, True) for dev in CONNECTOR_DEVICES},
    **{dev: Param(dict) for dev in OPTIONAL_CONNECTOR_DEVICES},
}

PILOT_BANDS_DEFAULT: dict[str, tuple[float, float]] = {
    "A": (10.5, 13.5),
    "B": (7.5, 10.5),
    "C": (4.5, 7.5),
    "D": (1.5, 4.5),
    "E": (-1.5, 1.5),
    "F": (-13.5, -10.5),
}

LIMITS_KEYS: dict[str, Param] = {
    "tilt_threshold_deg": Param(NUMBER, default=15.0, min=1, max=90),
    "diode_max_low_v": Param(NUMBER, default=-10.5, min=-13.5, max=-1.5),
    "temperature_hysteresis_c": Param(NUMBER, default=5.0, min=0, max=30),
}

DEFAULTS_KEYS_TYPE = (str, int, float, bool)

# [firmware]: how an UpdateFirmware image is installed. `method = "command"` (the default): `install_command`
# is an argv list (or a shell-like string) run with `{file}` replaced by the downloaded image and `{python}` by
# the running interpreter; exit status 0 means installed (the station then reboots), anything else
# InstallationFailed. `method = "ab"`: A/B slots (controller/firmware/slots.py): the image (a bundle of wheels)
# is checked and installed into a new versioned venv under `slots_dir` with `slot_install_command` ({python},
# {slot}, {bundle}, {version}; default: venv + pip from the bundle only), the `current` link is switched and the
# controller restarts; the new version must reach BootNotification Accepted with a ticking loop within
# `confirm_within_s`, and start at most `max_starts` times unconfirmed, else the previous slot is restored.
# `allow_unsigned` (development boards only): accept the plain, unsigned UpdateFirmware; without it only
# SignedUpdateFirmware.
FIRMWARE_METHODS = ("command", "ab")
FIRMWARE_KEYS: dict[str, Param] = {
    "method": Param(str, default="command", choices=FIRMWARE_METHODS),
    "install_command": Param((str, list)),
    "timeout_s": Param(NUMBER, min=1),
    "allow_unsigned": Param(bool),
    "slots_dir": Param(str, default="/opt/chargepoint/slots", why="the A/B slots' root"),
    "slot_install_command": Param((str, list), why="builds a slot from a bundle (default: venv + pip --no-index)"),
    "confirm_within_s": Param(NUMBER, default=180, min=5, max=3600, why="a new slot must confirm within this"),
    "max_starts": Param(int, default=3, min=1, max=20, why="unconfirmed starts of a new slot before rollback"),
}
AB_ONLY_KEYS = ("slots_dir", "slot_install_command", "confirm_within_s", "max_starts")

# [system]: the facts of the operating system image the board needs (board/system.py reads them; install.sh
# applies them with `chargepoint board-setup`). Required on a board with real GPIO power outputs.
SYSTEM_KEYS: dict[str, Param] = {
    # the lines /boot/firmware/config.txt must contain (overlays, UARTs, PWM, dtparam=strict_gpiod, audio off)
    "config_txt": Param(list, True),
    # what opens the contactor when no software runs (a statement, shown by `chargepoint safe-outputs`)
    "coil_watchdog": Param(str, True),
    "notes": Param(str),
}

# [journal]: the transaction journal (controller/transactions/journal.py). Above `outbox_cap_mib` of queued
# messages (default 64) the oldest periodic MeterValues are dropped; Start/Stop and signed values are kept.
JOURNAL_KEYS: dict[str, Param] = {"outbox_cap_mib": Param(NUMBER, default=64, min=0.001)}

# [modbus_slave]: the Modbus TCP slave (controller/modbus/server.py; unauthenticated, like Alfen's). `listen`:
# the address to bind (default: the --modbus-host option); `allow`: master addresses that may connect (default:
# any); `max_connections_per_peer` (default 2); `write_timeout_s`: a master that does not read its answers
# within this is dropped (default 5).
MODBUS_SLAVE_KEYS: dict[str, Param] = {
    "listen": Param(str),
    "allow": Param(list),
    "max_connections_per_peer": Param(int, default=2, min=1),
    "write_timeout_s": Param(NUMBER, default=5, min=0.01),
}

# [scn]: the Smart Charging Network (controller/scn). `role`: "coordinator" (this station drives the others)
# or "member"; `members` (coordinator only): tables { address = "host:port", phase_mapping = 0..9 (their
# sockets' SCN-PhaseMapping, default 4), max_current = A (their sockets' rating, default 32) }; `discover`:
# members announce themselves over mDNS and the coordinator finds them; `car_follow_s`: how long a car may still
# draw a lowered offer (default 6).
SCN_KEYS: dict[str, Param] = {
    "role": Param(str, True, choices=("coordinator", "member")),
    "members": Param(list),
    "discover": Param(bool, default=False),
    "car_follow_s": Param(NUMBER, default=6.0, min=0, max=60),
}
SCN_MEMBER_KEYS: dict[str, Param] = {
    "address": Param(str, True),
    "phase_mapping": Param(int, default=4, min=0, max=9),
    "max_current": Param(NUMBER, default=32.0, min=0, max=80),
}

# [mqtt]: the MQTT bridge with Home Assistant discovery (controller/mqtt/). The password is never in the board
# file: `password_file` names a file holding it (first line; keep it 0600). `tls`: connect over TLS, checking
# the broker against `ca_file` (default: the system's CAs). `command_validity_s`: how long a max current or
# pause command counts before Safe-MaxCurrent applies (default: the MbsSlaveTCPIPValidityTime key, as for a
# Modbus master). `interval_s`: how often changed state is published.
MQTT_KEYS: dict[str, Param] = {
    "enabled": Param(bool, default=False),
    "host": Param(str, default="localhost"),
    "port": Param(int, default=1883, min=1, max=65535),
    "username": Param(str),
    "password_file": Param(str),
    "tls": Param(bool, default=False),
    "ca_file": Param(str),
    "topic_prefix": Param(str, default="chargepoint"),
    "discovery_prefix": Param(str, default="homeassistant"),
    "client_id": Param(str),
    "keepalive_s": Param(int, default=30, min=5, max=3600),
    "interval_s": Param(NUMBER, default=2.0, min=0.1, max=3600),
    "command_validity_s": Param(NUMBER, min=1, max=32767),
}

# [web]: the local web interface (controller/web). `listen`: the address to bind (default all interfaces; the
# systemd unit says how to bind one); `port` (0: any free port, for simulated boards and tests);
# `status_public`: the status page may be read without logging in (on the LAN); configuration never is;
# `enabled = false`: no web interface at all.
WEB_KEYS: dict[str, Param] = {
    "enabled": Param(bool, default=True),
    "listen": Param(str, default="0.0.0.0"),
    "port": Param(int, default=8080, min=0, max=65535),
    "status_public": Param(bool, default=False),
}

# [signing_meter]: the Eichrecht (signing, OCMF) meters (hal/signing_meter.py). `driver` "sim" is the simulated
# meter (hal/sim/eichrecht.py); `connectors`: which connectors have one (default: every connector). Without this
# section the board has none and the Eichrecht keys (SignedDataEnabled, ...) cannot be switched on.
SIGNING_METER_KEYS: dict[str, Param] = {
    "driver": Param(str, True, choices=("sim",)),
    "connectors": Param(list),
}
