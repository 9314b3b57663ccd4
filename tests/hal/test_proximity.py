"""The real proximity pilot (hal/proximity.py) against the strict fake ADS1115: the coding resistors of IEC
61851-1 Annex B read back through the pull-up divider to the loop's own cable rating; an open PP, an ADC that
stops answering, a conversion that never finishes and an ADC offline at start-up each have their reaction."""

from __future__ import annotations

import math

import pytest
from hal_fakes import Clock, FakeAds1115, FakeSMBus, PpCircuit

from controller.evse.pilot import cable_rating
from hal.errors import DeviceError
from hal.interfaces import ProximityPilot
from hal.proximity import AdsProximity, full_scale_for

TICK = 0.01  # the control loop reads every device once per tick
ADDRESS = 0x49


class Rig:
    def __init__(self, cable_ohms: float = math.inf, chip_present: bool = True, channel: int = 2) -> None:
        self.clock = Clock()
        self.pp_circuit = PpCircuit(channel=channel, pullup_ohms=1000.0, reference_v=3.3)
        self.pp_circuit.plug(cable_ohms)
        self.adc = FakeAds1115(self.clock, self.pp_circuit)
        self.bus = FakeSMBus({ADDRESS: self.adc} if chip_present else {})
        self.pp = AdsProximity(
            self.bus, ADDRESS, channel, pullup_ohms=1000.0, reference_v=3.3, now=self.clock,
            sleep=self.clock.advance, min_interval_s=0.1, max_busy_polls=20,
        )  # fmt: skip

    def tick(self) -> float:
        self.clock.advance(TICK)
        return self.pp.read_ohms()

    def settle(self, seconds: float = 0.25) -> float:
        """Ticks for `seconds` (a few conversions); the last reading (NaN when it raised)."""
        value = math.nan
        for _ in range(round(seconds / TICK)):
            try:
                value = self.tick()
            except DeviceError:
                value = math.nan
        return value


ANNEX_B = [(1500.0, 13.0), (680.0, 20.0), (220.0, 32.0), (100.0, 63.0)]


@pytest.mark.parametrize(("cable_ohms", "amps"), ANNEX_B)
def test_annex_b_coding_resistors_read_back_to_the_cable_rating(cable_ohms: float, amps: float) -> None:
    r = Rig(cable_ohms)
    assert isinstance(r.pp, ProximityPilot)
    ohms = r.pp.read_ohms()  # the start-up conversion
    assert ohms == pytest.approx(cable_ohms, rel=0.01)
    assert cable_rating(ohms) == amps
    assert set(r.adc.started) == {2}  # single-ended AIN2, the input the board names


def test_a_cable_plugged_later_is_read_by_the_running_conversions() -> None:
    r = Rig()
    assert r.pp.read_ohms() == math.inf and cable_rating(math.inf) is None  # nothing plugged
    for cable_ohms, amps in ANNEX_B:
        r.pp_circuit.plug(cable_ohms)
        assert cable_rating(r.settle()) == amps
    r.pp_circuit.plug(math.inf)  # the plug comes out
    assert r.settle() == math.inf


def test_reads_never_wait_and_convert_at_most_every_interval() -> None:
    r = Rig(220.0)
    r.pp.read_ohms()
    before = len(r.adc.started)
    r.settle(1.0)  # 100 ticks
    assert 9 <= len(r.adc.started) - before <= 10  # one conversion per 0.1 s (float clock), never one per tick


@pytest.mark.parametrize("cable_ohms", [math.inf, 0.0, 330.0, 5000.0])
def test_open_short_or_between_windows_is_no_valid_cable(cable_ohms: float) -> None:
    r = Rig(cable_ohms)
    assert cable_rating(r.settle()) is None


def test_the_full_scale_is_above_the_reference_so_an_open_pp_never_clips() -> None:
    r = Rig()
    assert (r.adc.config >> 9) & 0x7 == 1  # PGA ±4.096 V for a 3.3 V reference
    assert full_scale_for(3.3) == 4.096 and full_scale_for(5.0) == 6.144 and full_scale_for(2.0) == 2.048
    assert r.pp.read_ohms() == math.inf


