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
from tests.conftest import virtual_rig


@pytest.fixture
async def virtual(tmp_path: Path) -> AsyncIterator[tuple[VirtualRig, BackOffice]]:
    async with virtual_rig(tmp_path / "state", "HIL1") as running:
        yield running


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_on_virtual_rig(virtual: tuple[VirtualRig, Any], name: str) -> None:
    rig, bo = virtual
    await SCENARIOS[name](rig, bo)
