"""The station starts with defaults when any state file is bad (wrong shape, 100 000 nested "[", binary
garbage), each bad file set aside and named in a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from controller.station.keys import evse_values
from tests.conftest import start_rig, stop_rig

FILES = ["security_events.json", "config.json", "tilt-calibration.json", "availability.json",
         "charging_profiles.json", "certs/index.json"]
CONTENT = {
    "wrong shape": b'[1,"x",null]',
    "deep nesting": b"[" * 100_000,
    "binary garbage": bytes(range(256)) * 8,
}


@pytest.mark.parametrize("content", CONTENT.values(), ids=CONTENT.keys())
async def test_the_station_starts_with_every_state_file_bad(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    for name in FILES:
        (state / name).parent.mkdir(parents=True, exist_ok=True)
        (state / name).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        rig = await start_rig(tmp_path)
    try:
        assert rig.station.security.installed_ids("CentralSystemRootCertificate") == []
        assert "_TiltOffset" not in evse_values(rig.station.config, state)  # reads the tilt calibration
        logged = "\n".join(r.getMessage() for r in caplog.records)
        for name in FILES:
            assert str(state / name) in logged, name
            aside = [p.name for p in (state / name).parent.iterdir() if p.name.startswith(Path(name).name + ".corrupt")]
            assert aside, name
    finally:
        await stop_rig(rig)
