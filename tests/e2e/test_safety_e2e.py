"""The safety defects of issue 8 end to end: a real `chargepoint run` (the virtual HIL rig: main process, control
process, simulated plant), driven only from outside through the sim control API, against the real back office
on loopback. What the station must do is read from its `status` and from what the back office received."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.backoffice.server import BackOffice
from hil.rig import VirtualRig
from hil.scenarios import charge, until
from tests.conftest import virtual_rig


@pytest.fixture
async def virtual(tmp_path: Path) -> AsyncIterator[tuple[VirtualRig, BackOffice]]:
    async with virtual_rig(tmp_path / "state", "E2E") as running:
        yield running


async def ok(rig: VirtualRig, cmd: str, **args: Any) -> dict[str, Any]:
    reply = await rig.command(cmd, **args)
    assert reply["ok"], reply
    return reply


async def status_notification(bo: BackOffice, after: int, status: str, code: str, connector: int = 1) -> None:
    await bo.wait_for(
        "StatusNotification", "E2E",
        lambda p: p["connectorId"] == connector and p["status"] == status and p["errorCode"] == code,
        timeout=15, after=after,
    )


async def test_a_latched_fault_outlives_a_crash_of_the_control_process(virtual: tuple[VirtualRig, Any]) -> None:
    rig, bo = virtual
    await charge(rig)
    await ok(rig, "rcd", connector=1, trip=True)
    await until(rig, lambda c: c["contactor"] == "open" and "residual_current" in c["faults"], 5, "tripped")
    await ok(rig, "rcd", connector=1, trip=False)  # the signal goes; the latch must stay until unplug
    killed_at = time.monotonic()
    rig.kill_control()
    deadline = time.monotonic() + 15
    while (await ok(rig, "status"))["control_restarts"] < 1:
        assert time.monotonic() < deadline, "the control process was not restarted"
        await asyncio.sleep(0.1)
    await asyncio.sleep(3.0)  # the restarted loop gets the cached limits (authorized) and a car still in B/C
    conn = (await ok(rig, "status"))["connectors"][0]
    assert conn["cp_state"] in ("B", "C"), conn  # the car stayed plugged: the plant outlived the process
    assert "residual_current" in conn["faults"] and conn["contactor"] == "open"
    log = await ok(rig, "contactor_log", connector=1)
    assert not any(v for t, v in log["history"] if t > killed_at)  # never closed after the crash
    await ok(rig, "unplug", connector=1)
    await until(rig, lambda c: c["cp_state"] == "A" and c["faults"] == [], 10, "cleared by the unplug")


async def test_a_welded_contactor_keeps_the_cable_locked(virtual: tuple[VirtualRig, Any]) -> None:
    rig, bo = virtual
    await charge(rig)
    st = (await ok(rig, "status"))["connectors"][0]
    assert st["lock"] == "locked" and st["contacts"] == "closed"
    t_inject = len(bo.records)
    await ok(rig, "ev_misbehave", connector=1, welded=True)
    await ok(rig, "tag", uid="HIL-CARD")  # the session ends: the contactor opens, the lock would release
    await until(rig, lambda c: "welded_contact" in c["faults"], 10, "weld seen")
    await status_notification(bo, t_inject, "Faulted", "PowerSwitchFailure")
    await asyncio.sleep(2.0)
    conn = (await ok(rig, "status"))["connectors"][0]
    assert conn["contactor"] == "open" and conn["contacts"] == "closed"  # commanded open, contacts welded
    assert conn["lock"] == "locked"  # the cable stays locked
    assert conn["cp_state"] == "F"


async def test_an_invalid_then_a_lost_meter_suspends_the_socket(virtual: tuple[VirtualRig, Any]) -> None:
    rig, bo = virtual
    await charge(rig)
    t_inject = len(bo.records)
    await ok(rig, "meter_override", connector=1, currents=["nan", 0, 0])
    await until(rig, lambda c: "meter" in c["faults"], 3, "the NaN reading is a meter fault")
    await until(rig, lambda c: c["ocpp_status"] == "SuspendedEVSE", 11, "suspended within 10 s")
    await status_notification(bo, t_inject, "SuspendedEVSE", "PowerMeterFailure")
    await until(rig, lambda c: c["contactor"] == "open", 8, "the car stopped")
    await ok(rig, "meter_override", connector=1, currents=None)
    await until(rig, lambda c: c["contactor"] == "closed" and c["ocpp_status"] == "Charging", 10, "resumed")
    t_inject = len(bo.records)
    await ok(rig, "meter_offline", which="socket", connector=1, offline=True)
    await until(rig, lambda c: c["ocpp_status"] == "SuspendedEVSE", 11, "suspended within 10 s")
    await status_notification(bo, t_inject, "SuspendedEVSE", "PowerMeterFailure")
    await ok(rig, "meter_offline", which="socket", connector=1, offline=False)
    await until(rig, lambda c: c["contactor"] == "closed" and c["ocpp_status"] == "Charging", 10, "resumed")


async def test_the_cable_rating_and_state_d(virtual: tuple[VirtualRig, Any]) -> None:
    rig, bo = virtual
    await ok(rig, "plug", connector=1, cable_a=13, ev={"max_current": 32})
    await ok(rig, "tag", uid="HIL-CARD")
    await until(rig, lambda c: c["contactor"] == "closed", 10, "charging")
    conn = (await ok(rig, "status"))["connectors"][0]
    assert conn["cable_a"] == 13 and conn["pwm_duty"] == 21.66 and conn["offered_a"] <= 13.0
    await until(rig, lambda c: 12.0 < c["currents"][0] <= 13.0, 5, "the car draws at most the cable's 13 A")
    await ok(rig, "tag", uid="HIL-CARD")
    await until(rig, lambda c: c["contactor"] == "open", 8, "stopped")
    await ok(rig, "unplug", connector=1)
    await until(rig, lambda c: c["ocpp_status"] == "Available", 10, "Available")
    t_inject = len(bo.records)
    plugged_at = time.monotonic()
    await ok(rig, "plug", connector=1, ev={"ventilation": True})  # a car that asks for state D
    await ok(rig, "tag", uid="HIL-CARD")
    await until(rig, lambda c: "ventilation" in c["faults"], 10, "D without ventilation is an error")
    await status_notification(bo, t_inject, "Faulted", "OtherError")
    await asyncio.sleep(1.0)
    log = await ok(rig, "contactor_log", connector=1)
    assert not any(v for t, v in log["history"] if t > plugged_at)  # never energised