def test_an_adc_that_stops_answering_raises_until_it_answers_again() -> None:
    r = Rig(220.0)
    assert cable_rating(r.settle()) == 32.0
    del r.bus.chips[ADDRESS]  # gone mid-session: every transfer NACKs
    served = 0
    while True:  # the last value at most until the next conversion is due (min_interval_s)
        try:
            r.tick()
        except DeviceError:
            break
        served += 1
        assert served * TICK <= r.pp.min_interval_s
    for _ in range(50):
        with pytest.raises(DeviceError):  # never the last value again: the loop sees no valid cable
            r.tick()
    r.pp_circuit.plug(1500.0)  # another cable while the ADC was away
    r.adc.power_cycle()
    r.bus.chips[ADDRESS] = r.adc  # back, reset to its power-up configuration
    values = []
    for _ in range(30):
        try:
            values.append(r.tick())
        except DeviceError:
            assert not values  # errors only until the first fresh conversion
    assert values and all(cable_rating(v) == 13.0 for v in values)  # nothing from before the outage


def test_a_conversion_that_never_finishes_raises_after_max_busy_polls() -> None:
    r = Rig(680.0)
    assert cable_rating(r.settle()) == 20.0
    r.adc.stuck = True
    r.clock.advance(0.1)
    assert cable_rating(r.pp.read_ohms()) == 20.0  # starts the conversion that will never finish
    for _ in range(r.pp.max_busy_polls):
        assert cable_rating(r.tick()) == 20.0  # still running: the last value, no wait
    with pytest.raises(DeviceError, match="never finished"):
        r.tick()
    with pytest.raises(DeviceError):
        r.tick()  # the stale value is gone
    r.adc.stuck = False
    r.adc.power_cycle()
    assert cable_rating(r.settle()) == 20.0


def test_an_adc_offline_at_start_up_raises_on_every_read_until_it_answers() -> None:
    r = Rig(100.0, chip_present=False)  # building does not fail: the board starts, the socket does not charge
    for _ in range(100):
        with pytest.raises(DeviceError):
            r.tick()
    r.bus.chips[ADDRESS] = r.adc
    assert cable_rating(r.settle()) == 63.0


def test_a_wrong_chip_at_the_address_is_not_read_as_a_cable() -> None:
    clock = Clock()
    adc = FakeAds1115(clock, PpCircuit())
    adc.lo = 0x1234  # not the ADS1115's power-up threshold: another chip at the address
    pp = AdsProximity(FakeSMBus({ADDRESS: adc}), ADDRESS, now=clock, sleep=clock.advance)
    with pytest.raises(DeviceError):
        pp.read_ohms()


def test_impossible_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="inputs 0..3"):
        AdsProximity(FakeSMBus(), ADDRESS, channel=4)
    with pytest.raises(ValueError, match="positive"):
        AdsProximity(FakeSMBus(), ADDRESS, pullup_ohms=0)
    with pytest.raises(ValueError, match="largest range"):
        AdsProximity(FakeSMBus(), ADDRESS, reference_v=7.0)


def test_the_loop_reads_an_adc_that_stops_answering_as_no_valid_cable() -> None:
    """The loop's device read (controller/evse/devio.py) with this driver in the socket: the rating while the
    ADC answers, NaN (no valid cable: no charge) once it does not; never an exception out of the read."""
    from board.loader import builtin_board, load_board
    from controller.evse.devio import read_inputs
    from hal.factory import build_power_path

    r = Rig(220.0)
    power = build_power_path(load_board(builtin_board("sim")), r.clock)
    power.sockets[1].pp = r.pp
    try:
        assert cable_rating(read_inputs(power).connectors[1].pp_ohms) == 32.0
        del r.bus.chips[ADDRESS]
        r.clock.advance(r.pp.min_interval_s)
        ohms = read_inputs(power).connectors[1].pp_ohms
        assert ohms is not None and math.isnan(ohms) and cable_rating(ohms) is None
    finally:
        power.close()
