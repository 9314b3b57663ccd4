"""The availability topic's last will: a controller process killed with SIGKILL (a power cut of the main
process) is reported `offline` by the broker, retained, so Home Assistant marks the station unavailable."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from controller.backoffice.server import BackOffice
from hil.rig import VirtualRig
from tests.mqtt.conftest import Broker, watching
from tests.mqtt.test_station_mqtt import mqtt_board


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the control and plant processes the controller started)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


async def test_the_last_will_says_offline_when_the_controller_is_killed(tmp_path: Path, broker: Broker) -> None:
    bo = BackOffice()
    await bo.start()
    rig = VirtualRig(bo.url, identity="CP1", board=str(mqtt_board(tmp_path, broker)), state_dir=tmp_path / "state")
    started: list[int] = []
    try:
        async with watching(broker) as w:
            await rig.start()
            assert await w.value("chargepoint/CP1/status", "online")
            assert rig.proc is not None
            started = children(rig.proc.pid)
            rig.kill()  # SIGKILL: no clean shutdown says anything
            assert await w.value("chargepoint/CP1/status", "offline")
        async with watching(broker, "chargepoint/CP1/status") as later:  # and it stays said: retained
            await later.wait(lambda: ("chargepoint/CP1/status", "offline", True) in later.seen, "retained offline")
    finally:
        await rig.close()
        for pid in started:  # the orphaned control/plant processes would end by themselves; do not wait for it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await bo.stop()
