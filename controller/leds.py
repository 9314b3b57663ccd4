"""The status LEDs (main process: not on the power path): what they show for each station state, how
bright (LightIntensity, AutoDimLights with dusk/dawn from Latitude/Longitude), the NFC status LED (LED Heart
Beat Mode/Intensity), blinking signals (BlinkRepeat) and the not-charging warning (TimeReportWhenNotCharging).

The choice of colour and pattern is a pure function of the connector statuses; `LedController` applies it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.clock import Clock
from controller.config.registry import ConfigRegistry
from hal.interfaces import Leds

IDLE_DIM_AFTER_S = 60.0
NIGHT_DIM_FACTOR = 0.3
#: The Interface keys the LEDs apply (re-evaluated on every change).
CONFIG_KEYS = ("LightIntensity", "AutoDimLights", "LED Heart Beat Mode", "LED Heart Beat Intensity", "Latitude",
               "Longitude", "BlinkRepeat")

# status -> (colour, pattern), most important first when several connectors differ
STATUS_LOOK: dict[str, tuple[str, str]] = {
    "Faulted": ("red", "blink"),
    "Unavailable": ("red", "solid"),
    "Charging": ("blue", "pulse"),
    "SuspendedEVSE": ("blue", "solid"),
    "SuspendedEV": ("blue", "solid"),
    "Preparing": ("white", "blink"),
    "Finishing": ("white", "solid"),
    "Reserved": ("white", "pulse"),
    "Available": ("green", "solid"),
}
WARNING_LOOK = ("orange", "solid")


def look_for(statuses: list[str], warning: bool) -> tuple[str, str]:
    """Colour and pattern for the connector statuses (the most important one wins)."""
    if warning and "Faulted" not in statuses:
        return WARNING_LOOK
    for status, look in STATUS_LOOK.items():
        if status in statuses:
            return look
    return ("green", "solid")


def sun_times(day: datetime, latitude: float, longitude: float) -> tuple[datetime, datetime] | None:
    """Sunrise and sunset (UTC) on `day` (NOAA's simplified equations); None in polar day or night."""
    n = day.timetuple().tm_yday
    gamma = 2 * math.pi / 365 * (n - 1)
    eqtime = 229.18 * (
        0.000075 + 0.001868 * math.cos(gamma) - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma) - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918 - 0.399912 * math.cos(gamma) + 0.070257 * math.sin(gamma) - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma) - 0.002697 * math.cos(3 * gamma) + 0.00148 * math.sin(3 * gamma)
    )
    lat = math.radians(latitude)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(lat) * math.cos(decl)) - math.tan(lat) * math.tan(decl)
    if not -1.0 <= cos_ha <= 1.0:
        return None
    ha = math.degrees(math.acos(cos_ha))
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
    sunrise = midnight + timedelta(minutes=720 - 4 * (longitude + ha) - eqtime)
    sunset = midnight + timedelta(minutes=720 - 4 * (longitude - ha) - eqtime)
    return sunrise, sunset


def is_dark(now_utc: datetime, latitude: float, longitude: float) -> bool:
    times = sun_times(now_utc, latitude, longitude)
    if times is None:  # polar: dark in the winter half of the hemisphere
        winter = now_utc.month in (10, 11, 12, 1, 2, 3)
        return winter if latitude >= 0 else not winter
    sunrise, sunset = times
    return not sunrise <= now_utc <= sunset


def intensity(
    light_intensity: int, auto_dim: bool, idle_s: float, now_utc: datetime, latitude: float, longitude: float
) -> int:
    """LightIntensity, dimmed after 60 s without interaction between dusk and dawn when AutoDimLights."""
    if auto_dim and idle_s >= IDLE_DIM_AFTER_S and is_dark(now_utc, latitude, longitude):
        return int(round(light_intensity * NIGHT_DIM_FACTOR))
    return light_intensity


@dataclass
class LedState:
    color: str
    pattern: str
    intensity: int
    nfc_intensity: int


class LedController:
    """Drives the LEDs from the station state and the Interface keys; re-evaluated on every change."""

    def __init__(self, leds: Leds | None, config: ConfigRegistry, clock: Clock) -> None:
        self.leds = leds
        self.config = config
        self.clock = clock
        self.last_interaction = clock.monotonic()
        self.state: LedState | None = None
        self._statuses: list[str] = []
        self._warning = False
        self._signal: tuple[str, int] | None = None
        config.bind("leds", CONFIG_KEYS, on_change=lambda *_: self.refresh())

    def interaction(self) -> None:
        self.last_interaction = self.clock.monotonic()
        self.refresh()

    def signal(self, color: str) -> None:
        """Blink `color` BlinkRepeat times (e.g. a refused card), shown until the next refresh tick."""
        self._signal = (color, self.config.get_int("BlinkRepeat"))
        self.refresh()
        self._signal = None

    def update(self, statuses: list[str], warning: bool) -> None:
        self._statuses = statuses
        self._warning = warning
        self.refresh()

    def compute(self) -> LedState:
        c = self.config
        level = intensity(
            c.get_int("LightIntensity"),
            c.get_bool("AutoDimLights"),
            self.clock.monotonic() - self.last_interaction,
            self.clock.now(),
            c.get_float("Latitude"),
            c.get_float("Longitude"),
        )
        color, pattern = look_for(self._statuses, self._warning)
        if self._signal is not None:
            color, pattern = self._signal[0], f"blink{self._signal[1]}"
        nfc = c.get_int("LED Heart Beat Intensity") if c.get("LED Heart Beat Mode") == "Glow" else 0
        return LedState(color, pattern, level, min(nfc, level) if nfc else 0)

    def refresh(self) -> None:
        new = self.compute()
        if new == self.state or self.leds is None:
            self.state = new
            return
        self.state = new
        self.leds.show(new.color, new.pattern, new.intensity)
        show_nfc = getattr(self.leds, "show_nfc", None)
        if show_nfc is not None:
            show_nfc(new.nfc_intensity)
