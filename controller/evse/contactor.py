"""Contactor supervision with the feedback (mirror) contact (pure).

After each command the feedback has `timeout_s` to follow. Commanded closed but the feedback stays open:
CONTACTOR_NOT_CLOSING. Commanded open but the feedback stays closed: WELDED_CONTACT. Both latch in the
connector until a `clear_faults` message (policy MANUAL): the socket drives state F and never closes again
until then; if the contact is still welded after the clear, it latches again at once. A board without a
feedback contact (feedback None) is not supervised by it.

The socket meter watches the contacts too, with or without a mirror contact: current above `weld_current_a`
on a socket commanded open, seen without a break for more than `weld_detect_s` (1 s), is a weld
(WELDED_CONTACT). The count starts at the first such reading after the open command, so a meter that lags
by a reading does not count as a weld.
"""

from __future__ import annotations

from controller.evse.faults import Fault


class ContactorSupervisor:
    def __init__(
        self, start: float, timeout_s: float = 0.5, weld_current_a: float = 1.0, weld_detect_s: float = 1.0
    ) -> None:
        self.timeout_s = timeout_s
        self.weld_current_a = weld_current_a
        self.weld_detect_s = weld_detect_s
        self.closed = False
        self.changed_at = start
        self._current_since: float | None = None

    def command(self, now: float, closed: bool) -> None:
        if closed != self.closed:
            self.closed = closed
            self.changed_at = now

    def check(self, now: float, feedback: bool | None) -> Fault | None:
        if feedback is None or now - self.changed_at < self.timeout_s:
            return None
        if self.closed and not feedback:
            return Fault.CONTACTOR_NOT_CLOSING
        if not self.closed and feedback:
            return Fault.WELDED_CONTACT
        return None

    def check_current(self, now: float, currents: tuple[float, float, float] | None) -> Fault | None:
        """The meter's view of the contacts: current on a socket commanded open for too long is a weld."""
        flowing = currents is not None and any(not c <= self.weld_current_a for c in currents)
        if self.closed or not flowing:
            self._current_since = None
            return None
        if self._current_since is None:
            self._current_since = now
        if now - self._current_since > self.weld_detect_s:
            return Fault.WELDED_CONTACT
        return None
