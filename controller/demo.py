"""`chargepoint demo`: the built-in back office and the controller on the simulated board, one complete
charging session driven through the sim control API, printed as a readable trace."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.backoffice.server import BackOffice
from controller.simcontrol.server import SimControlServer


class Trace:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.t0 = time.monotonic()
        self.out = out

    def __call__(self, who: str, line: str) -> None:
        self.out(f"{time.monotonic() - self.t0:7.2f}s  {who:<10} {line}")


async def _until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(f"demo: timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run_demo(charge_seconds: float = 12.0, out: Callable[[str], None] = print) -> int:
    trace = Trace(out)
    bo = BackOffice(log=lambda line: trace("backoffice", line), heartbeat_interval=60)
    await bo.start()
    state_dir = Path(tempfile.mkdtemp(prefix="chargepoint-demo-"))
    station = Station(
        load_board(builtin_board("sim")),
        state_dir,
        StationOptions(backoffice_url=bo.url, identity="DEMO-CP1"),
        trace=lambda line: None if line.startswith("ocpp ") else trace("station", line),
    )
    station.config.set("MeterValueSampleInterval", "5")
    sim = SimControlServer(station)

    async def cmd(name: str, **args: Any) -> dict[str, Any]:
        reply = await sim.handle(name, args)
        trace("sim", f"{name} {args or ''} -> {'ok' if reply.get('ok') else reply.get('error')}")
        return reply

    def conn() -> dict[str, Any]:
        return dict(station.status_snapshot()["connectors"][0])

    try:
        await station.start()
        await _until(lambda: station.web.port is not None, 10, "the web interface")
        trace("web", f"status page: {station.web.url} (live while the demo runs)")
        await bo.wait_for("BootNotification", "DEMO-CP1", timeout=15)
        await _until(lambda: station.link.online, 10, "boot accepted")
        await cmd("plug", connector=1, ev={"max_current": 16, "phases": 3})
        await _until(lambda: conn()["ocpp_status"] == "Preparing", 5, "Preparing")
        await cmd("tag", uid="04A2B3C4")
        await _until(lambda: conn()["ocpp_status"] == "Charging" and conn()["currents"][0] > 1, 10, "Charging")
        end = time.monotonic() + charge_seconds
        while time.monotonic() < end:
            c = conn()
            trace(
                "meter",
                f"{c['energy_wh']:8.1f} Wh  {c['currents'][0]:.1f}/{c['currents'][1]:.1f}/{c['currents'][2]:.1f} A"
                f"  PWM {c['pwm_duty']} %",
            )
            await asyncio.sleep(2.0)
        await cmd("tag", uid="04A2B3C4")
        stop = await bo.wait_for("StopTransaction", "DEMO-CP1", timeout=15)
        await _until(lambda: conn()["ocpp_status"] == "Finishing", 10, "Finishing")
        await _until(lambda: conn()["contactor"] == "open", 10, "the contactor to open")
        await cmd("unplug", connector=1)
        await _until(lambda: conn()["ocpp_status"] == "Available", 10, "Available")
        await asyncio.sleep(0.3)
        tx = bo.transactions.get(int(stop.payload["transactionId"]), {})
        start_wh, stop_wh = tx.get("meter_start"), stop.payload["meterStop"]
        trace("summary", f"transaction {stop.payload['transactionId']}: meterStart {start_wh} Wh, meterStop {stop_wh} Wh, "
              f"{len(tx.get('meter_values', []))} MeterValues, delivered {stop_wh - (start_wh or 0)} Wh")
        ok = start_wh is not None and stop_wh > start_wh
        trace("summary", "complete session OK" if ok else "session FAILED: no energy delivered")
        return 0 if ok else 1
    finally:
        await station.stop()
        await bo.stop()


def main() -> int:
    try:
        return asyncio.run(run_demo())
    except TimeoutError as exc:
        print(exc, file=sys.stderr)
        return 1
