"""systemd/chargepoint.service: `systemd-analyze verify` accepts it (in a root laid out like the installed
board, so the ExecStart/ExecStopPost binaries exist), and it says what issue 15 requires of it."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from controller.__main__ import main

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "chargepoint.service"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def service() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    return cp["Service"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze not found: install Debian's systemd package (make test does: apt-get install systemd)"
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/chargepoint.service")
    binary = root / "opt/chargepoint/.venv/bin/chargepoint"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    done = subprocess.run(
        [tool, "verify", f"--root={root}", "--man=no", "chargepoint.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "chargepoint" not in done.stderr, done.stderr


def test_the_unit_runs_safe_outputs_after_every_exit_with_the_same_board() -> None:
    s = service()
    start = shlex.split(s["ExecStart"])
    stop = shlex.split(s["ExecStopPost"])
    assert stop[0] == start[0] and stop[1] == "safe-outputs"
    assert stop[stop.index("--board") + 1] == start[start.index("--board") + 1]
    with pytest.raises(SystemExit) as exc:  # the arguments parse (then argparse's --help exits 0)
        main([*stop[1:], "--help"])
    assert exc.value.code == 0


def test_the_unit_pins_the_gpio_factory_and_the_working_directory() -> None:
    s = service()
    assert s["Environment"] == "GPIOZERO_PIN_FACTORY=lgpio"
    start = shlex.split(s["ExecStart"])
    assert s["WorkingDirectory"] == start[start.index("--state-dir") + 1] == s["ReadWritePaths"]
