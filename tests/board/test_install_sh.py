"""systemd/install.sh, run in a scratch root with stub system commands (systemctl, useradd, chown, id) and a
stub `python3 -m venv` whose slot runs this checkout: `board check` runs before anything is installed (a bad
board file installs nothing and says file:line), the first A/B slot and the launcher are installed, and
`board probe` runs after (its failures listed, exit 3) or is deferred to after the reboot the boot settings
need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from board.loader import builtin_board, load_board

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "systemd" / "install.sh"
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
{body}
"""
FAKE_PYTHON3 = """#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
    mkdir -p "$3/bin"
    ln -s "{py}" "$3/bin/python"
    printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/pip"
    printf '#!/bin/sh\\nexec "{py}" -m controller "$@"\\n' > "$3/bin/chargepoint"
    chmod +x "$3/bin/pip" "$3/bin/chargepoint"
    exit 0
fi
exec "{py}" "$@"
"""


class Scratch:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.log = tmp / "calls.log"
        self.log.write_text("")
        for name, body in {"systemctl": "exit 0", "useradd": "exit 0", "chown": "exit 0", "id": "exit 1"}.items():
            self._script(name, STUB.format(log=self.log, body=body))
        self._script("python3", FAKE_PYTHON3.format(py=sys.executable))
        self.prefix, self.etc, self.boot = tmp / "opt", tmp / "etc", tmp / "boot"
        self.boot.mkdir()
        (self.boot / "config.txt").write_text("")
        (self.boot / "cmdline.txt").write_text("console=serial0,115200 console=tty1 root=/dev/mmcblk0p2\n")

    def _script(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)

    def run(self, board: Path) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", CHARGEPOINT_PREFIX=str(self.prefix),
                   CHARGEPOINT_ETC=str(self.etc), CHARGEPOINT_BOOT=str(self.boot))
        return subprocess.run(["bash", str(SCRIPT), str(board)], capture_output=True, text=True, env=env, timeout=120)

    @property
    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def scratch(tmp_path: Path) -> Scratch:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    return Scratch(tmp_path)


def test_a_bad_board_file_installs_nothing(scratch: Scratch, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = builtin_board("cm4-rev1").read_text().replace("pwm_pin = 12", "pwm_pin = 18")
    bad.write_text(text)
    res = scratch.run(bad)
    assert res.returncode == 1
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "pilot = " in t)
    assert f"{bad}:{line}: " in res.stderr and "nothing was installed" in res.stderr
    assert not (scratch.etc / "chargepoint" / "board.toml").exists()
    assert not (scratch.prefix / "slots" / "current").exists()
    assert list((scratch.prefix / "slots").iterdir()) == []  # the slot built for the check is gone
    assert not any(c.startswith("systemctl") for c in scratch.calls)


def test_a_simulated_board_installs_a_slot_and_the_launcher_and_passes_the_probe(scratch: Scratch) -> None:
    res = scratch.run(builtin_board("sim"))
    assert res.returncode == 0, res.stderr
    assert "board check passed" in res.stdout
    assert "probe: 12 passed, 0 failed" in res.stdout
    slots = scratch.prefix / "slots"
    assert os.readlink(slots / "current") == "0.1.0"
    launcher = scratch.prefix / ".venv" / "bin" / "chargepoint"
    assert f"root='{slots}'" in launcher.read_text()
    out = subprocess.run([str(launcher), "board", "check", str(builtin_board("sim"))], capture_output=True, text=True)
    assert out.returncode == 0 and "board check passed" in out.stdout  # the launcher runs the current slot
    assert (scratch.etc / "chargepoint" / "board.toml").read_text() == builtin_board("sim").read_text()
    calls = scratch.calls
    assert calls.index("systemctl stop chargepoint.service") < calls.index("systemctl start chargepoint.service")


def test_a_real_board_defers_the_probe_to_after_the_reboot(scratch: Scratch) -> None:
    res = scratch.run(builtin_board("cm4-rev1"))
    assert res.returncode == 0, res.stderr
    assert "dtparam=strict_gpiod" in (scratch.boot / "config.txt").read_text()
    assert "reboot now" in res.stdout and "board probe" in res.stdout
    assert "systemctl stop chargepoint.service" not in scratch.calls


def test_devices_that_fail_the_probe_are_listed(scratch: Scratch) -> None:
    system = load_board(builtin_board("cm4-rev1")).system
    assert system is not None
    (scratch.boot / "config.txt").write_text("\n".join(system.config_txt) + "\n")  # set up, rebooted
    (scratch.boot / "cmdline.txt").write_text("console=tty1 root=/dev/mmcblk0p2\n")
    res = scratch.run(builtin_board("cm4-rev1"))
    assert res.returncode == 3
    assert "FAIL  rfid" in res.stdout  # no /dev/ttyAMA4 here
    assert "did not answer as they must" in res.stderr
    assert "systemctl start chargepoint.service" not in scratch.calls[-3:]
