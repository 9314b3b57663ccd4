"""The HIL scenarios on the virtual rig: the controller as a real process, driven from outside through the
sim control API, against the real back office on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.backoffice.server import BackOffice
from hil.rig import VirtualRig
from hil.scenarios import SCENARIOS


@pytest.fixture
async def virtual(tmp_path: Path) -> AsyncIterator[tuple[VirtualRig, BackOffice]]:
    bo = BackOffice()
    await bo.start()
    rig = VirtualRig(bo.url, identity="HIL1", state_dir=tmp_path / "state")
    await rig.start()
    try:
        await bo.wait_for("StatusNotification", "HIL1", timeout=20)
        yield rig, bo
    finally:
        await rig.close()
        await bo.stop()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_on_virtual_rig(virtual: tuple[VirtualRig, Any], name: str) -> None:
    rig, bo = virtual
    await SCENARIOS[name](rig, bo)
