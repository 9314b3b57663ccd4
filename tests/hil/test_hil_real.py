"""The HIL scenarios (hil/scenarios.py) on the physical rig: `make hil RIG=real` on the rig's Raspberry Pi
(docs/hil-rig.md). The board under test runs `chargepoint run` with its real board file and connects to the
back office this test starts on HIL_BACKOFFICE_HOST:HIL_BACKOFFICE_PORT (default 0.0.0.0:9000) as
HIL_IDENTITY (default HIL). Skipped everywhere else: CI runs the same scenario bodies on the virtual rig
(tests/hil/test_hil_virtual.py) and the rig's own behaviour on mock pins (tests/hil/test_real_rig.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controller.backoffice.server import BackOffice
from hil.rig import RealRig
from hil.scenarios import SCENARIOS

pytestmark = pytest.mark.skipif(os.environ.get("HIL_RIG") != "real", reason="needs the physical rig: make hil RIG=real")


@pytest.fixture
async def real() -> AsyncIterator[tuple[RealRig, BackOffice]]:
    identity = os.environ.get("HIL_IDENTITY", "HIL")
    bo = BackOffice(os.environ.get("HIL_BACKOFFICE_HOST", "0.0.0.0"), int(os.environ.get("HIL_BACKOFFICE_PORT", "9000")))
    await bo.start()
    rig = RealRig(bo, identity)  # gpiozero's default pin factory: lgpio on the rig's Pi
    rig.start()
    try:
        await bo.wait_for("StatusNotification", identity, timeout=120)  # the board connected and reported
        yield rig, bo
    finally:
        await rig.close()
        await bo.stop()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_on_the_real_rig(real: tuple[RealRig, Any], name: str) -> None:
    rig, bo = real
    await SCENARIOS[name](rig, bo)
