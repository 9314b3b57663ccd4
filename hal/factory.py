"""Builds the devices a board file names: the power-path devices for the control process and the station
devices (RFID, LEDs, grid meter) for the main process. The one place that maps driver names to classes.

A simulated board's power path is either an in-process `SimWorld` (the tests that step the loop themselves)
or, in a running station, drivers on the plant's register file (`hal.sim.wired` over a `SimBus`): the world
then lives in the plant process and outlives the control process."""

from __future__ import annotations

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
    ProtectiveEarthMonitor,
    ProximityPilot,
    ResidualCurrentMonitor,
    RfidReader,
    TemperatureSensor,
    TiltSensor,
)
from hal.real_drivers import SYSFS_PWM_ROOT, BuildContext, build, close_all
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


def build_power_path(
    board: Board,
    now: Callable[[], float],
    pin_factory: Any = None,
    smbus: Callable[[int], Any] | None = None,
    sysfs_root: str = SYSFS_PWM_ROOT,
    bus: SimBus | None = None,
) -> PowerPath:
    """The devices the control process owns. A simulated board gets one SimWorld shared by its devices, or
    with `bus` the drivers on the plant's register file. `pin_factory` (gpiozero), `smbus` (bus number ->
    SMBus-like object) and `sysfs_root` (PWM class dir) default to the real hardware; tests pass MockFactory,
    fake chips and a temporary directory."""
    ctx = BuildContext(pin_factory=pin_factory, smbus=smbus, sysfs_root=sysfs_root, now=now)
    made: list[Any] = []
    try:
        power = _build_power_path(board, now, ctx, made, bus)
    except BaseException:
        close_all([*made, *ctx.buses.values()])  # no half-built board keeps threads, pins or buses
        raise
    power.real_devices.extend(ctx.buses.values())  # closed after the chips on them
    return power


def _wired_device(kind: str, cid: int, bus: SimBus, coil: wired.CoilWriter) -> Any:
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
    raise ValueError(f"no simulated {kind}")


def _proximity(spec: DeviceSpec, ctx: BuildContext) -> Any:
    from hal.i2c_devices import Ads1115
    from hal.proximity import AdsProximity

    p = spec.params
    adc = Ads1115(ctx.bus(p.get("i2c_bus", 1)), p.get("address", 0x49), float(p.get("adc_full_scale_v", 4.096)))
    return AdsProximity(
        adc,
        p.get("input", 0),
        float(p.get("pullup_ohms", 1000.0)),
        float(p.get("reference_v", 3.3)),
        now=ctx.now,
    )


def _build_power_path(
    board: Board, now: Callable[[], float], ctx: BuildContext, made: list[Any], bus: SimBus | None
) -> PowerPath:
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
                    devs[kind] = _wired_device(kind, c.id, bus, coil)
                else:
                    assert world is not None
                    devs[kind] = getattr(world.sockets[c.id], kind)
            elif spec.driver == "none":
                devs[kind] = None if kind == "pp" else NoLock()
            elif kind == "pp":
                dev = _proximity(spec, ctx)
                made.append(dev)
                devs[kind] = dev
            else:  # a real driver (the loader only lets through drivers listed in board.schema)
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

    sim_station: Any = station_wires if station_wires is not None else world
    temperature: Any = station_device(
        "temperature", world.temperature if world else station_wires
    )
    if temperature is None:
        raise ValueError("a temperature sensor is required")
    tilt: Any = station_device("tilt", world.tilt if world else station_wires)
    suspend: Any = station_device("suspend_input", world.suspend if world else station_wires)
    pe: Any = (world.pe if world else station_wires) if sim_station is not None else None
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
) -> StationDevices:
    """The devices the main process owns (not on the power path). `pin_factory`: gpiozero's, for tests."""
    st = board.station
    ctx = BuildContext(pin_factory=pin_factory, now=now)
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
