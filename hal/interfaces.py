"""Typed Protocols for every device of the charger, the contract between drivers and the controller.

Every output device states its safe state in its docstring and implements `to_safe_state()`; the control
loop calls it on faults and the dead-man timer calls it when the loop stops commanding. Inputs raise
`hal.errors.DeviceError` when they cannot be read. Only the control loop writes outputs (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class PilotMode(StrEnum):
    STEADY_HIGH = "high"  # steady +12 V: no PWM, no charging allowed (states A1/B1/C1)
    PWM = "pwm"  # 1 kHz PWM +12/-12 V with a duty cycle that advertises the current
    STEADY_NEGATIVE = "negative"  # steady -12 V: state F, EVSE unavailable
    OFF = "off"  # 0 V (only a broken or unpowered board)


@dataclass(frozen=True, slots=True)
class PilotOutput:
    mode: PilotMode
    duty: float = 100.0  # percent, meaningful in PWM mode

    @staticmethod
    def high() -> PilotOutput:
        return PilotOutput(PilotMode.STEADY_HIGH, 100.0)

    @staticmethod
    def pwm(duty: float) -> PilotOutput:
        return PilotOutput(PilotMode.PWM, duty)

    @staticmethod
    def negative() -> PilotOutput:
        return PilotOutput(PilotMode.STEADY_NEGATIVE, 0.0)


@dataclass(frozen=True, slots=True)
class PilotReading:
    """Pilot voltages measured in the high and the low phase of the PWM. `low_v` is None without PWM."""

    high_v: float
    low_v: float | None


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One reading of a three-phase energy meter."""

    currents_a: tuple[float, float, float]
    voltages_v: tuple[float, float, float] = (230.0, 230.0, 230.0)
    power_w: float = 0.0
    energy_wh: float = 0.0
    frequency_hz: float = 50.0
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class ControlPilot(Protocol):
    """Control pilot PWM generator and its ADC. Safe state: steady +12 V (no PWM: no charging allowed)."""

    def set_output(self, output: PilotOutput) -> None: ...
    def read(self) -> PilotReading: ...
    def to_safe_state(self) -> None: ...


@runtime_checkable
class Contactor(Protocol):
    """Power contactor with an optional feedback (mirror) contact. Safe state: open."""

    def set_closed(self, closed: bool) -> None: ...
    def feedback_closed(self) -> bool | None:
        """True/False from the mirror contact; None when the board has no feedback contact."""
        ...

    def to_safe_state(self) -> None: ...


@runtime_checkable
class PhaseRelay(Protocol):
    """A socket's 1/3-phase switch relay with an optional feedback (auxiliary) contact. Safe state: coil off,
    the position the board wires the de-energised relay to (`rest_phases`). Only the control loop moves it,
    and only while the socket's contactor reads open (controller/evse/phaseswitch.py)."""

    rest_phases: int

    def set_phases(self, phases: int) -> None: ...
    def feedback_phases(self) -> int | None:
        """1 or 3 from the feedback contact; None when the relay has no feedback contact."""
        ...

    def to_safe_state(self) -> None: ...


@runtime_checkable
class ConnectorLock(Protocol):
    """Socket connector lock actuator with feedback. Safe state: unlocked (only ever with the contactor open)."""

    def set_locked(self, locked: bool) -> None: ...
    def feedback_locked(self) -> bool | None: ...
    def to_safe_state(self) -> None: ...


@runtime_checkable
class RfidReader(Protocol):
    """RFID/NFC card reader (input only)."""

    def poll(self) -> str | None:
        """The UID (hex) of a card presented since the last poll, or None."""
        ...

    def version(self) -> str: ...


@runtime_checkable
class TiltSensor(Protocol):
    """Accelerometer: the station's tilt from the sensor's own vertical, and the gravity vector itself."""

    def read_tilt_deg(self) -> float: ...
    def read_vector(self) -> tuple[float, float, float]:
        """The measured gravity in g, sensor axes (a calibration compares against such a vector)."""
        ...


@runtime_checkable
class TemperatureSensor(Protocol):
    """Internal temperature of the station."""

    def read_celsius(self) -> float: ...


@runtime_checkable
class ResidualCurrentMonitor(Protocol):
    """6 mA DC residual current monitor (RDC-DD) with self-test."""

    def tripped(self) -> bool: ...
    def self_test(self) -> bool:
        """Run the monitor's test: True when it tripped on the test current and recovered."""
        ...

    def reset(self) -> None: ...


@runtime_checkable
class Leds(Protocol):
    """Status LEDs. Safe state: off."""

    def show(self, color: str, pattern: str, intensity: int) -> None:
        """color: e.g. "green", "blue", "red", "white"; pattern: "solid", "blink", "pulse", "off"; intensity 0-100."""
        ...

    def to_safe_state(self) -> None: ...


@runtime_checkable
class EnergyMeter(Protocol):
    """A socket's (or the grid connection's) energy meter."""

    def read(self) -> MeterReading: ...


@runtime_checkable
class ExternalSuspendInput(Protocol):
    """The RJ11 external suspend contact: True while charging must be suspended."""

    def active(self) -> bool: ...


@runtime_checkable
class ProximityPilot(Protocol):
    """The proximity pilot of a socket outlet: the cable's coding resistor between PP and PE (IEC 61851-1
    Annex B), which gives the cable's current rating. A fixed cable has none."""

    def read_ohms(self) -> float:
        """The resistance in ohms; math.inf when nothing is plugged (open PP)."""
        ...


@runtime_checkable
class ProtectiveEarthMonitor(Protocol):
    """Measures whether the supply's protective earth is present (StrictPEMeasurementEnabled)."""

    def pe_present(self) -> bool: ...
