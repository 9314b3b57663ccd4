"""Builds the devices a board file names: the power-path devices for the control process and the station
devices (RFID, LEDs, grid meter) for the main process; parks the outputs of a board (`chargepoint
safe-outputs`). Real drivers are found by name through their declarations (hal/real_drivers.py).

Order of a real build: the power-path outputs (contactor, lock, phase relay: `Driver.power_output`) of every
socket are claimed and driven off first; then, on a board whose [system] states dtparam=strict_gpiod, the
kernel is checked to return released outputs to inputs (UnsafeSystem otherwise); only then everything else.
Any failure closes what was built (outputs off, pins released), so a restart that fails on the ADC still
leaves the coils off.

A simulated board's power path is either an in-process `SimWorld` (the tests that step the loop themselves)
or, in a running station, drivers on the plant's register file (`hal.sim.wired` over a `SimBus`): the world
then lives in the plant process and outlives the control process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from board.loader import Board, DeviceSpec
from hal.interfaces import (
    ConnectorLock,
    Contactor,
    ControlPilot,
    EnergyMeter,
    ExternalSuspendInput,
    PhaseRelay,
    ProtectiveEarthMonitor,
    ProximityPilot,
    ResidualCurrentMonitor,
    RfidReader,
    TemperatureSensor,
    TiltSensor,
)
from hal.real_drivers import SYSFS_PWM_ROOT, BuildContext, build, close_all, declaration, park
from hal.sim import wired
from hal.sim.bus import SimBus
from hal.sim.devices import SimGridMeter, SimLeds, SimRfid
from hal.sim.world import SimWorld, build_sim_world


class NoLock:
    """A fixed cable: nothing to lock."""

    def set_locked(self, locked: bool) -> None:
        pass

    def feedback_locked(self) -> bool | None:
        return None

    def to_safe_state(self) -> None:
        pass


@dataclass
class SocketDevices:
    pilot: ControlPilot
    contactor: Contactor
    lock: ConnectorLock
    meter: EnergyMeter
    rcd: ResidualCurrentMonitor
    pp: ProximityPilot | None = None  # a socket outlet's proximity pilot; None: a fixed cable
    phase_relay: PhaseRelay | None = None  # the 1/3-phase switch relay; None: the socket has none


@dataclass
class PowerPath:
    sockets: dict[int, SocketDevices]
    temperature: TemperatureSensor
    tilt: TiltSensor | None
    suspend: ExternalSuspendInput | None
    world: SimWorld | None  # the in-process simulated world (None on a real board and on the plant's bus)
    real_devices: list[Any] = field(default_factory=list)
    pe: ProtectiveEarthMonitor | None = None
    heartbeat: wired.Heartbeat | None = None  # the control process's tick counter on the plant's bus

    def all_outputs(self) -> list[Any]:
        out: list[Any] = []
        for s in self.sockets.values():
            out.extend([s.contactor, s.pilot, s.lock])
        return out

    def close(self) -> None:
        """Stops the real drivers' threads and releases their pins (outputs go to their safe state first)."""
        close_all(self.real_devices)


def _real(spec: DeviceSpec, ctx: BuildContext, made: list[Any], name: str = "") -> Any:
    dev = build(spec.kind, spec, ctx, name)
    made.append(dev)
    return dev


def _uses_gpiozero(board: Board, kinds: tuple[str, ...] | None = None) -> bool:
    return any(spec.driver == "gpiozero" and (kinds is None or spec.kind in kinds) for _, spec in board.devices())


def _context(board: Board, role: str, ctx: BuildContext | None, **kw: Any) -> BuildContext:
    ctx = ctx or BuildContext(**kw)
    if ctx.pin_factory is None and _uses_gpiozero(board):
        from hal.gpio import use_lgpio_workdir

        use_lgpio_workdir(role)
    return ctx


