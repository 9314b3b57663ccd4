"""Session timers from the keys, table-driven at each timer's edge (just before, just after)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.transactions.timers import ConnectorSnapshot, SessionTimers, effective_disconnect_action

PLUGGED_CHARGING = ConnectorSnapshot(True, "C", True)
UNPLUGGED = ConnectorSnapshot(True, "A", False)
PLUGGED_IDLE = ConnectorSnapshot(True, "B", False)




@pytest.mark.parametrize(
    ("action", "stop_on_ev", "unlock_on_ev", "online", "expected"),
    [
        ("Continue", "false", "false", True, "Continue"),
        ("Continue", "true", "false", True, "Abort"),
        ("Continue", "false", "true", True, "Unlock"),
        ("Continue", "true", "true", True, "Unlock"),
        ("Abort", "false", "false", True, "Abort"),
        ("Abort", "false", "true", True, "Unlock"),
        ("Unlock", "false", "false", True, "Unlock"),
        ("UnlockWhenOffline", "false", "false", True, "Continue"),
        ("UnlockWhenOffline", "false", "false", False, "Unlock"),
        ("UnlockWhenOffline", "true", "false", True, "Abort"),
    ],
)
def test_effective_disconnect_action(
    tmp_path: Path, action: str, stop_on_ev: str, unlock_on_ev: str, online: bool, expected: str
) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    reg.set("DisconnectAction", action)
    reg.set("StopTransactionOnEVSideDisconnect", stop_on_ev)
    reg.set("UnlockConnectorOnEVSideDisconnect", unlock_on_ev)
    assert effective_disconnect_action(reg, online) == expected


def run(reg: ConfigRegistry, timeline: list[tuple[float, ConnectorSnapshot]], online: bool = True) -> list[tuple[float, str, str | None, bool]]:
    timers = SessionTimers()
    out = []
    for now, snap in timeline:
        for a in timers.step(now, reg, online, {1: snap}):
            out.append((now, a.kind, a.reason, a.unlock))
    return out


@pytest.mark.parametrize(
    ("action", "at", "expected"),
    [
        ("Abort", 9.99, []),
        ("Abort", 10.0, [(10.0, "stop", "EVDisconnected", False)]),
        ("Unlock", 10.0, [(10.0, "stop", "EVDisconnected", True)]),
        ("Continue", 1000.0, []),
    ],
)
def test_disconnect_timeout_edges(tmp_path: Path, action: str, at: float, expected: list) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    reg.set("DisconnectAction", action)
    reg.set("DisconnectTimeout", "10")
    assert run(reg, [(0.0, PLUGGED_CHARGING), (0.0, UNPLUGGED), (at, UNPLUGGED)]) == expected


def test_replug_before_timeout_cancels(tmp_path: Path) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    reg.set("DisconnectAction", "Abort")
    reg.set("DisconnectTimeout", "10")
    timeline = [(0.0, UNPLUGGED), (9.0, UNPLUGGED), (9.5, PLUGGED_CHARGING), (12.0, UNPLUGGED), (21.9, UNPLUGGED)]
    assert run(reg, timeline) == []
    assert run(reg, [*timeline, (22.0, UNPLUGGED)]) == [(22.0, "stop", "EVDisconnected", False)]


@pytest.mark.parametrize(("at", "stopped"), [(59.9, False), (60.0, True)])
def test_time_unlock_when_not_charging(tmp_path: Path, at: float, stopped: bool) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    reg.set("TimeUnlockWhenNotCharging", "60")
    acts = run(reg, [(0.0, PLUGGED_CHARGING), (1.0, PLUGGED_IDLE), (1.0 + at, PLUGGED_IDLE)])
    assert acts == ([(1.0 + at, "stop", "Other", True)] if stopped else [])


def test_time_unlock_off_by_default(tmp_path: Path) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    assert run(reg, [(0.0, PLUGGED_IDLE), (1e6, PLUGGED_IDLE)]) == []


def test_time_report_when_not_charging_warns_and_clears(tmp_path: Path) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    reg.set("TimeReportWhenNotCharging", "30")
    acts = run(
        reg,
        [(0.0, PLUGGED_IDLE), (29.9, PLUGGED_IDLE), (30.0, PLUGGED_IDLE), (31.0, PLUGGED_IDLE), (40.0, PLUGGED_CHARGING)],
    )
    assert acts == [(30.0, "warn", None, False), (40.0, "clear_warn", None, False)]
