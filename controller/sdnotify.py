"""A dependency-free systemd notifier (piwheels' habit): READY=1 at start, WATCHDOG=1 only while the
control process reports healthy ticks, STOPPING=1 on the way out. Does nothing outside systemd."""

from __future__ import annotations

import os
import socket


class SystemdNotifier:
    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace
        self.address = addr or None
        self.sent: list[str] = []
        self._last_ticks: int | None = None
        self.ticking = False  # the control loop has ticked between two reports (since its last restart)

    def notify(self, state: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(state.encode(), self.address)
        except OSError:
            return False
        self.sent.append(state)
        return True

    def control_ticks(self, ticks: int) -> None:
        """Feed the watchdog when the control loop has ticked since its last report."""
        if self._last_ticks is not None and ticks > self._last_ticks:
            self.ticking = True
            self.notify("WATCHDOG=1")
        self._last_ticks = ticks

    def control_restarted(self) -> None:
        self._last_ticks = None
        self.ticking = False
