"""GPIO input edges wake the control loop: the self-pipe becomes readable on an RCD trip."""

from __future__ import annotations

import select
import time

from gpiozero.pins.mock import MockFactory

from hal.edges import EdgePipe, input_devices, watch_edges
from hal.gpio import GpioContactor, GpioRcd


def test_an_rcd_trip_makes_the_pipe_readable() -> None:
    factory = MockFactory()
    rcd = GpioRcd(fault_pin=5, test_pin=6, pin_factory=factory)
    contactor = GpioContactor(pin=17, feedback_pin=27, pin_factory=factory)
    pipe = EdgePipe()
    try:
        assert watch_edges([rcd, contactor, object()], pipe.notify) == 2  # fault line and mirror contact
        assert select.select([pipe], [], [], 0)[0] == []
        factory.pin(5).drive_high()  # the module's fault output
        deadline = time.monotonic() + 2
        while not select.select([pipe], [], [], 0.05)[0]:
            assert time.monotonic() < deadline, "no wake-up on the RCD edge"
        assert pipe.edges >= 1
        pipe.drain()
        assert select.select([pipe], [], [], 0)[0] == []
        factory.pin(5).drive_low()
        assert select.select([pipe], [], [], 2)[0] == [pipe]
    finally:
        pipe.close()
        factory.reset()


def test_outputs_are_not_watched() -> None:
    factory = MockFactory()
    try:
        contactor = GpioContactor(pin=17, pin_factory=factory)  # no mirror contact: nothing to watch
        assert input_devices([contactor]) == []
    finally:
        factory.reset()
