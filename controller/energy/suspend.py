"""DirectExternalSuspendSignal (pure): what the RJ11 port is for, and whether its contact suspends charging.

The key's options (formerly "RJ11-Mode"):
- "DSMR P1": the port is the smart meter's P1 input; the contact is not a suspend signal.
- "Suspend when an external circuit is closed": charging is suspended (SuspendedEVSE, PWM off) while the
  external contact is closed, e.g. a ripple-control receiver or a DSO relay that closes to block.
- "Suspend when an external circuit is opened": suspended while the contact is open (fail-safe wiring: a
  broken wire also suspends).
The contact is read by the control process (it owns the power-path inputs) and reported to the main process
as `suspend_input` (True = contact closed) with the station's samples; until it has been reported the state
is unknown and nothing is suspended (reported as such in the energy status).
"""

from __future__ import annotations

from controller.energy.settings import SUSPEND_WHEN_CLOSED, SUSPEND_WHEN_OPENED


def external_suspend(mode: str, contact_closed: bool | None) -> bool:
    if contact_closed is None:
        return False
    if mode == SUSPEND_WHEN_CLOSED:
        return contact_closed
    if mode == SUSPEND_WHEN_OPENED:
        return not contact_closed
    return False
