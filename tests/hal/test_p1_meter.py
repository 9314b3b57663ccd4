"""The P1 grid meter on a pseudo-terminal fed with DSMR 5 telegrams in the real format (hal_fakes builds them,
with a CRC16 computed independently of dsmr-parser)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from hal_fakes import Clock, Pty, dsmr5_telegram

from hal.errors import DeviceOffline
from hal.interfaces import EnergyMeter
from hal.p1_meter import P1Meter, TelegramFramer


@pytest.fixture
def pty() -> Iterator[Pty]:
    p = Pty()
    yield p
    p.close()


def wait_for(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_dsmr5_telegram_over_the_serial_line(pty: Pty) -> None:
    meter = P1Meter(pty.name)
    try:
        assert isinstance(meter, EnergyMeter)
        time.sleep(0.05)  # the port is opened (and flushed) by the reader thread
        pty.send(dsmr5_telegram())
        wait_for(lambda: meter.telegrams == 1)
        r = meter.read()
        assert r.currents_a == pytest.approx((12.0, 3.0, 1.0), abs=0.01)
        assert r.voltages_v == (229.8, 231.2, 230.4)
        assert r.power_w == pytest.approx((12 * 229.8 + 3 * 231.2 + 230.4) * 0.95, abs=2)
        assert r.energy_wh == pytest.approx(8397332.0)
        assert r.extra["export_wh"] == pytest.approx(905956.0)
        assert meter.crc_errors == 0 and meter.parse_errors == 0
    finally:
        meter.close()


def test_export_makes_negative_currents_and_power_finer_than_one_ampere(pty: Pty) -> None:
    meter = P1Meter(pty.name)
    try:
        time.sleep(0.05)
        pty.send(dsmr5_telegram(currents=(9, 0, 1), plus_kw=(0.0, 0.0, 0.300), minus_kw=(2.100, 0.0, 0.0)))
        wait_for(lambda: meter.telegrams == 1)
        r = meter.read()
        assert r.currents_a[0] == pytest.approx(-2100 / 229.8, abs=0.001)  # exporting on L1
        assert r.currents_a[1] == 0.0
        assert r.currents_a[2] == pytest.approx(1.302, abs=0.001)  # 300 W / 230.4 V > the meter's "1 A"
        assert r.power_w == pytest.approx(-1800.0)
    finally:
        meter.close()


def test_broken_telegrams_are_dropped_and_counted(pty: Pty) -> None:
    meter = P1Meter(pty.name)
    try:
        time.sleep(0.05)
        pty.send(dsmr5_telegram(currents=(5, 5, 5)))
        wait_for(lambda: meter.telegrams == 1)
        pty.send(dsmr5_telegram(currents=(25, 25, 25), corrupt=True))
        half = dsmr5_telegram(currents=(30, 30, 30))
        pty.send(half[: len(half) // 2])  # the cable was pulled mid-telegram ...
        pty.send(dsmr5_telegram(currents=(7, 7, 7)))  # ... and plugged back in
        wait_for(lambda: meter.telegrams == 2)
        assert meter.crc_errors == 1
        assert meter.framer.truncated == 1
        assert meter.read().currents_a == pytest.approx((7.0, 7.0, 7.0), abs=0.01)
    finally:
        meter.close()


def test_stale_and_missing_port() -> None:
    clock = Clock()
    meter = P1Meter("/dev/does-not-exist", now=clock, stale_after_s=10.0, start=False)
    meter.feed(dsmr5_telegram())
    assert meter.read().currents_a[0] == pytest.approx(12.0, abs=0.01)
    clock.advance(11.0)
    with pytest.raises(DeviceOffline, match="11.0 s old"):
        meter.read()
    missing = P1Meter("/dev/does-not-exist", reopen_s=10.0)
    try:
        wait_for(lambda: missing.port_errors == 1)
        with pytest.raises(DeviceOffline, match="cannot open /dev/does-not-exist"):
            missing.read()
    finally:
        missing.close()


def test_framer_finds_telegrams_in_any_chunking() -> None:
    stream = b"garbage" + dsmr5_telegram() + dsmr5_telegram(currents=(1, 2, 3))
    framer = TelegramFramer()
    out = []
    for i in range(0, len(stream), 37):
        out.extend(framer.feed(stream[i : i + 37]))
    assert len(out) == 2
    assert framer.discarded_bytes == len(b"garbage")
    assert out[1].startswith("/ISk5") and out[1].endswith("\r\n")


@pytest.mark.parametrize(("spec", "fresh_s", "stale_s"), [("v4", 25.0, 31.0), ("v5", 4.0, 6.0), ("belgium", 4.0, 6.0)])
def test_staleness_follows_the_specs_telegram_interval(spec: str, fresh_s: float, stale_s: float) -> None:
    """DSMR 4 sends a telegram every 10 s: a 10 s limit would call every slightly late one stale."""
    from hal_fakes import Clock

    clock = Clock()
    meter = P1Meter("loop://", spec=spec, now=clock, start=False)
    meter.latest.put(_reading())
    clock.advance(fresh_s)
    assert meter.read().currents_a[0] == 12.0
    clock.advance(stale_s - fresh_s)
    with pytest.raises(DeviceOffline, match="old"):
        meter.read()


def _reading():  # type: ignore[no-untyped-def]
    from hal.interfaces import MeterReading

    return MeterReading(currents_a=(12.0, 3.0, 1.0))
