"""Every long-lived task of a running Station is supervised: killed once, each one restarts and the station
still works; an exception in card handling (issue 11 defect 1) no longer ends card handling for good."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Rig, until

TASKS = {"ocpp-link", "journal-sender", "status-reporter", "meter-values", "housekeeping", "smart-charging",
         "reservations", "grid-meter", "mqtt", "firmware", "scn", "web"}


async def test_each_task_killed_once_restarts(rig: Rig) -> None:
    sup = rig.station.supervisor
    assert set(sup.tasks) == TASKS
    for state in sup.tasks.values():
        state.kill("killed by the test")
    await until(lambda: all(s.restarts == 1 for s in sup.tasks.values()), 10, "every task restarted")
    assert all(s.inner is not None and not s.inner.done() for s in sup.tasks.values())
    await until(lambda: rig.station.link.online, 10, "back online")
    # the station still does its job: a card starts a transaction that reaches the back office
    after = len(rig.bo.records)
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="CARD1")
    await rig.bo.wait_for("StartTransaction", rig.identity, after=after, timeout=10)
    await rig.wait_status("Charging")


async def test_an_exception_in_card_handling_does_not_end_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = rig.station.sessions
    real = sessions.on_tag
    calls = {"n": 0}

    async def on_tag_failing_once(uid: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        return await real(uid)

    monkeypatch.setattr(sessions, "on_tag", on_tag_failing_once)
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="CARD1")
    await until(lambda: rig.station.supervisor.tasks["housekeeping"].restarts == 1, 10, "housekeeping restarted")
    assert any(r.getMessage() == "task housekeeping failed" and r.exc_info for r in caplog.records)
    after = len(rig.bo.records)
    await rig.cmd("tag", uid="CARD1")
    await rig.bo.wait_for("StartTransaction", rig.identity, after=after, timeout=10)
