"""An electric vehicle on the control pilot, simulated the way a real car behaves.

It answers the pilot like a car: +9 V (state B) when plugged, +6 V (state C) when the PWM offers at least
6 A and it wants to charge, back to B when the PWM stops. Once the contactor is closed it draws the offered
current (capped by its own maximum) on its phases after a response delay, and follows lowered offers within
that delay. It can be told to misbehave: draw more than offered, refuse to stop, be a one-phase car, never
request charge, lose its diode, short the pilot or come with a damaged cable (`pp_broken`). It draws on the
phases the socket gives it (`supply_phases`): a three-phase car behind a phase relay on one phase draws on L1. It is plugged in
with a cable rated `cable_a` (13, 20, 32 or 63 A), which the socket reads from the PP. A Chameleon charger (`chameleon_min_a`) stays in C but draws
nothing while offered less than its minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.interfaces import PilotMode, PilotOutput

NOMINAL_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0}
# the cable's rating (A) -> its coding resistor between PP and PE (IEC 61851-1 Annex B)
PP_NOMINAL_OHMS: dict[float, float] = {13.0: 1500.0, 20.0: 680.0, 32.0: 220.0, 63.0: 100.0}


def offered_current(output: PilotOutput) -> float:
    """The current a car reads from the pilot PWM (IEC 61851-1 Annex A), 0 when no valid PWM."""
    if output.mode is not PilotMode.PWM:
        return 0.0
    d = output.duty
    if 8.0 <= d <= 85.0:
        return d * 0.6
    if 85.0 < d <= 96.0:
        return (d - 64.0) * 2.5
    return 0.0


@dataclass
class EvProfile:
    max_current: float = 32.0
    phases: int = 3
    response_delay_s: float = 1.0
    ventilation: bool = False  # asks for state D
    chameleon_min_a: float = 0.0  # a Chameleon charger (Renault Zoe): below this it stays in C and draws nothing


class SimEv:
    """One car, plugged into one socket or not."""

    def __init__(self) -> None:
        self.profile = EvProfile()
        self.plugged = False
        self.paused = False
        self.draw_factor = 1.0
        self.refuse_to_stop = False
        self.never_request = False
        self.diode_missing = False
        self.shorted = False
        self.cable_a = 32.0
        self.pp_broken = False
        self._state = "A"
        self._target = 0.0
        self._draw = 0.0
        self._target_since = 0.0
        self._was_charging = False

    def plug(self, profile: EvProfile | None = None, cable_a: float = 32.0) -> None:
        if cable_a not in PP_NOMINAL_OHMS:
            raise ValueError(f"cable_a must be one of {sorted(PP_NOMINAL_OHMS)}")
        self.profile = profile or EvProfile()
        self.cable_a = float(cable_a)
        self.pp_broken = False
        self.plugged = True
        self.paused = False
        self.draw_factor = 1.0
        self.refuse_to_stop = False
        self.never_request = False
        self.diode_missing = False
        self.shorted = False

    def unplug(self) -> None:
        self.plugged = False
        self._draw = 0.0
        self._target = 0.0
        self._state = "A"

    @property
    def state(self) -> str:
        return self._state

    def pilot_voltages(self, output: PilotOutput) -> tuple[float, float | None]:
        """(high, low) voltages the pilot ADC sees for our output and the car's resistors and diode."""
        if output.mode is PilotMode.OFF:
            return 0.0, None
        if output.mode is PilotMode.STEADY_NEGATIVE:
            return -12.0, -12.0
        if self.plugged and self.shorted:
            return 0.0, (0.0 if output.mode is PilotMode.PWM else None)
        high = NOMINAL_V[self._state] if self.plugged else 12.0
        if output.mode is PilotMode.PWM:
            low = -high if (self.plugged and self.diode_missing) else -12.0
            return high, low
        return high, None

    def step(
        self, now: float, output: PilotOutput, contactor_closed: bool, supply_phases: int = 3
    ) -> tuple[float, float, float]:
        """Advance the car to `now`; returns the current it draws on L1, L2, L3. `supply_phases`: the phases
        the socket passes to it (a phase relay on one phase: L1 only)."""
        if not self.plugged:
            self._state = "A"
            self._draw = 0.0
            return (0.0, 0.0, 0.0)
        offer = offered_current(output)
        wants = not self.paused and not self.never_request
        if self.refuse_to_stop and self._was_charging:
            charging = True
        else:
            charging = wants and offer >= 6.0
        if charging:
            self._state = "D" if self.profile.ventilation else "C"
        else:
            self._state = "B"
        # a car that refuses to stop keeps asking for C, even once the station has cut the power
        self._was_charging = charging and (contactor_closed or (self.refuse_to_stop and self._was_charging))
        # what the car tries to draw; it follows a new target after its response delay
        target = min(offer, self.profile.max_current) * self.draw_factor if charging else 0.0
        if charging and offer < self.profile.chameleon_min_a:
            target = 0.0
        if self.refuse_to_stop and self._was_charging and offer < 6.0:
            target = max(self._draw, self._target)
        if target != self._target:
            self._target = target
            self._target_since = now
        if not contactor_closed:
            self._draw = 0.0
        elif target < self._draw:
            if now - self._target_since >= self.profile.response_delay_s:
                self._draw = target
        elif now - self._target_since >= self.profile.response_delay_s:
            self._draw = target
        amps = round(self._draw, 3)
        if self.profile.phases == 1 or supply_phases == 1:
            return (amps, 0.0, 0.0)
        return (amps, amps, amps)
