"""Builds the devices a board file names: the power-path devices for the control process and the station
devices (RFID, LEDs, grid meter) for the main process. The one place that maps driver names to classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

    def all_outputs(self) -> list[Any]:
        out: list[Any] = []
        for s in self.sockets.values():
            out.extend([s.contactor, s.pilot, s.lock])
        return out


def _gpio(spec: DeviceSpec, pin_factory: Any) -> Any:
    from hal import gpio

    cls = {
        "contactor": gpio.GpioContactor,
        "lock": gpio.GpioLock,
        "suspend_input": gpio.GpioSuspendInput,
        "rcd": gpio.GpioRcd,
    }[spec.kind]
    return cls(pin_factory=pin_factory, **spec.params)


def build_power_path(board: Board, now: Callable[[], float], pin_factory: Any = None) -> PowerPath:
    """The devices the control process owns. A simulated board gets one SimWorld shared by its devices."""
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
            elif spec.driver == "gpiozero":
                devs[kind] = _gpio(spec, pin_factory)
            else:  # the loader only lets through drivers listed in board.schema
                raise ValueError(f"no driver {spec.driver!r} for {kind}")
        if "feedback_delay_s" in c.devices["contactor"].params and world is not None:
            world.sockets[c.id].contactor.feedback_delay_s = float(c.devices["contactor"].params["feedback_delay_s"])
        sockets[c.id] = SocketDevices(**devs)
    st = board.station
    temperature: Any = world.temperature if st["temperature"].driver == "sim" and world else None
    if temperature is None:
        raise ValueError("a temperature sensor is required")
    tilt: Any = world.tilt if st["tilt"].driver == "sim" and world else None
    suspend: Any = None
    if st["suspend_input"].driver == "sim" and world:
        suspend = world.suspend
    elif st["suspend_input"].driver == "gpiozero":
        suspend = _gpio(st["suspend_input"], pin_factory)
    return PowerPath(sockets=sockets, temperature=temperature, tilt=tilt, suspend=suspend, world=world)


@dataclass
class StationDevices:
    rfid: RfidReader | None
    leds: Any
    grid_meter: EnergyMeter | None


def build_station_devices(
    board: Board, now: Callable[[], float], socket_currents: Callable[[], list[tuple[float, float, float]]]
) -> StationDevices:
    """The devices the main process owns (not on the power path)."""
    st = board.station
    rfid = SimRfid() if st["rfid"].driver == "sim" else None
    leds = SimLeds(now) if st["leds"].driver == "sim" else None
    grid = SimGridMeter(socket_currents) if st["grid_meter"].driver == "sim" else None
    return StationDevices(rfid=rfid, leds=leds, grid_meter=grid)
