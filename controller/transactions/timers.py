"""Session timers from the Authorization/Alerts keys (pure: time comes in as `now`).

- EV-side disconnect during a transaction (the car goes to state A): the effective DisconnectAction is
  Continue (the transaction stays; plugging the car back in continues it), Abort (stop after
  DisconnectTimeout s, the cable stays locked) or Unlock (stop after DisconnectTimeout s and unlock).
  `StopTransactionOnEVSideDisconnect` = true turns Continue into Abort; `UnlockConnectorOnEVSideDisconnect`
  = true turns Continue/Abort into Unlock; `UnlockWhenOffline` acts as Unlock while the back office is
  unreachable and as Continue while it is reachable. Plugging back in before the timeout cancels it.
- TimeUnlockWhenNotCharging (0 = off): the car stopped drawing in a transaction for that long -> stop the
  transaction (reason Other) and unlock.
- TimeReportWhenNotCharging (0 = off): the car stopped drawing for that long -> a warning (orange LEDs).
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.ports import Settings

CONFIG_KEYS = ("DisconnectAction", "DisconnectTimeout", "UnlockConnectorOnEVSideDisconnect", "TimeUnlockWhenNotCharging",
               "TimeReportWhenNotCharging")


@dataclass(frozen=True)
class ConnectorSnapshot:
    in_transaction: bool
    cp_state: str
    charging: bool  # the car draws current


@dataclass(frozen=True)
class TimerAction:
    kind: str  # "stop" | "warn" | "clear_warn"
    connector: int
    reason: str | None = None
    unlock: bool = False


def effective_disconnect_action(config: Settings, online: bool) -> str:
    action = config.get("DisconnectAction")
    if action == "UnlockWhenOffline":
        action = "Continue" if online else "Unlock"
    if action == "Continue" and config.get_bool("StopTransactionOnEVSideDisconnect"):
        action = "Abort"
    if action in ("Continue", "Abort") and config.get_bool("UnlockConnectorOnEVSideDisconnect"):
        action = "Unlock"
    return action


class SessionTimers:
    def __init__(self) -> None:
        self._disconnected_at: dict[int, float] = {}
        self._idle_since: dict[int, float] = {}
        self._warned: set[int] = set()

    def step(self, now: float, config: Settings, online: bool, conns: dict[int, ConnectorSnapshot]) -> list[TimerAction]:
        actions: list[TimerAction] = []
        for cid, c in conns.items():
            if not c.in_transaction:
                self._disconnected_at.pop(cid, None)
                self._idle_since.pop(cid, None)
                if cid in self._warned:
                    self._warned.discard(cid)
                    actions.append(TimerAction("clear_warn", cid))
                continue
            # EV side disconnected
            if c.cp_state == "A":
                since = self._disconnected_at.setdefault(cid, now)
                action = effective_disconnect_action(config, online)
                if action in ("Abort", "Unlock") and now - since >= config.get_int("DisconnectTimeout"):
                    actions.append(TimerAction("stop", cid, "EVDisconnected", unlock=action == "Unlock"))
                    self._disconnected_at.pop(cid, None)
                    continue
            else:
                self._disconnected_at.pop(cid, None)
            # plugged, in a transaction, not drawing
            if c.cp_state in ("B", "C", "D") and not c.charging:
                since = self._idle_since.setdefault(cid, now)
                unlock_after = config.get_int("TimeUnlockWhenNotCharging")
                report_after = config.get_int("TimeReportWhenNotCharging")
                if unlock_after > 0 and now - since >= unlock_after:
                    actions.append(TimerAction("stop", cid, "Other", unlock=True))
                    self._idle_since.pop(cid, None)
                    continue
                if report_after > 0 and now - since >= report_after and cid not in self._warned:
                    self._warned.add(cid)
                    actions.append(TimerAction("warn", cid))
            else:
                self._idle_since.pop(cid, None)
                if cid in self._warned:
                    self._warned.discard(cid)
                    actions.append(TimerAction("clear_warn", cid))
        return actions