def build_power_path(
    board: Board,
    now: Callable[[], float],
    pin_factory: Any = None,
    smbus: Callable[[int], Any] | None = None,
    sysfs_root: str = SYSFS_PWM_ROOT,
    hardware: BuildContext | None = None,
    bus: SimBus | None = None,
) -> PowerPath:
    """The devices the control process owns. A simulated board gets one SimWorld shared by its devices, or
    with `bus` the drivers on the plant's register file.
    `pin_factory` (gpiozero), `smbus` (bus number -> SMBus-like object) and `sysfs_root` (PWM class dir)
    default to the real hardware; tests pass MockFactory, fake chips and a temporary directory, or a whole
    `hardware` context (fake sysfs, fake /proc and /sys)."""
    ctx = _context(board, "control", hardware, pin_factory=pin_factory, smbus=smbus, sysfs_root=sysfs_root)
    ctx.now = now
    made: list[Any] = []
    try:
        power = _build_power_path(board, now, ctx, made, bus)
    except BaseException:
        close_all([*made, *ctx.buses.values()])  # no half-built board keeps threads, pins or buses
        raise
    power.real_devices.extend(ctx.buses.values())  # closed after the chips on them
    return power


def _claim_power_outputs(board: Board, ctx: BuildContext, made: list[Any]) -> dict[tuple[int, str], Any]:
    """Build the real power-path outputs of every socket first (each starts off), then check the kernel."""
    outputs: dict[tuple[int, str], Any] = {}
    for c in board.connectors:
        for kind, spec in c.devices.items():
            if spec.driver not in ("sim", "none") and declaration(spec).power_output:
                outputs[(c.id, kind)] = _real(spec, ctx, made, f"connector {c.id} {kind}")
    if outputs and board.system is not None and board.system.strict_gpiod:
        from hal.gpio import check_released_outputs_return_to_inputs

        check_released_outputs_return_to_inputs(ctx.system_root)
    return outputs


def _wired_device(kind: str, cid: int, bus: SimBus, coil: wired.CoilWriter, spec: DeviceSpec) -> Any:
    if kind == "pilot":
        return wired.WiredPilot(coil, bus, cid)
    if kind == "contactor":
        return wired.WiredContactor(coil, bus, cid)
    if kind == "lock":
        return wired.WiredLock(coil, bus, cid)
    if kind == "meter":
        return wired.WiredMeter(bus, cid)
    if kind == "rcd":
        return wired.WiredRcd(coil, bus, cid)
    if kind == "pp":
        return wired.WiredProximity(bus, cid)
    if kind == "phase_relay":
        return wired.WiredPhaseRelay(coil, bus, cid, int(spec.params.get("rest_phases", 3)))
    raise ValueError(f"no simulated {kind}")


def _build_power_path(
    board: Board, now: Callable[[], float], ctx: BuildContext, made: list[Any], bus: SimBus | None
) -> PowerPath:
    first = _claim_power_outputs(board, ctx, made)
    simulated = any(d.driver == "sim" for c in board.connectors for d in c.devices.values()) or any(
        board.station[k].driver == "sim" for k in ("temperature", "tilt", "suspend_input")
    )
    world = build_sim_world(board, now) if simulated and bus is None else None
    station_wires = wired.WiredStation(bus) if bus is not None else None
    sockets: dict[int, SocketDevices] = {}
    for c in board.connectors:
        devs: dict[str, Any] = {}
        coil = wired.CoilWriter(bus, c.id, now) if bus is not None else None
        for kind, spec in c.devices.items():
            if spec.driver == "sim":
                if bus is not None and coil is not None:
                    devs[kind] = _wired_device(kind, c.id, bus, coil, spec)
                else:
                    assert world is not None
                    devs[kind] = getattr(world.sockets[c.id], kind)
            elif spec.driver == "none":
                devs[kind] = None if kind in ("pp", "phase_relay") else NoLock()
            elif (c.id, kind) in first:
                devs[kind] = first[(c.id, kind)]
            else:  # a real driver (the loader only lets through declared drivers)
                devs[kind] = _real(spec, ctx, made, f"connector {c.id} {kind}")
        sockets[c.id] = SocketDevices(**devs)
    st = board.station

    def station_device(kind: str, sim: Any) -> Any:
        driver = st[kind].driver
        if driver == "sim":
            return sim
        if driver == "none":
            return None
        return _real(st[kind], ctx, made)

    temperature: Any = station_device("temperature", world.temperature if world else station_wires)
    if temperature is None:
        raise ValueError("a temperature sensor is required")
    tilt: Any = station_device("tilt", world.tilt if world else station_wires)
    suspend: Any = station_device("suspend_input", world.suspend if world else station_wires)
    pe: Any = world.pe if world else station_wires
    return PowerPath(
        sockets=sockets,
        temperature=temperature,
        tilt=tilt,
        suspend=suspend,
        world=world,
        real_devices=made,
        pe=pe,
        heartbeat=wired.Heartbeat(bus) if bus is not None else None,
    )


