"""The control process's drivers for the simulated board: they read and write the plant's register file
(`hal.sim.bus`) exactly where the real drivers would touch a GPIO line, an ADC or a meter. They know nothing
of cars; the plant process (`hal.sim.plant`) does.

Like the real pilot driver, the pilot's voltages are only trusted for the output they were measured with:
until the plant has seen a new output, a read gives the last level and no low phase (as an ADC settling).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hal.errors import DeviceOffline
from hal.i2c_devices import angle_deg
from hal.interfaces import MeterReading, PilotMode, PilotOutput, PilotReading
from hal.sim.bus import Coil, SimBus, StationCoil

PILOT_MODES: tuple[PilotMode, ...] = (PilotMode.STEADY_HIGH, PilotMode.PWM, PilotMode.STEADY_NEGATIVE, PilotMode.OFF)
MODE_INDEX = {m: i for i, m in enumerate(PILOT_MODES)}

Now = Callable[[], float]


class CoilWriter:
    """The control process's copy of one socket's coil block; every change writes the whole block."""

    def __init__(self, bus: SimBus, cid: int, now: Now) -> None:
        self.bus = bus
        self.block = bus.coil[cid]
        self.now = now
        self.value = Coil(pid=os.getpid())

    def update(self, **changes: Any) -> None:
        with self.bus.lock:
            self.value = replace(self.value, **changes)
            self.block.write(self.value)


class WiredPilot:
    def __init__(self, coil: CoilWriter, bus: SimBus, cid: int) -> None:
        self.coil = coil
        self.sense = bus.sense[cid]
        self.output = PilotOutput.high()
        self._last_high: float | None = None

    def set_output(self, output: PilotOutput) -> None:
        self.output = output
        self.coil.update(
            pilot_mode=MODE_INDEX[output.mode], pilot_duty=output.duty, pilot_seq=self.coil.value.pilot_seq + 1
        )

    def read(self) -> PilotReading:
        s = self.sense.read()
        if s.pilot_seq != self.coil.value.pilot_seq and self._last_high is not None:
            return PilotReading(self._last_high, None)  # not yet measured with the new output
        self._last_high = s.high_v
        return PilotReading(s.high_v, None if math.isnan(s.low_v) else s.low_v)

    def to_safe_state(self) -> None:
        self.set_output(PilotOutput.high())


class WiredContactor:
    def __init__(self, coil: CoilWriter, bus: SimBus, cid: int) -> None:
        self.coil = coil
        self.sense = bus.sense[cid]

    def set_closed(self, closed: bool) -> None:
        now = self.coil.now()
        if closed != bool(self.coil.value.contactor):
            self.coil.update(contactor=int(closed), contactor_at=now, contactor_refresh=now)
        elif closed:
            self.coil.update(contactor_refresh=now)

    @property
    def commanded(self) -> bool:
        return bool(self.coil.value.contactor)

    def feedback_closed(self) -> bool | None:
        m = self.sense.read().mirror
        return None if m < 0 else bool(m)

    def to_safe_state(self) -> None:
        now = self.coil.now()
        if self.coil.value.contactor:
            self.coil.update(contactor=0, contactor_at=now, contactor_refresh=now, safe_at=now)
        else:
            self.coil.update(safe_at=now)


class WiredLock:
    def __init__(self, coil: CoilWriter, bus: SimBus, cid: int) -> None:
        self.coil = coil
        self.sense = bus.sense[cid]

    def set_locked(self, locked: bool) -> None:
        if int(locked) != self.coil.value.lock:
            self.coil.update(lock=int(locked))

    def feedback_locked(self) -> bool | None:
        v = self.sense.read().lock
        return None if v < 0 else bool(v)

    def to_safe_state(self) -> None:
        self.set_locked(False)


class WiredPhaseRelay:
    """The 1/3-phase relay's coil and feedback contact on the plant's register file."""

    def __init__(self, coil: CoilWriter, bus: SimBus, cid: int, rest_phases: int = 3) -> None:
        self.coil = coil
        self.sense = bus.sense[cid]
        self.rest_phases = rest_phases

    def set_phases(self, phases: int) -> None:
        if isinstance(phases, bool) or phases not in (1, 3):
            raise ValueError(f"a phase relay switches between 1 and 3 phases, not {phases!r}")
        if phases != self.coil.value.phases:
            self.coil.update(phases=phases)

    def feedback_phases(self) -> int | None:
        v = self.sense.read().phase_fb
        return None if v < 0 else v

    def to_safe_state(self) -> None:
        self.set_phases(self.rest_phases)


class WiredMeter:
    def __init__(self, bus: SimBus, cid: int) -> None:
        self.sense = bus.sense[cid]

    def read(self) -> MeterReading:
        s = self.sense.read()
        if s.meter_offline:
            raise DeviceOffline("socket meter does not answer")
        return MeterReading(
            currents_a=(s.i1, s.i2, s.i3),
            voltages_v=(s.v1, s.v2, s.v3),
            power_w=s.power_w,
            energy_wh=s.energy_wh,
            frequency_hz=s.frequency_hz,
        )


class WiredRcd:
    def __init__(self, coil: CoilWriter, bus: SimBus, cid: int) -> None:
        self.coil = coil
        self.sense = bus.sense[cid]

    def tripped(self) -> bool:
        return bool(self.sense.read().rcd_trip)

    def self_test(self) -> bool:
        self.coil.update(rcd_tests=self.coil.value.rcd_tests + 1)
        return bool(self.sense.read().rcd_test_ok)

    def reset(self) -> None:
        self.coil.update(rcd_resets=self.coil.value.rcd_resets + 1)


class WiredProximity:
    def __init__(self, bus: SimBus, cid: int) -> None:
        self.sense = bus.sense[cid]

    def read_ohms(self) -> float:
        return self.sense.read().pp_ohms


class WiredStation:
    """Temperature, tilt, protective earth and the suspend input of the simulated board."""

    def __init__(self, bus: SimBus) -> None:
        self.sense = bus.station_sense

    def read_celsius(self) -> float:
        s = self.sense.read()
        if s.temperature_lost:
            raise DeviceOffline("temperature sensor lost")
        return s.celsius

    def read_vector(self) -> tuple[float, float, float]:
        s = self.sense.read()
        if s.tilt_lost:
            raise DeviceOffline("tilt sensor lost")
        return (s.gx, s.gy, s.gz)

    def read_tilt_deg(self) -> float:
        try:
            return angle_deg(self.read_vector(), (0.0, 0.0, 1.0))
        except ValueError as exc:  # a zero vector
            raise DeviceOffline(f"tilt sensor: {exc}") from exc

    def pe_present(self) -> bool:
        return bool(self.sense.read().pe_present)

    def active(self) -> bool:
        return bool(self.sense.read().suspend)


class Heartbeat:
    """The control process's tick counter in the register file (the plant's scenarios wait on it)."""

    def __init__(self, bus: SimBus) -> None:
        self.block = bus.station_coil
        self.pid = os.getpid()
        self.ticks = 0

    def beat(self) -> None:
        self.ticks += 1
        self.block.write(StationCoil(self.pid, self.ticks))


def wait_for_plant(bus: SimBus, timeout_s: float = 10.0) -> None:
    """Before the first tick: the plant has published its first readings (else they would be zeros)."""
    end = time.monotonic() + timeout_s
    while not bus.plant_ready:
        if time.monotonic() > end:
            raise DeviceOffline(f"the simulated plant did not publish within {timeout_s} s")
        time.sleep(0.005)
