"""The hardware of board/cm4-rev1.toml, faked the way it behaves (shared by the probe test and the real HIL rig
test): gpiozero MockFactory pins wired like the contactor (mirror contact) and the RCD module (test, latch,
reset), a fake SMBus with the pilot and PP ADCs, the thermometer and the accelerometer, a sysfs-shaped PWM
class, a PN532 emulator on a pty, a P1 port on a pty and a real pymodbus server for the meter. `path` is the
board file with the ports of these fakes; `ctx` the BuildContext that reaches them."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hal"))
from hal_fakes import (  # noqa: E402
    ContactorCoilPin,
    FakeAds1115,
    FakeAdxl345,
    FakeEv,
    FakeMcp9808,
    FakeSMBus,
    PilotFrontEnd,
    PpCircuit,
    Pty,
    RcdResetPin,
    RcdTestPin,
    dsmr5_telegram,
    make_pwmchip,
    make_system_root,
)
from pn532_emulator import PtyPn532  # noqa: E402

from board.loader import builtin_board  # noqa: E402
from hal.modbus_meter import MeterValues, SdmMeterServer  # noqa: E402
from hal.real_drivers import BuildContext  # noqa: E402


def pwm_capable(cls: type) -> type:
    """The wired mock pin as a line of a factory whose lines are PWM-capable (gpiozero checks the kind)."""
    return type(f"Pwm{cls.__name__}", (cls, MockPWMPin), {})


class BoardBench:
    """The board's hardware, faked like the hardware behaves."""

    def __init__(self, tmp_path: Path) -> None:
        chip = make_pwmchip(tmp_path / "pwm", 0, exported=(0,))
        self.pwm_dir = chip / "pwm0"
        self.ev = FakeEv()
        self.front = PilotFrontEnd(self.pwm_dir, self.ev)
        self.pp = PpCircuit(channel=0, pullup_ohms=1000.0, reference_v=3.3)
        self.bus = FakeSMBus({
            0x48: FakeAds1115(time.monotonic, self.front.analog), 0x49: FakeAds1115(time.monotonic, self.pp),
            0x18: FakeMcp9808(24.0), 0x53: FakeAdxl345(),
        })  # type: ignore[arg-type]  # fmt: skip
        # one factory for every device, as on the board: every line PWM-capable (the LEDs dim)
        self.pins = MockFactory(pin_class=MockPWMPin)
        self.coil = self.pins.pin(17, pin_class=pwm_capable(ContactorCoilPin), mirror_pin=self.pins.pin(27))
        self.rcd_fault = fault = self.pins.pin(24)
        self.rcd_test = self.pins.pin(25, pin_class=pwm_capable(RcdTestPin), fault_pin=fault)
        self.pins.pin(26, pin_class=pwm_capable(RcdResetPin), fault_pin=fault)
        self.meter = SdmMeterServer(MeterValues(import_kwh=12.5), framer="rtu")
        self.meter.start()
        self.reader = PtyPn532()
        self.p1 = Pty()
        self._stop = threading.Event()
        self._p1_thread = threading.Thread(target=self._p1_sender, daemon=True)
        self._p1_thread.start()
        self.ctx = BuildContext(
            pin_factory=self.pins, smbus=lambda n: self.bus, sysfs_root=str(tmp_path / "pwm"),
            system_root=str(make_system_root(tmp_path / "root")),
        )
        self.text = (
            builtin_board("cm4-rev1").read_text()
            .replace('port = "/dev/ttyAMA3"', f'port = "socket://127.0.0.1:{self.meter.port}"')
            .replace('port = "/dev/ttyAMA4"', f'port = "{self.reader.name}"')
            .replace('port = "/dev/ttyAMA0"', f'port = "{self.p1.name}"')
        )
        self.path = tmp_path / "board.toml"
        self.path.write_text(self.text)

    def _p1_sender(self) -> None:  # a P1 port sends a telegram every second; faster here
        while not self._stop.wait(0.1):
            self.p1.send(dsmr5_telegram())

    def close(self) -> None:
        self._stop.set()
        self._p1_thread.join()
        self.meter.stop()
        self.reader.close()
        self.p1.close()


