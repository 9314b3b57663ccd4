"""Real proximity pilot of a socket outlet: the cable's coding resistor Rc (between PP and PE) read through a
pull-up by one input of an ADS1115 (IEC 61851-1 Annex B; the rating itself is `controller.evse.pilot`'s).

Hardware assumption: PP is pulled up to `reference_v` through `pullup_ohms` and goes to one single-ended
ADS1115 input, so the input reads V = reference_v * Rc / (Rc + pullup_ohms), i.e.
    Rc = pullup_ohms * V / (reference_v - V)
and with nothing plugged V is the reference (open: math.inf). The ADC is this driver's alone (the pilot's
ADS1115 converts without pause), e.g. a second chip at 0x49.

Non-blocking like the pilot driver: each `read_ohms()` collects a finished conversion and starts the next one
at most every `min_interval_s`, and never waits; a conversion still running after `max_busy_polls` reads, or
an ADC that stops answering, raises (the control loop then sees no valid cable). An ADC that does not answer
at start-up is offline, not a start-up failure: every read raises until it answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from hal.errors import DeviceError
from hal.i2c_devices import Ads1115

OPEN_FRACTION = 0.98  # at or above this fraction of the reference nothing is plugged


def ohms_from_volts(volts: float, pullup_ohms: float, reference_v: float) -> float:
    """The coding resistor from the divider's voltage: inf when open, 0 at (or below) ground."""
    if volts >= reference_v * OPEN_FRACTION:
        return math.inf
    if volts <= 0.0:
        return 0.0
    return pullup_ohms * volts / (reference_v - volts)


class AdsProximity:
    """ProximityPilot on one ADS1115 input."""

    def __init__(
        self,
        adc: Ads1115,
        channel: int = 0,
        pullup_ohms: float = 1000.0,
        reference_v: float = 3.3,
        now: Callable[[], float] = time.monotonic,
        min_interval_s: float = 0.1,
        max_busy_polls: int = 20,
    ) -> None:
        if not pullup_ohms > 0 or not reference_v > 0:
            raise ValueError("the PP pull-up and its reference must be positive")
        adc.config_word(channel)  # checks the input number
        self.adc = adc
        self.channel = channel
        self.pullup_ohms = pullup_ohms
        self.reference_v = reference_v
        self._now = now
        self.min_interval_s = min_interval_s
        self.max_busy_polls = max_busy_polls
        self._busy = False
        self._busy_polls = 0
        self._started_at = -math.inf
        self._ohms = math.nan
        try:  # one blocking conversion at start-up, so that the first read has a value
            self._ohms = ohms_from_volts(adc.read_blocking(channel), pullup_ohms, reference_v)
        except DeviceError:
            pass  # offline for now: reads raise until the ADC answers

    def read_ohms(self) -> float:
        if self._busy:
            if not self.adc.ready():
                self._busy_polls += 1
                if self._busy_polls > self.max_busy_polls:
                    self._busy = False
                    raise DeviceError(f"ADS1115 at 0x{self.adc.address:02x}: PP conversion never finished")
                return self._ohms
            self._ohms = ohms_from_volts(self.adc.volts(), self.pullup_ohms, self.reference_v)
            self._busy = False
        now = self._now()
        if now - self._started_at >= self.min_interval_s:
            self._started_at = now
            self.adc.start(self.channel)
            self._busy = True
            self._busy_polls = 0
        if math.isnan(self._ohms):
            raise DeviceError(f"ADS1115 at 0x{self.adc.address:02x}: no PP conversion yet")
        return self._ohms
