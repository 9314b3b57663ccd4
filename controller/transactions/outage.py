"""Power Outage Recovery over the transaction journal: after a restart, the transactions that were active
either resume (policy Resume, outage within Max Allowed Outage Duration) or are stopped with reason PowerLoss at
the last moment they were known alive, with the last meter reading committed. The journal keeps the "last alive"
time and each transaction's last reading (`Journal.touch_alive`); this module only decides and journals the stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.timefmt import format_time, parse_time_or_none

if TYPE_CHECKING:
    from controller.transactions.journal import Journal


@dataclass(frozen=True)
class OutageDecision:
    """What `recover_after_outage` did: which transactions resumed, which were stopped, and why."""

    outage_s: float | None
    resumed: list[int]
    stopped: list[int]
    reason: str


def recover_after_outage(journal: Journal, policy: str, max_outage_s: int, now: float) -> OutageDecision:
    """Power Outage Recovery, applied once at start-up to the transactions that were active.

    `policy` "Resume": a transaction resumes when the outage (now - last alive) was at most `max_outage_s`
    (0: always). Otherwise (or "Idle") it is stopped with reason PowerLoss, timestamped at the last moment
    we knew it alive, with the last meter reading we committed (never below meterStart)."""
    active = journal.active_transactions()
    seen = [t.last_seen for t in active if t.last_seen]
    alive_candidates = [x for x in (journal.last_alive(), *seen) if x]
    last = max(alive_candidates) if alive_candidates else None
    outage = max(0.0, now - last) if last is not None else None
    if not active:
        return OutageDecision(outage, [], [], "no active transaction")
    resume = policy.lower() == "resume" and (
        max_outage_s <= 0 or (outage is not None and outage <= max_outage_s)
    )
    if resume:
        return OutageDecision(outage, [t.local_id for t in active], [], "resume within the allowed outage")
    stopped: list[int] = []
    for t in active:
        start = parse_time_or_none(t.start_time) or 0.0
        stamp = max(x for x in (t.last_seen, last, start) if x is not None)
        meter = max(t.meter_start, t.last_meter or t.meter_start)
        journal.stop_transaction(t.local_id, meter, format_time(stamp), "PowerLoss")  # no tag asked
        stopped.append(t.local_id)
    why = "Power Outage Recovery is Idle" if policy.lower() != "resume" else "outage longer than allowed"
    return OutageDecision(outage, [], stopped, why)
