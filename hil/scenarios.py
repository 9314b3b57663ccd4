"""HIL scenarios: each takes a rig and the back office it talks to, drives the car side, and checks what the
station did and what the back office saw. The same bodies run on the virtual and the real rig."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hil.rig import Rig


async def until(rig: Rig, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        st = await rig.command("status")
        conn = st["connectors"][0]
        if pred(conn):
            return conn
        if time.monotonic() > end:
            raise AssertionError(f"rig: timed out waiting for {what}; last status {conn}")
        await asyncio.sleep(0.05)


async def charge(rig: Rig) -> None:
    assert (await rig.command("plug", connector=1, ev={"max_current": 16}))["ok"]
    await until(rig, lambda c: c["ocpp_status"] == "Preparing", 10, "Preparing")
    assert (await rig.command("tag", uid="HIL-CARD"))["ok"]
    await until(rig, lambda c: c["contactor"] == "closed" and c["currents"][0] > 15, 10, "charging")


async def session(rig: Rig, bo: Any) -> None:
    """A whole session: plug, card, charge, card, unplug."""
    await charge(rig)
    await until(rig, lambda c: c["energy_wh"] > 1, 10, "energy")
    assert (await rig.command("tag", uid="HIL-CARD"))["ok"]
    stop = await bo.wait_for("StopTransaction", rig.identity, timeout=10)
    assert stop.payload["meterStop"] > 0
    await until(rig, lambda c: c["contactor"] == "open", 8, "contactor open")
    assert (await rig.command("unplug", connector=1))["ok"]
    await until(rig, lambda c: c["ocpp_status"] == "Available", 10, "Available")


def fault_scenario(inject: dict[str, Any], clear: dict[str, Any], error_code: str, status: str = "Faulted"):
    """While charging, inject a fault: the contactor must open and the back office must see the error."""

    async def run(rig: Rig, bo: Any) -> None:
        await charge(rig)
        t_inject = len(bo.records)
        cmd = inject["cmd"]
        assert (await rig.command(cmd, **{k: v for k, v in inject.items() if k != "cmd"}))["ok"]
        await until(rig, lambda c: c["contactor"] == "open", 10, f"contactor open after {cmd}")
        await bo.wait_for(
            "StatusNotification", rig.identity,
            lambda p: p["connectorId"] in (0, 1) and p["errorCode"] == error_code and p["status"] == status,
            timeout=10, after=t_inject,
        )
        ccmd = clear["cmd"]
        assert (await rig.command(ccmd, **{k: v for k, v in clear.items() if k != "cmd"}))["ok"]

    return run


SCENARIOS: dict[str, Callable[[Rig, Any], Awaitable[None]]] = {
    "session": session,
    "rcd_trip": fault_scenario({"cmd": "rcd", "connector": 1, "trip": True},
                               {"cmd": "rcd", "connector": 1, "trip": False}, "GroundFailure"),
    "over_temperature": fault_scenario({"cmd": "temperature", "celsius": 95},
                                       {"cmd": "temperature", "celsius": 25}, "HighTemperature", "SuspendedEVSE"),
    "tilt": fault_scenario({"cmd": "tilt", "degrees": 40}, {"cmd": "tilt", "degrees": 0}, "OtherError"),
    "pilot_short": fault_scenario({"cmd": "ev_misbehave", "connector": 1, "shorted": True},
                                  {"cmd": "ev_misbehave", "connector": 1, "shorted": False}, "EVCommunicationError"),
}
