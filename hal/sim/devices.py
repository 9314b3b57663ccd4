"""Simulated devices with the behaviour of the real ones: outputs record every change with its time,
inputs cannot be driven through the device interface (only through the simulator), faults are injectable."""

from __future__ import annotations

import math
from collections.abc import Callable

from hal.errors import DeviceOffline
from hal.i2c_devices import Vector, angle_deg
from hal.interfaces import MeterReading, PilotOutput, PilotReading
from hal.sim.ev import PP_NOMINAL_OHMS, SimEv

Now = Callable[[], float]


class Recorder:
    """Keeps (time, value) for every change of an output, bounded."""

    def __init__(self, now: Now, limit: int = 10000) -> None:
        self._now = now
        self.history: list[tuple[float, object]] = []
        self._limit = limit

    def record(self, value: object) -> None:
        self.record_at(self._now(), value)

    def record_at(self, t: float, value: object) -> None:
        if self.history and self.history[-1][1] == value:
            return
        self.history.append((t, value))
        if len(self.history) > self._limit:
            del self.history[: self._limit // 2]


class SimControlPilot:
    """Pilot PWM output and ADC, wired to a simulated car."""

    def __init__(self, ev: SimEv, now: Now) -> None:
        self.ev = ev
        self.output = PilotOutput.high()
        self.recorder = Recorder(now)

    def set_output(self, output: PilotOutput) -> None:
        self.output = output
        self.recorder.record(output)

    def read(self) -> PilotReading:
        high, low = self.ev.pilot_voltages(self.output)
        return PilotReading(high, low)

    def to_safe_state(self) -> None:
        self.set_output(PilotOutput.high())


class SimContactor:
    """A contactor whose mirror contact follows after `feedback_delay_s`; it can weld shut.

    Like an output with a maximum on-time (Klipper's `max_duration`): with `max_on_s` set, a closed contactor
    that gets no fresh close command for longer than that opens by itself (`expired` counts it). The runner
    re-commands a closed contactor every tick, so only a stalled loop lets it expire.
    """

    def __init__(self, now: Now, feedback_delay_s: float = 0.02, has_feedback: bool = True) -> None:
        self._now = now
        self._commanded = False
        self.welded = False
        self.has_feedback = has_feedback
        self.feedback_delay_s = feedback_delay_s
        self._changed_at = now()
        self._contacts_closed = False
        self.recorder = Recorder(now)
        self.switch_count = 0
        self.max_on_s: float | None = None
        self.expired = 0
        self._refreshed_at = self._changed_at
        self.safe_state_at: list[float] = []  # when to_safe_state() was called (the watchdog, shutdown)
        self.on_open: Callable[[float], None] | None = None  # told the time of every open command

    @property
    def commanded(self) -> bool:
        """What the coil was last told (after a maximum on-time expiry: open)."""
        self._expire()
        return self._commanded

    def _expire(self) -> None:
        if self.max_on_s is not None and self._commanded and self._now() - self._refreshed_at > self.max_on_s:
            t = self._refreshed_at + self.max_on_s
            self._commanded = False
            self._changed_at = t
            self.switch_count += 1
            self.expired += 1
            self.recorder.record_at(t, False)

    def set_closed(self, closed: bool) -> None:
        now = self._now()
        self.command(closed, now, now)

    def command(self, closed: bool, changed_at: float, refreshed_at: float) -> None:
        """A coil command stamped with the time it was given (the plant applies the control process's
        commands with the control process's own timestamps)."""
        self._expire()
        if closed:
            self._refreshed_at = refreshed_at
        if closed != self._commanded:
            if changed_at < self._changed_at:  # the coil changed without it (expiry, pull-down): now it acts
                changed_at = refreshed_at
            self._commanded = closed
            self._changed_at = changed_at
            self.switch_count += 1
            self.recorder.record_at(changed_at, closed)
            if not closed and self.on_open is not None:
                self.on_open(changed_at)

    def pull_down(self) -> None:
        """The process that drove the coil died: the coil line falls to its pull-down (the contacts open unless
        they are welded)."""
        now = self._now()
        self.command(False, now, now)

    @property
    def contacts_closed(self) -> bool:
        """Whether the power contacts conduct (what the car and the meter see)."""
        self._expire()
        if self.welded and self._contacts_closed:
            return True
        if self._now() - self._changed_at >= self.feedback_delay_s:
            self._contacts_closed = self._commanded
        return self._contacts_closed or (self.welded and self._commanded)

    def feedback_closed(self) -> bool | None:
        if not self.has_feedback:
            return None
        return self.contacts_closed

    def to_safe_state(self) -> None:
        self.safe_state_at.append(self._now())
        self.set_closed(False)


class SimPhaseRelay:
    """A 1/3-phase switch relay: its contacts (and its feedback contact) follow the coil after
    `feedback_delay_s`. Fault injection: `stuck` (nothing moves), `contacts_stuck` (the feedback follows the
    coil, the power contacts do not: only the meter can tell). Safe state: coil off, `rest_phases`."""

    def __init__(self, now: Now, rest_phases: int = 3, feedback_delay_s: float = 0.05, has_feedback: bool = True) -> None:
        self._now = now
        self.rest_phases = rest_phases
        self.feedback_delay_s = feedback_delay_s
        self.has_feedback = has_feedback
        self.stuck = False
        self.contacts_stuck = False
        self.commanded = rest_phases
        self._changed_at = now()
        self._contacts = rest_phases
        self._aux = rest_phases
        self.switch_count = 0
        self.recorder = Recorder(now)

    def set_phases(self, phases: int) -> None:
        if isinstance(phases, bool) or phases not in (1, 3):
            raise ValueError(f"a phase relay switches between 1 and 3 phases, not {phases!r}")
        if phases != self.commanded:
            self.settle()
            self.commanded = phases
            self._changed_at = self._now()
            self.switch_count += 1
            self.recorder.record(phases)

    def settle(self) -> None:
        """Move the contacts to the coil's position once the delay has passed."""
        if self.stuck or self._now() - self._changed_at < self.feedback_delay_s:
            return
        self._aux = self.commanded
        if not self.contacts_stuck:
            self._contacts = self.commanded

    @property
    def phases(self) -> int:
        """The phases the power contacts pass to the socket (what the car sees)."""
        self.settle()
        return self._contacts

    def feedback_phases(self) -> int | None:
        if not self.has_feedback:
            return None
        self.settle()
        return self._aux

    def to_safe_state(self) -> None:
        self.set_phases(self.rest_phases)


class SimLock:
    """A lock motor with a feedback switch. Jammed, it stays where it is; freed, it goes where it was told."""

    def __init__(self, now: Now) -> None:
        self.locked = False
        self.commanded = False
        self.jammed = False
        self.recorder = Recorder(now)

    def set_locked(self, locked: bool) -> None:
        self.commanded = locked
        if not self.jammed:
            self.locked = locked
        self.recorder.record(locked)

    def jam(self, jammed: bool) -> None:
        self.jammed = jammed
        if not jammed:
            self.locked = self.commanded

    def feedback_locked(self) -> bool | None:
        return self.locked

    def to_safe_state(self) -> None:
        self.set_locked(False)


class SimSocketMeter:
    """The socket's meter: currents the car draws through closed contacts, energy integrated over time.
    `override` (sim control `meter_override`): what it reports instead of the real currents (NaN, inf ...)."""

    def __init__(self) -> None:
        self.currents: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.energy_wh = 0.0
        self.voltage = 230.0
        self.offline = False
        self.override: tuple[float, float, float] | None = None

    def integrate(self, currents: tuple[float, float, float], dt: float) -> None:
        self.currents = currents
        self.energy_wh += sum(currents) * self.voltage * dt / 3600.0

    def read(self) -> MeterReading:
        if self.offline:
            raise DeviceOffline("socket meter does not answer")
        currents = self.override if self.override is not None else self.currents
        power = sum(currents) * self.voltage
        return MeterReading(
            currents_a=currents,
            voltages_v=(self.voltage, self.voltage, self.voltage),
            power_w=round(power, 1),
            energy_wh=round(self.energy_wh, 3),
        )


class SimRcd:
    def __init__(self) -> None:
        self.trip = False
        self.self_test_fails = False
        self.self_tests = 0

    def tripped(self) -> bool:
        return self.trip

    def self_test(self) -> bool:
        self.self_tests += 1
        return not self.self_test_fails

    def reset(self) -> None:
        self.trip = False


class SimProtectiveEarth:
    """Protective earth measurement of the supply (present unless the simulator removes it)."""

    def __init__(self) -> None:
        self.present = True

    def pe_present(self) -> bool:
        return self.present


class SimTemperature:
    def __init__(self, celsius: float = 25.0) -> None:
        self.celsius = celsius
        self.lost = False

    def read_celsius(self) -> float:
        if self.lost:
            raise DeviceOffline("temperature sensor lost")
        return self.celsius


UPRIGHT: Vector = (0.0, 0.0, 1.0)


class SimTilt:
    """An accelerometer standing upright with Z up; `vector` is the gravity it measures (g, sensor axes)."""

    def __init__(self) -> None:
        self.vector: Vector = UPRIGHT
        self.lost = False

    def tilt_about_x(self, degrees: float) -> None:
        """Tilt the station by `degrees` about the sensor's X axis (negative: the other way)."""
        r = math.radians(degrees)
        self.vector = (0.0, round(math.sin(r), 9), round(math.cos(r), 9))

    def read_tilt_deg(self) -> float:
        if self.lost:
            raise DeviceOffline("tilt sensor lost")
        return angle_deg(self.vector, UPRIGHT)

    def read_vector(self) -> Vector:
        if self.lost:
            raise DeviceOffline("tilt sensor lost")
        return self.vector


class SimProximity:
    """The socket's proximity pilot: the coding resistor of the cable the car is plugged in with."""

    def __init__(self, ev: SimEv) -> None:
        self.ev = ev

    def read_ohms(self) -> float:
        if not self.ev.plugged:
            return math.inf
        if self.ev.pp_broken:
            return 50.0  # a damaged cable: between the windows, no valid rating
        return PP_NOMINAL_OHMS[self.ev.cable_a]


class SimRfid:
    """A card reader; the simulator (sim control `tag`) presents cards."""

    def __init__(self) -> None:
        self._queue: list[str] = []

    def present(self, uid: str) -> None:
        self._queue.append(uid)

    def poll(self) -> str | None:
        return self._queue.pop(0) if self._queue else None

    def version(self) -> str:
        return "SIM-NFC 1.0"


class SimLeds:
    def __init__(self, now: Now) -> None:
        self.state: tuple[str, str, int] = ("off", "off", 0)
        self.nfc_intensity = 0
        self.recorder = Recorder(now)

    def show(self, color: str, pattern: str, intensity: int) -> None:
        self.state = (color, pattern, intensity)
        self.recorder.record(self.state)

    def show_nfc(self, intensity: int) -> None:
        self.nfc_intensity = intensity

    def to_safe_state(self) -> None:
        self.show("off", "off", 0)


class SimSuspendInput:
    def __init__(self) -> None:
        self.value = False

    def active(self) -> bool:
        return self.value


class SimGridMeter:
    """The grid connection's meter: the house load plus what the sockets draw (fed from the control loop's
    samples), in the main process like a real P1 or Modbus grid meter."""

    def __init__(self, socket_currents: Callable[[], list[tuple[float, float, float]]]) -> None:
        self.house: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.offline = False
        self._socket_currents = socket_currents

    def read(self) -> MeterReading:
        if self.offline:
            raise DeviceOffline("grid meter does not answer")
        total = list(self.house)
        for cur in self._socket_currents():
            for i in range(3):
                total[i] += cur[i]
        currents = (round(total[0], 3), round(total[1], 3), round(total[2], 3))
        return MeterReading(currents_a=currents, power_w=round(sum(currents) * 230.0, 1))
