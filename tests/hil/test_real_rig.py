"""The real HIL rig (hil/real.py) on gpiozero's MockFactory, wired to the board under test the way the rig's
cables are: its relays change what the board's own drivers read (the pilot ADC fake, the RCD's fault line,
the thermometer and accelerometer on the fake I2C bus, the PN532 emulator's field, the meter's currents),
and its inputs see the board's PWM and contactor. Two Pis, two pin factories: the rig's and the board's."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "board"))
from board_bench import BoardBench  # noqa: E402

from board.loader import load_board  # noqa: E402
from controller.backoffice.server import Record  # noqa: E402
from hal.interfaces import PilotOutput  # noqa: E402
from hal.modbus_meter import MeterValues  # noqa: E402
from hal.real_drivers import build, close_all  # noqa: E402
from hil.real import RELAYS, RealRig, RigWiring  # noqa: E402

SERVO_FRAME_S, SERVO_MID_S, SERVO_HALF_RANGE_S = 0.020, 0.0015, 0.0005  # gpiozero's Servo defaults


class RelayPin(MockPWMPin):
    """A rig output: switching it changes the board's side (`on_change`)."""

    def __init__(self, factory, info, on_change: Callable[[], None] | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(factory, info)
        self.on_change = on_change

    def _change_state(self, value):  # type: ignore[no-untyped-def]
        changed = super()._change_state(value)
        if self.on_change is not None:
            self.on_change()
        return changed


class SensePin(MockPWMPin):
    """A rig input: reads the board's side live (a comparator, an auxiliary contact)."""

    def __init__(self, factory, info, sense: Callable[[], bool] | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(factory, info)
        self.sense = sense

    def _get_state(self):  # type: ignore[no-untyped-def]
        return bool(self.sense()) if self.sense is not None else super()._get_state()


class Cables:
    """What the rig's relays and inputs are connected to on the board (docs/hil-rig.md)."""

    def __init__(self, bench: BoardBench, wiring: RigWiring) -> None:
        self.bench, self.w = bench, wiring
        self.pins = MockFactory(pin_class=MockPWMPin)
        self.relay_pins = {n: self.pins.pin(getattr(wiring, n), pin_class=RelayPin, on_change=self.update) for n in RELAYS}
        self.servo_pin = self.pins.pin(wiring.tilt_servo, pin_class=RelayPin, on_change=self.update)
        self.pins.pin(wiring.pwm_detect, pin_class=SensePin, sense=self.pwm_present)
        self.pins.pin(wiring.contactor_sense, pin_class=SensePin, sense=self.contactor_closed)
        self._rcd_current = False
        serve = bench.meter.current_words

        def words() -> dict[int, int]:  # the load bank's current flows through the meter
            amps = wiring.load_a if self.on("load") and self.contactor_closed() else 0.0
            bench.meter.values = MeterValues(currents=(amps,) * 3, import_kwh=12.5)
            return serve()

        bench.meter.current_words = words  # type: ignore[method-assign]

    def on(self, relay: str) -> bool:
        return self.relay_pins[relay].state == (1 if self.w.relay_active_high else 0) and self._claimed(relay)

    def _claimed(self, relay: str) -> bool:
        return self.relay_pins[relay].function == "output"

    def pwm_present(self) -> bool:
        d = self.bench.pwm_dir
        period, duty = int((d / "period").read_text()), int((d / "duty_cycle").read_text())
        return (d / "enable").read_text().strip() == "1" and 0 < duty < period

    def contactor_closed(self) -> bool:
        return not self.bench.coil.mirror_pin.state  # the NC mirror contact opens when the main contacts close

    def update(self) -> None:
        ev = self.bench.ev
        if self.on("cp_short"):
            ev.state = "E"
        else:
            ev.state = "A" if not self.on("cp_plug") else ("C" if self.on("cp_s2") else "B")
        ev.diode = not self.on("diode_bypass")
        rcd = self.on("rcd_test")
        if rcd and not self._rcd_current:
            self.bench.rcd_fault.drive_high()  # the module trips on the test current and latches
        self._rcd_current = rcd
        self.bench.bus.chips[0x18].celsius = self.w.hot_c if self.on("hot_sensor") else 24.0
        self.bench.reader.core.card = bytes.fromhex(self.w.card_uid) if self.on("card") else None
        if self.servo_pin.function == "output" and self.servo_pin.state:
            pulse = float(self.servo_pin.state) * SERVO_FRAME_S
            self.bench.bus.chips[0x53].tilt((pulse - SERVO_MID_S) / SERVO_HALF_RANGE_S * 90.0)


class Bench:
    def __init__(self, tmp_path: Path) -> None:
        self.board = BoardBench(tmp_path)
        self.wiring = RigWiring(card_pulse_s=0.5)
        self.cables = Cables(self.board, self.wiring)
        self.records: list[Record] = []
        self.t = 0.0
        self.rig = RealRig(self, "HIL", self.wiring, pin_factory=self.cables.pins, now=lambda: self.t,
                           sleep=self.sleep)
        spec = load_board(self.board.path)
        self.devices: dict[str, Any] = {}
        for kind in ("pilot", "contactor", "rcd", "meter"):
            self.devices[kind] = build(kind, spec.connectors[0].devices[kind], self.board.ctx)
        self.sensor_t = 0.0  # the sensors' clock: each read below is a fresh conversion (they rate-limit)
        sensors = dataclasses.replace(self.board.ctx, now=lambda: self.sensor_t)
        for kind in ("temperature", "tilt"):
            self.devices[kind] = build(kind, spec.station[kind], sensors)
        self.devices["rfid"] = build("rfid", spec.station["rfid"], self.board.ctx)
        self.cards: list[str] = []

    async def sleep(self, seconds: float) -> None:
        """The rig's waits: the board's reader polls meanwhile (a card pulse is seen, or not, by then)."""
        end = time.monotonic() + min(seconds, 2.0)
        while time.monotonic() < end and not self.cards:
            uid = self.devices["rfid"].poll()
            if uid:
                self.cards.append(uid)
            await asyncio.sleep(0.01)

    def pilot(self) -> tuple[float, float | None]:
        pilot, r = self.devices["pilot"], None
        end = time.monotonic() + 0.15  # conversions after the stage settled
        while time.monotonic() < end:
            r = pilot.read()
            time.sleep(0.005)
        assert r is not None
        return round(r.high_v, 1), None if r.low_v is None else round(r.low_v, 1)

    async def close(self) -> None:
        await self.rig.close()
        close_all(list(self.devices.values()))
        self.board.close()


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    b = Bench(tmp_path)
    yield b
    await b.close()


async def test_the_pilot_follows_the_emulated_car(bench: Bench) -> None:
    rig = bench.rig
    assert bench.pilot()[0] == 12.0  # nothing plugged: state A
    assert (await rig.command("plug", connector=1, ev={"max_current": 16}))["ok"]
    assert bench.pilot()[0] == 9.0  # the diode and 2.74 kOhm: state B
    bench.devices["pilot"].set_output(PilotOutput.pwm(26.7))  # the board offers 16 A
    rig.step()  # the car sees the PWM (the rig's detector) and closes S2
    assert bench.cables.on("cp_s2") and bench.cables.on("load")
    assert bench.pilot() == (6.0, -12.0)  # state C, the diode's -12 V low phase
    assert (await rig.command("ev_misbehave", connector=1, diode_missing=True))["ok"]
    assert bench.pilot()[1] == -6.0  # no diode: the low phase mirrors the high one
    await rig.command("ev_misbehave", connector=1, diode_missing=False, shorted=True)
    rig.step()
    assert bench.pilot()[0] == 0.0 and not bench.cables.on("cp_s2")  # CP shorted to PE: state E
    await rig.command("ev_misbehave", connector=1, shorted=False)
    await rig.command("unplug", connector=1)
    assert bench.pilot()[0] == 12.0


async def test_the_board_charges_the_load_bank_through_its_contactor_and_meter(bench: Bench) -> None:
    rig = bench.rig
    await rig.command("plug", connector=1)
    bench.devices["pilot"].set_output(PilotOutput.pwm(26.7))
    rig.step()
    status = (await rig.command("status"))["connectors"][0]
    assert (status["contactor"], status["currents"]) == ("open", [0.0] * 3)
    bench.devices["contactor"].set_closed(True)  # the board's loop closes it
    status = (await rig.command("status"))["connectors"][0]
    assert (status["contactor"], status["currents"]) == ("closed", [16.0] * 3)
    meter = bench.devices["meter"]
    end = time.monotonic() + 5
    while True:  # the board's meter polls its bus
        try:
            if meter.read().currents_a == (16.0, 16.0, 16.0):
                break
        except Exception:  # noqa: BLE001 - no reading yet
            pass
        assert time.monotonic() < end, "the board's meter never read the load bank's current"
        await asyncio.sleep(0.05)
    bench.t += 3600.0  # an hour at 3 x 16 A x 230 V, integrated by the rig
    rig.step()
    assert (await rig.command("status"))["connectors"][0]["energy_wh"] == pytest.approx(11040.0)
    bench.devices["contactor"].set_closed(False)
    assert (await rig.command("status"))["connectors"][0]["currents"] == [0.0] * 3


async def test_the_rcd_test_current_trips_the_boards_rcd(bench: Bench) -> None:
    rcd = bench.devices["rcd"]
    assert not rcd.tripped()
    assert (await bench.rig.command("rcd", connector=1, trip=True))["ok"]
    assert rcd.tripped()
    await bench.rig.command("rcd", connector=1, trip=False)
    assert rcd.tripped()  # the module latches
    rcd.reset()
    assert not rcd.tripped()


async def test_the_hot_block_and_the_tilt_stage(bench: Bench) -> None:
    def fresh(read: Callable[[], float]) -> float:
        for _ in range(5):  # the accelerometer's driver averages its last 5 samples (a door slam is no tilt)
            bench.sensor_t += 1.0
            value = read()
        return value

    temp = bench.devices["temperature"].read_celsius
    tilt = bench.devices["tilt"].read_tilt_deg
    assert fresh(temp) == 24.0
    await bench.rig.command("temperature", celsius=95)
    assert fresh(temp) == 95.0
    await bench.rig.command("temperature", celsius=25)
    assert fresh(temp) == 24.0
    assert fresh(tilt) == pytest.approx(0.0, abs=0.5)
    await bench.rig.command("tilt", degrees=40)
    assert fresh(tilt) == pytest.approx(40.0, abs=1.0)
    await bench.rig.command("tilt", degrees=0)
    assert fresh(tilt) == pytest.approx(0.0, abs=1.0)


async def test_the_card_presenter_shows_the_rigs_card_to_the_boards_reader(bench: Bench) -> None:
    reply = await bench.rig.command("tag", uid="HIL-CARD")
    assert reply == {"ok": True, "uid": "04A224B2C31D80"}
    assert bench.cards == ["04A224B2C31D80"]
    assert not bench.cables.on("card")  # the pulse is over: the card left the field


async def test_the_status_says_what_the_back_office_heard(bench: Bench) -> None:
    def status_notification(cid: int, status: str, error: str = "NoError") -> Record:
        payload = {"connectorId": cid, "status": status, "errorCode": error}
        return Record("HIL", "in", "StatusNotification", payload, "1", 0.0)

    bench.records += [status_notification(1, "Preparing"), status_notification(0, "Available"),
                      status_notification(1, "Faulted", "GroundFailure"), Record("OTHER", "in", "StatusNotification",
                                                                               {"connectorId": 1, "status": "Charging"}, "2", 0.0)]
    conn = (await bench.rig.command("status"))["connectors"][0]
    assert (conn["ocpp_status"], conn["error_code"]) == ("Faulted", "GroundFailure")
    assert (await bench.rig.command("plug", connector=2)) == {
        "ok": False, "error": "this rig emulates the car of connector 1 only"}
    assert not (await bench.rig.command("grid"))["ok"]


async def test_closing_the_rig_releases_every_relay(bench: Bench) -> None:
    await bench.rig.command("plug", connector=1)
    await bench.rig.command("rcd", connector=1, trip=True)
    assert bench.cables.on("cp_plug") and bench.cables.on("rcd_test")
    await bench.rig.close()
    off = 0 if bench.wiring.relay_active_high else 1
    pins = [bench.cables.relay_pins[r] for r in RELAYS]
    assert [p.states[-2].state for p in pins] == [off] * len(RELAYS)  # driven off ...
    assert [p.function for p in pins] == ["input"] * len(RELAYS)  # ... then released (the relay board's pull-ups)
