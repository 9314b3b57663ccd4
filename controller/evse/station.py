"""Station-wide limits (pure): temperature band, tilt, protective earth, the main process heartbeat and the
loop's own health. Their faults apply to every socket and are reported on connector 0.

- Temperature: at/above TemperatureHigh -> HIGH_TEMPERATURE, at/below TemperatureLow -> LOW_TEMPERATURE; both
  pause. Charging resumes when the temperature is back inside the band by the board's
  `temperature_hysteresis_c` (5 °C): below High - 5, above Low + 5. Sensor lost (no reading, NaN) ->
  TEMPERATURE_SENSOR: stop and error until readings come back. `HARD_TEMPERATURE_MAX_C` stays behind
  TemperatureHigh: no key can raise the high limit above it.
- Tilt: the angle between the measured gravity vector and the calibrated one, above the board's
  `tilt_threshold_deg` -> TILT (stop, contactor open, state F); it clears when upright again, i.e. at or below
  threshold - `tilt_upright_margin_deg` (2°). A failed reading counts as tilted. The Alfen key list says a
  CalibrateTilt write "calibrates and enables" the sensor; we never leave a station unsupervised, so before
  any calibration the check runs against the sensor's own vertical (its `read_tilt_deg()`). A CalibrateTilt
  write takes the next gravity vector as the new vertical and is reported in `Calibration` (the main process
  persists it and hands it back as `_TiltVector`). The angle between vectors sees a tilt in every direction:
  20° to the other side of a calibrated 20° reads 40°, not 0°.
- Protective earth: with StrictPEMeasurementEnabled, PE not seen present (or not measurable) -> PE_MISSING.
- Main process silent for `main_silence_s` (no `limits` message) -> MAIN_SILENT (pause).
- Loop stall: the dead-man watchdog forced the outputs safe -> LOOP_STALL, held `stall_hold_s` after the
  loop ticks again so a charging restart is a fresh, ordinary one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.evse.faults import Fault
from controller.evse.settings import EvseConfig
from hal.i2c_devices import Vector, angle_deg

HARD_TEMPERATURE_MAX_C = 85.0  # a fixed over-temperature limit no configuration key can raise


def _valid_vector(v: Vector | None) -> bool:
    return v is not None and all(math.isfinite(x) for x in v) and any(x != 0.0 for x in v)


@dataclass
class StationInputs:
    temperature_c: float | None = 25.0  # None or NaN: sensor lost
    tilt_deg: float | None = 0.0  # the sensor's own angle from vertical; None: no sensor; NaN: the read failed
    tilt_vector: Vector | None = (0.0, 0.0, 1.0)  # gravity (g, sensor axes); None: no sensor; NaN: failed
    pe_present: bool | None = None  # None: the board does not measure protective earth
    suspend_input: bool | None = None  # the RJ11 contact closed; None: the board has no such input


@dataclass
class StationLimitSettings:
    """Board-given settings; the configuration keys live in `EvseConfig`."""

    temperature_high_c: float = 70.0  # kept for compatibility; EvseConfig holds the live value
    temperature_low_c: float = -25.0
    temperature_hysteresis_c: float = 5.0
    tilt_threshold_deg: float = 15.0
    tilt_upright_margin_deg: float = 2.0
    main_silence_s: float = 3.0
    stall_hold_s: float = 5.0


@dataclass
class Calibration:
    tilt_vector: Vector | None
    tilt_deg: float | None = None
    error: str | None = None


class StationLimits:
    def __init__(self, settings: StationLimitSettings, config: EvseConfig | None = None) -> None:
        self.settings = settings
        self.config = config or EvseConfig(
            temperature_high_c=settings.temperature_high_c, temperature_low_c=settings.temperature_low_c
        )
        self.faults: set[Fault] = set()
        self.stall_until: float | None = None
        self.calibration: Calibration | None = None  # set when a calibration happened; the loop reports it
        self.relative_tilt_deg: float | None = None

    def note_stall(self, now: float) -> None:
        self.stall_until = now + self.settings.stall_hold_s

    def step(self, now: float, st: StationInputs, main_seen_at: float) -> set[Fault]:
        s, c, f = self.settings, self.config, self.faults
        # temperature
        t = st.temperature_c
        if t is None or not math.isfinite(t):
            f.add(Fault.TEMPERATURE_SENSOR)
            f.discard(Fault.HIGH_TEMPERATURE)
            f.discard(Fault.LOW_TEMPERATURE)
        else:
            f.discard(Fault.TEMPERATURE_SENSOR)
            high = min(c.temperature_high_c, HARD_TEMPERATURE_MAX_C)
            if t >= high:
                f.add(Fault.HIGH_TEMPERATURE)
            elif t < high - s.temperature_hysteresis_c:
                f.discard(Fault.HIGH_TEMPERATURE)
            if t <= c.temperature_low_c:
                f.add(Fault.LOW_TEMPERATURE)
            elif t > c.temperature_low_c + s.temperature_hysteresis_c:
                f.discard(Fault.LOW_TEMPERATURE)
        # tilt
        if c.calibrate_tilt:
            c.calibrate_tilt = False
            if st.tilt_vector is None:
                self.calibration = Calibration(None, None, "this board has no tilt sensor")
            elif not _valid_vector(st.tilt_vector):
                self.calibration = Calibration(None, None, "the tilt sensor does not answer")
            else:
                vec = st.tilt_vector
                c.tilt_vector = (round(vec[0], 9), round(vec[1], 9), round(vec[2], 9))
                own = st.tilt_deg if st.tilt_deg is not None and math.isfinite(st.tilt_deg) else None
                self.calibration = Calibration(c.tilt_vector, None if own is None else round(own, 3))
        rel = self._relative_tilt(st)
        if rel is None:
            f.discard(Fault.TILT)
            self.relative_tilt_deg = None
        elif not math.isfinite(rel):
            f.add(Fault.TILT)
            self.relative_tilt_deg = None
        else:
            self.relative_tilt_deg = rel
            if rel > s.tilt_threshold_deg:
                f.add(Fault.TILT)
            elif rel <= s.tilt_threshold_deg - s.tilt_upright_margin_deg:
                f.discard(Fault.TILT)
        # protective earth
        if c.strict_pe and st.pe_present is not True:
            f.add(Fault.PE_MISSING)
        else:
            f.discard(Fault.PE_MISSING)
        # the main process
        if now - main_seen_at > s.main_silence_s:
            f.add(Fault.MAIN_SILENT)
        else:
            f.discard(Fault.MAIN_SILENT)
        # our own health
        if self.stall_until is not None and now < self.stall_until:
            f.add(Fault.LOOP_STALL)
        else:
            self.stall_until = None
            f.discard(Fault.LOOP_STALL)
        return set(f)

    def _relative_tilt(self, st: StationInputs) -> float | None:
        """The tilt to check: against the calibrated vector, else the sensor's own angle. None: no sensor;
        NaN: no valid reading (counts as tilted)."""
        cal = self.config.tilt_vector
        if cal is not None:
            if st.tilt_vector is None and st.tilt_deg is None:
                return None
            if not _valid_vector(st.tilt_vector) or not _valid_vector(cal):
                return math.nan
            assert st.tilt_vector is not None
            return round(angle_deg(st.tilt_vector, cal), 6)  # no float noise at the threshold
        if st.tilt_deg is None:
            return None
        return st.tilt_deg if math.isfinite(st.tilt_deg) and 0.0 <= st.tilt_deg <= 180.0 else math.nan
