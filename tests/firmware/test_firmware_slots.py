"""The A/B slots on disk (controller/firmware/slots.py), the bundle check (bundle.py) and the launcher with
its boot guard (guard.py), run as the service would run them: a version that crashes at every start is
replaced by the previous slot after `max_starts` starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_slots import bundle, good_bundle, installable_wheel, make_slot, wheel  # noqa: E402

from controller.clock import FakeClock  # noqa: E402
from controller.firmware.ab import AbInstaller  # noqa: E402
from controller.firmware.bundle import BundleError, unpack  # noqa: E402
from controller.firmware.guard import write_launcher  # noqa: E402
from controller.firmware.slots import RESULT, TRIAL, SlotError, Slots  # noqa: E402


class Wall:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def slots(tmp_path: Path) -> Slots:
    root = tmp_path / "slots"
    make_slot(root, "0.1.0")
    s = Slots(root, Wall())
    s.switch("0.1.0")
    make_slot(root, "0.2.0")
    return s


def test_a_trial_switches_and_a_confirmation_keeps_it(slots: Slots) -> None:
    slots.begin_trial("0.2.0", 60, 3, request_id=7)
    assert (slots.current(), slots.previous()) == ("0.2.0", "0.1.0")
    assert (slots.root / "current" / "bin" / "chargepoint").exists()
    assert slots.on_start() == "0.2.0 on trial: start 1 of 3"
    trial = slots.confirm()
    assert trial is not None and trial.request_id == 7
    assert slots.trial() is None and slots.take_result() is None
    assert slots.current() == "0.2.0"


def test_too_many_starts_roll_back(slots: Slots) -> None:
    slots.begin_trial("0.2.0", 60, 2, request_id=None)
    assert "start 1 of 2" in slots.on_start()
    assert "start 2 of 2" in slots.on_start()
    assert slots.on_start().startswith("rolled back to 0.1.0: 0.2.0 started 2 times")
    assert slots.current() == "0.1.0" and slots.trial() is None
    result = slots.take_result()
    assert result is not None and result["status"] == "InstallationFailed" and result["slot"] == "0.2.0"
    assert slots.take_result() is None  # reported once


def test_a_start_after_the_deadline_rolls_back(slots: Slots) -> None:
    wall = slots._wall  # noqa: SLF001 - the injected wall clock
    assert isinstance(wall, Wall)
    slots.begin_trial("0.2.0", 60, 5, request_id=3)
    wall.t += 61
    assert "did not confirm before its deadline" in slots.on_start()
    assert slots.current() == "0.1.0"


def test_refusals(slots: Slots) -> None:
    with pytest.raises(SlotError):
        slots.begin_trial("0.1.0", 60, 3, None)  # already current
    with pytest.raises(SlotError):
        slots.switch("9.9.9")  # not installed
    with pytest.raises(SlotError):
        slots.path("../etc")
    slots.begin_trial("0.2.0", 60, 3, None)
    with pytest.raises(SlotError):
        slots.remove_slot("0.1.0")  # the previous slot is kept


def test_prune_keeps_current_and_previous(slots: Slots) -> None:
    make_slot(slots.root, "0.0.9")
    slots.begin_trial("0.2.0", 60, 3, None)
    slots.confirm()
    assert slots.prune() == ["0.0.9"]
    assert sorted(p.name for p in slots.root.iterdir() if not p.is_symlink()) == ["0.1.0", "0.2.0"]


# -- the bundle ---------------------------------------------------------------------------------------------
def test_a_good_bundle_unpacks(tmp_path: Path) -> None:
    image = tmp_path / "fw.tar.gz"
    image.write_bytes(good_bundle("0.2.0"))
    b = unpack(image, tmp_path / "out")
    assert b.version == "0.2.0"
    assert sorted(p.name for p in b.directory.iterdir()) == ["chargepoint-0.2.0-py3-none-any.whl",
                                                             "dep-1.0-py3-none-any.whl"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not an archive at all", "is not a tar archive"),
        (bundle({"dep-1.0-py3-none-any.whl": wheel("dep", "1.0")}), "holds 0 chargepoint wheels"),
        (bundle({"../chargepoint-0.2.0-py3-none-any.whl": wheel("chargepoint", "0.2.0")}), "is not a plain wheel"),
        (bundle({"chargepoint-0.2.0-py3-none-any.whl": wheel("chargepoint", "0.2.0")},
                links={"evil.whl": "/etc/passwd"}), "is not a plain wheel"),
        (bundle({"chargepoint-0.2.0-py3-none-any.whl": wheel("chargepoint", "0.2.0"), "run.sh": b"rm -rf /"}),
         "is not a plain wheel"),
        (bundle({"chargepoint-0.2.0-py3-none-any.whl": wheel("chargepoint", "0.2.0", corrupt=True)}), "corrupt"),
        (bundle({"chargepoint-0.2.0-py3-none-any.whl": wheel("chargepoint", "0.2.0", metadata_version="0.3.0")}),
         "METADATA says chargepoint 0.3.0"),
        (bundle({"chargepoint-0.2.0-py3-none-any.whl": b"PK but no zip"}), "is not a wheel"),
    ],
)
def test_a_bad_bundle_is_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    image = tmp_path / "fw.tar.gz"
    image.write_bytes(data)
    with pytest.raises(BundleError, match=reason):
        unpack(image, tmp_path / "out")


# -- the launcher and the boot guard, as systemd runs them ----------------------------------------------------
def test_the_launcher_restores_the_previous_slot_when_the_new_one_keeps_crashing(tmp_path: Path) -> None:
    root = tmp_path / "slots"
    make_slot(root, "0.1.0")
    make_slot(root, "0.2.0", exit_status=1)  # crashes before it can confirm anything
    slots = Slots(root)
    slots.switch("0.1.0")
    slots.begin_trial("0.2.0", 600, 2, request_id=5)
    launcher = tmp_path / "venv" / "bin" / "chargepoint"
    write_launcher(launcher, root)

    def start() -> subprocess.CompletedProcess[str]:  # what systemd does after each exit (Restart=always)
        return subprocess.run([str(launcher), "run", "--board", "b.toml"], capture_output=True, text=True, timeout=60)

    runs = [start()]
    after = subprocess.run([str(launcher), "safe-outputs"], capture_output=True, text=True, timeout=60)
    assert after.stdout.strip() == "chargepoint 0.2.0 safe-outputs"  # ExecStopPost: not a start of `run`
    trial = slots.trial()
    assert trial is not None and trial.starts == 1
    runs += [start(), start()]
    assert [r.returncode for r in runs] == [1, 1, 0]
    assert [r.stdout.strip() for r in runs] == ["chargepoint 0.2.0 run --board b.toml"] * 2 + [
        "chargepoint 0.1.0 run --board b.toml"
    ]
    assert "rolled back to 0.1.0" in runs[2].stderr
    assert not (root / TRIAL).exists() and (root / RESULT).exists()


# -- the default slot build: a real venv and pip from the bundle only (no index, nothing downloaded) ----------
async def test_the_default_steps_build_a_real_venv_from_the_bundle(tmp_path: Path) -> None:
    root = tmp_path / "slots"
    make_slot(root, "0.1.0")
    Slots(root).switch("0.1.0")
    image = tmp_path / "fw.tar"
    image.write_bytes(bundle({"chargepoint-0.2.0-py3-none-any.whl": installable_wheel("0.2.0")}))
    trace: list[str] = []

    async def restart(kind: str) -> None:
        raise AssertionError("install() itself does not restart")

    installer = AbInstaller({"slots_dir": str(root)}, FakeClock(), restart, lambda: True, trace.append)
    assert await installer.install(image, None), trace
    out = subprocess.run([str(root / "0.2.0" / "bin" / "chargepoint")], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "chargepoint 0.2.0"  # the console script pip made in the new venv
    assert (installer.slots.current(), installer.slots.previous()) == ("0.2.0", "0.1.0")
    assert not any(p.name.startswith(".bundle") for p in root.iterdir())  # the unpacked bundle is gone


def test_boot_notification_reports_the_installed_slots_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A back office sees which version came up after an update: the package version of the running slot."""
    import importlib.metadata

    from controller.ocpp.link import LinkSettings

    assert LinkSettings("ws://x", "CP1").firmware_version == importlib.metadata.version("chargepoint")
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.2.0" if name == "chargepoint" else "?")
    assert LinkSettings("ws://x", "CP1").firmware_version == "0.2.0"
