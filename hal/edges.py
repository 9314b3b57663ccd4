"""Input edges wake the control loop early: every gpiozero input of the real drivers (RCD fault line,
contactor mirror contact, lock switch, suspend contact) gets callbacks that call `notify` on each edge.

gpiozero runs these callbacks in its own thread; `EdgePipe.notify` only writes a byte to a pipe, which the
control loop's `select()` watches beside its message socket, so an RCD trip is acted on at once instead of
at the next 10 ms tick.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from gpiozero import InputDevice


class EdgePipe:
    """A self-pipe: `notify()` from any thread, `fileno()` for select(), `drain()` after waking."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self.edges = 0

    def fileno(self) -> int:
        return self._r

    def notify(self) -> None:
        self.edges += 1
        with contextlib.suppress(BlockingIOError):  # a full pipe already means "wake up"
            os.write(self._w, b"!")

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._r, 4096):
                pass

    def close(self) -> None:
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)


def input_devices(devices: Iterable[Any]) -> list[InputDevice]:
    """The gpiozero inputs held by the given driver objects (their attributes, one level deep)."""
    found: list[InputDevice] = []
    for dev in devices:
        for value in vars(dev).values() if hasattr(dev, "__dict__") else ():
            if isinstance(value, InputDevice) and value not in found:
                found.append(value)
    return found


def watch_edges(devices: Iterable[Any], notify: Callable[[], None]) -> int:
    """Call `notify` on every edge of every gpiozero input of `devices`; returns how many inputs."""
    inputs = input_devices(devices)
    for pin in inputs:
        pin.when_activated = notify
        pin.when_deactivated = notify
    return len(inputs)
