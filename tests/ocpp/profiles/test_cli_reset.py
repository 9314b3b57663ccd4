"""Reset through the real command-line runner: `python -m controller run` stops the station and starts a new
one on the same state directory (a new BootNotification), without the process exiting."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from ocpp.v16 import call

from controller.backoffice.server import BackOffice


async def test_reset_restarts_the_station_in_the_cli_runner(tmp_path: Path) -> None:
    bo = BackOffice()
    await bo.start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller", "run", "--state-dir", str(tmp_path / "state"),
        "--backoffice", bo.url, "--identity", "CLI1",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await bo.wait_for("BootNotification", "CLI1", timeout=20)
        await bo.wait_for("StatusNotification", "CLI1", timeout=10)
        res = await bo.call("CLI1", call.Reset(type="Soft"))
        assert res.status == "Accepted"
        boots = [r for r in bo.records if r.direction == "in" and r.action == "BootNotification"]
        await bo.wait_for("BootNotification", "CLI1", after=bo.records.index(boots[-1]) + 1, timeout=20)
        assert proc.returncode is None  # the same process, a new station
        events = [r.payload["type"] for r in bo.records if r.action == "SecurityEventNotification"]
        assert "ResetOrReboot" in events
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        await bo.stop()