@dataclass
class StationDevices:
    rfid: RfidReader | None
    leds: Any
    grid_meter: EnergyMeter | None
    real_devices: list[Any] = field(default_factory=list)

    def close(self) -> None:
        close_all(self.real_devices)


def build_station_devices(
    board: Board,
    now: Callable[[], float],
    socket_currents: Callable[[], list[tuple[float, float, float]]],
    pin_factory: Any = None,
    hardware: BuildContext | None = None,
    meter_model: Callable[[], str] | None = None,
) -> StationDevices:
    """The devices the main process owns (not on the power path). `pin_factory`: gpiozero's, for tests;
    `hardware`: a whole context (fake /proc for the serial console check). `meter_model`: the key's grid
    meter model, followed by a Modbus grid meter whose board entry pins none."""
    st = board.station
    ctx = _context(board, "main", hardware, pin_factory=pin_factory)
    ctx.now = now
    ctx.meter_model = meter_model
    made: list[Any] = []

    def device(kind: str, sim: Callable[[], Any]) -> Any:
        driver = st[kind].driver
        if driver == "sim":
            return sim()
        if driver == "none":
            return None
        return _real(st[kind], ctx, made)

    try:
        rfid = device("rfid", SimRfid)
        leds = device("leds", lambda: SimLeds(now))
        grid = device("grid_meter", lambda: SimGridMeter(socket_currents))
    except BaseException:
        close_all(made)
        raise
    return StationDevices(rfid=rfid, leds=leds, grid_meter=grid, real_devices=made)


@dataclass
class ParkReport:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def park_outputs(board: Board, hardware: BuildContext | None = None) -> ParkReport:
    """Drive every output of the board to its safe state from a fresh process (`chargepoint safe-outputs`, the
    unit's ExecStopPost: after any exit, crash included). Power-path outputs first (coils off), then the
    pilot PWM to the board's `on_exit` state, then the rest; every device gets its turn even when one fails.
    On a simulated board the devices of a fresh simulated world are put in their safe state."""
    report = ParkReport()
    if board.is_simulated and all(spec.driver in ("sim", "none") for _, spec in board.devices()):
        power = build_power_path(board, time.monotonic)
        for cid, s in power.sockets.items():
            for kind in ("contactor", "pilot", "lock"):
                getattr(s, kind).to_safe_state()
                report.done.append(f"connector {cid} {kind}: simulated, safe state")
        power.close()
        return report
    ctx = _context(board, "park", hardware)
    devices = [(name, spec) for name, spec in board.devices() if spec.driver not in ("sim", "none")]
    devices.sort(key=lambda d: (not declaration(d[1]).power_output, d[1].kind != "pilot"))
    for name, spec in devices:
        try:
            done = park(spec, ctx)
        except Exception as exc:  # noqa: BLE001 - every output gets its turn; the failure is reported
            report.failed.append(f"{name} ({spec.where}): {type(exc).__name__}: {exc}")
            continue
        if done is not None:
            report.done.append(f"{name}: {done}")
    return report
