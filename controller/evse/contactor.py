"""Contactor supervision with the feedback (mirror) contact (pure).

After each command the feedback has `timeout_s` to follow. Commanded closed but the feedback stays open:
CONTACTOR_NOT_CLOSING. Commanded open but the feedback stays closed: WELDED_CONTACT. Both latch in the
connector until a `clear_faults` message (policy MANUAL): the socket drives state F and never closes again
until then; if the contact is still welded after the clear, it latches again at once. A board without a
feedback contact (feedback None) is not supervised.
"""

from __future__ import annotations

from controller.evse.faults import Fault


class ContactorSupervisor:
    def __init__(self, start: float, timeout_s: float = 0.5) -> None:
        self.timeout_s = timeout_s
        self.closed = False
        self.changed_at = start

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
