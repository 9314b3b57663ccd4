"""The change bus (`ports.ChangeBus`): services say "the limits changed" or "the status changed"; the
composition root subscribes what follows (publish the limits to the control loop; derive and report the
statuses, update the LEDs). A service never calls those itself."""

from __future__ import annotations

from collections.abc import Callable


class Changes:
    def __init__(self) -> None:
        self._on_limits: list[Callable[[], None]] = []
        self._on_status: list[Callable[[], None]] = []

    def on_limits(self, callback: Callable[[], None]) -> None:
        self._on_limits.append(callback)

    def on_status(self, callback: Callable[[], None]) -> None:
        self._on_status.append(callback)

    def limits_changed(self) -> None:
        """The limits changed; so may the status."""
        for cb in self._on_limits:
            cb()
        self.status_changed()

    def status_changed(self) -> None:
        for cb in self._on_status:
            cb()
