"""Real proximity pilot of a socket outlet: the cable's coding resistor Rc (between PP and PE) read through a
pull-up by one input of an ADS1115 (IEC 61851-1 Annex B; the rating itself is `controller.evse.pilot`'s), and
its board-file declaration (`PP_ADS1115`, driver "ads1115" of kind "pp").

Hardware assumption: PP is pulled up to `reference_v` through `pullup_ohms` and goes to one single-ended
ADS1115 input, so the input reads V = reference_v * Rc / (Rc + pullup_ohms), i.e.
    Rc = pullup_ohms * V / (reference_v - V)
and with nothing plugged V is the reference (open: math.inf). The ADC is this driver's alone (the pilot's
ADS1115 converts without pause), e.g. a second chip at 0x49. Its full scale is the smallest PGA range above
the reference, so an open PP never clips to a value that would read as a coding resistor.

Non-blocking like the pilot driver: each `read_ohms()` collects a finished conversion and starts the next one
at most every `min_interval_s`, and never waits; a conversion still running after `max_busy_polls` reads, or
an ADC that stops answering, raises (the control loop then sees no valid cable). After an error the last value
is forgotten and the next attempt (at most every `min_interval_s`) re-arms the chip (identity checked, the
config rewritten): a chip back from a reset reads again, never a value from before the outage. An ADC that
does not answer at start-up is offline, not a start-up failure: every read raises until it answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from board.schema import Param
from hal.errors import DeviceError
from hal.i2c_devices import Ads1115, SMBusLike
from hal.real_drivers import BuildContext, RealDriver

OPEN_FRACTION = 0.98  # at or above this fraction of the reference nothing is plugged


def ohms_from_volts(volts: float, pullup_ohms: float, reference_v: float) -> float:
    """The coding resistor from the divider's voltage: inf when open, 0 at (or below) ground."""
    if volts >= reference_v * OPEN_FRACTION:
        return math.inf
    if volts <= 0.0:
        return 0.0
    return pullup_ohms * volts / (reference_v - volts)


def full_scale_for(reference_v: float) -> float:
    """The smallest ADS1115 range above the reference: an open PP reads below full scale."""
    above = [fs for fs in Ads1115.PGA if fs > reference_v]
    if not above:
        raise ValueError(f"PP reference {reference_v} V is above the ADS1115's largest range")
    return min(above)


class AdsProximity:
    """ProximityPilot on one input of an ADS1115 of its own."""

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x49,
        channel: int = 0,
        pullup_ohms: float = 1000.0,
        reference_v: float = 3.3,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        min_interval_s: float = 0.1,
        max_busy_polls: int = 20,
    ) -> None:
        if not pullup_ohms > 0 or not reference_v > 0:
            raise ValueError("the PP pull-up and its reference must be positive")
        if not 0 <= channel <= 3:
            raise ValueError(f"ADS1115 has inputs 0..3, not {channel}")
        self.bus = bus
        self.address = address
        self.channel = channel
        self.pullup_ohms = pullup_ohms
        self.reference_v = reference_v
        self.full_scale_v = full_scale_for(reference_v)
        self._now = now
        self._sleep = sleep
        self.min_interval_s = min_interval_s
        self.max_busy_polls = max_busy_polls
        self.adc: Ads1115 | None = None  # None: not armed (offline at start-up, or after an error)
        self._busy = False
        self._busy_polls = 0
        self._started_at = -math.inf
        self._ohms = math.nan
        try:  # arm and one blocking conversion at start-up, so that the first read has a value
            adc = self._arm()
            self._ohms = self._ohms_of(adc.read_blocking(channel))
        except DeviceError:
            self._lost()  # offline for now: reads raise until the ADC answers

    def _arm(self) -> Ads1115:
        if self.adc is None:
            self.adc = Ads1115(self.bus, self.address, self.full_scale_v, sleep=self._sleep)
        return self.adc

    def _lost(self) -> None:
        self.adc = None
        self._busy = False
        self._ohms = math.nan

    def _ohms_of(self, volts: float) -> float:
        return ohms_from_volts(volts, self.pullup_ohms, self.reference_v)

    def read_ohms(self) -> float:
        where = f"ADS1115 (PP) at 0x{self.address:02x}"
        try:
            self._poll(where)
        except DeviceError:
            self._lost()
            raise
        if math.isnan(self._ohms):
            raise DeviceError(f"{where}: {'offline' if self.adc is None else 'no PP conversion yet'}")
        return self._ohms

    def _poll(self, where: str) -> None:
        """Collect a finished conversion; start the next one when `min_interval_s` has passed."""
        if self._busy:
            assert self.adc is not None
            if not self.adc.ready():
                self._busy_polls += 1
                if self._busy_polls > self.max_busy_polls:
                    raise DeviceError(f"{where}: PP conversion never finished")
                return
            self._ohms = self._ohms_of(self.adc.volts())
            self._busy = False
        now = self._now()
        if now - self._started_at >= self.min_interval_s:
            self._started_at = now  # also paces the re-arm attempts of an ADC that does not answer
            self._arm().start(self.channel)
            self._busy = True
            self._busy_polls = 0


# --- board-file declaration -----------------------------------------------------------------------------------

NUMBER = (int, float)


def _build(p: dict[str, Any], ctx: BuildContext, name: str) -> AdsProximity:
    return AdsProximity(
        ctx.bus(p["i2c_bus"]),
        p["address"],
        p["channel"],
        pullup_ohms=float(p["pullup_ohms"]),
        reference_v=float(p["reference_v"]),
        now=ctx.now,
        sleep=ctx.sleep,
        min_interval_s=float(p["min_interval_s"]),
    )


PP_ADS1115 = RealDriver(
    "pp",
    "ads1115",
    {
        "i2c_bus": Param(int, default=1, min=0, why="/dev/i2c-N"),
        "address": Param(
            int,
            default=0x49,
            min=0x48,
            max=0x4B,
            why="ADS1115 ADDR pin: 0x48..0x4b; a chip of its own, not the pilot's (which converts without pause)",
        ),
        "channel": Param(int, default=0, min=0, max=3, why="the AIN input PP is wired to"),
        "pullup_ohms": Param(NUMBER, default=1000.0, min=100.0, max=10_000.0, why="PP pull-up to the reference"),
        "reference_v": Param(
            NUMBER, default=3.3, min=1.0, max=5.5, why="the pull-up's supply (at most the ADS1115's 5.5 V VDD)"
        ),
        "min_interval_s": Param(
            NUMBER, default=0.1, min=0.01, max=1.0, why="one conversion at most this often (a plug coming out)"
        ),
    },
    what="proximity pilot: the cable's coding resistor through a pull-up into an ADS1115 input",
    i2c=(("i2c_bus", "address"),),
    build=_build,
)
