"""The LEDs: colour per status, LightIntensity and AutoDimLights (dusk/dawn), NFC LED, blink signals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.leds import LedController, intensity, is_dark, look_for
from hal.sim.devices import SimLeds

AMSTERDAM = (52.37, 4.90)


@pytest.mark.parametrize(
    ("statuses", "warning", "look"),
    [
        (["Available"], False, ("green", "solid")),
        (["Charging"], False, ("blue", "pulse")),
        (["Available", "Faulted"], False, ("red", "blink")),
        (["SuspendedEV"], True, ("orange", "solid")),
        (["Faulted"], True, ("red", "blink")),
        (["Preparing", "Charging"], False, ("blue", "pulse")),
    ],
)
def test_look_for(statuses: list[str], warning: bool, look: tuple[str, str]) -> None:
    assert look_for(statuses, warning) == look


@pytest.mark.parametrize(
    ("when", "dark"),
    [
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), False),
        (datetime(2026, 11, 24, 22, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 24, 6, 30, tzinfo=UTC), True),  # sunrise in Amsterdam is about 07:25 UTC
        (datetime(2026, 6, 21, 20, 30, tzinfo=UTC), True),  # sunset about 20:05 UTC
        (datetime(2026, 6, 21, 19, 30, tzinfo=UTC), False),
    ],
)
def test_is_dark_amsterdam(when: datetime, dark: bool) -> None:
    assert is_dark(when, *AMSTERDAM) is dark


def test_intensity_dims_only_at_night_after_idle() -> None:
    night = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert intensity(80, True, 59.9, night, *AMSTERDAM) == 80
    assert intensity(80, True, 60.0, night, *AMSTERDAM) == 24
    assert intensity(80, True, 600.0, noon, *AMSTERDAM) == 80
    assert intensity(80, False, 600.0, night, *AMSTERDAM) == 80


def test_light_intensity_change_takes_effect_at_once(tmp_path: Path) -> None:
    clock = FakeClock(wall=datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    leds = SimLeds(clock.monotonic)
    ctl = LedController(leds, reg, clock)
    ctl.update(["Charging"], False)
    assert leds.state == ("blue", "pulse", 100)
    assert reg.set("LightIntensity", "40") == "Accepted"
    assert leds.state == ("blue", "pulse", 40)
    assert reg.set("LED Heart Beat Mode", "Glow") == "Accepted"
    assert reg.set("LED Heart Beat Intensity", "70") == "Accepted"
    assert leds.nfc_intensity == 40  # never brighter than the main LEDs
    assert reg.set("LightIntensity", "100") == "Accepted"
    assert leds.nfc_intensity == 70
    reg.set("BlinkRepeat", "5")
    ctl.signal("red")
    assert leds.state == ("red", "blink5", 100)
    ctl.refresh()  # the next housekeeping tick shows the status again
    assert leds.state == ("blue", "pulse", 100)
