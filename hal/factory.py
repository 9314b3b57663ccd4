"""Builds the devices a board file names: the power-path devices for the control process and the station
devices (RFID, LEDs, grid meter) for the main process. The one place that maps driver names to classes."""

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
    ResidualCurrentMonitor,
    RfidReader,
    TemperatureSensor,
    TiltSensor,
)
from hal.real_drivers import SYSFS_PWM_ROOT, BuildContext, build, close_all
from hal.sim.devices import SimGridMeter, SimLeds, SimRfid
from hal.sim.world import SimWorld


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


@dataclass
class PowerPath:
    sockets: dict[int, SocketDevices]
    temperature: TemperatureSensor
    tilt: TiltSensor | None
    suspend: ExternalSuspendInput | None
    world: SimWorld | None
    real_devices: list[Any] = field(default_factory=list)

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
) -> PowerPath:
    """The devices the control process owns. A simulated board gets one SimWorld shared by its devices.
    `pin_factory` (gpiozero), `smbus` (bus number -> SMBus-like object) and `sysfs_root` (PWM class dir)
    default to the real hardware; tests pass MockFactory, fake chips and a temporary directory."""
    ctx = BuildContext(pin_factory=pin_factory, smbus=smbus, sysfs_root=sysfs_root, now=now)
    made: list[Any] = []
    try:
        power = _build_power_path(board, now, ctx, made)
    except BaseException:
        close_all([*made, *ctx.buses.values()])  # no half-built board keeps threads, pins or buses
        raise
    power.real_devices.extend(ctx.buses.values())  # closed after the chips on them
    return power


def _build_power_path(board: Board, now: Callable[[], float], ctx: BuildContext, made: list[Any]) -> PowerPath:
    needs_world = any(d.driver == "sim" for c in board.connectors for d in c.devices.values()) or any(
        board.station[k].driver == "sim" for k in ("temperature", "tilt", "suspend_input")
    )
    fb = True
    if board.connectors:
        fb = bool(board.connectors[0].devices["contactor"].params.get("feedback", True))
    world = SimWorld(len(board.connectors), now, contactor_feedback=fb) if needs_world else None
    sockets: dict[int, SocketDevices] = {}
    for c in board.connectors:
        devs: dict[str, Any] = {}
        for kind, spec in c.devices.items():
            if spec.driver == "sim":
                assert world is not None
                devs[kind] = getattr(world.sockets[c.id], kind if kind != "pilot" else "pilot")
            elif spec.driver == "none":
                devs[kind] = NoLock()
            else:  # a real driver (the loader only lets through drivers listed in board.schema)
                devs[kind] = _real(spec, ctx, made, f"connector {c.id} {kind}")
        if "feedback_delay_s" in c.devices["contactor"].params and world is not None:
            world.sockets[c.id].contactor.feedback_delay_s = float(c.devices["contactor"].params["feedback_delay_s"])
        sockets[c.id] = SocketDevices(**devs)
    st = board.station

    def station_device(kind: str, sim: Any) -> Any:
        driver = st[kind].driver
        if driver == "sim":
            return sim
        if driver == "none":
            return None
        return _real(st[kind], ctx, made)

    temperature: Any = station_device("temperature", world.temperature if world else None)
    if temperature is None:
        raise ValueError("a temperature sensor is required")
    tilt: Any = station_device("tilt", world.tilt if world else None)
    suspend: Any = station_device("suspend_input", world.suspend if world else None)
    return PowerPath(
        sockets=sockets, temperature=temperature, tilt=tilt, suspend=suspend, world=world, real_devices=made
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
    meter_model: Callable[[], str] | None = None,
) -> StationDevices:
    """The devices the main process owns (not on the power path). `pin_factory`: gpiozero's, for tests.
    `meter_model`: the key's grid meter model, followed by a Modbus grid meter whose board entry pins none."""
    st = board.station
    ctx = BuildContext(pin_factory=pin_factory, now=now, meter_model=meter_model)
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
