"""The A/B firmware slots on disk: one versioned venv per installed version under a root directory
(`[firmware] slots_dir`, /opt/chargepoint/slots on the board), the `current` link the service starts, the
`previous` link to the last known-good version, and the trial of a freshly installed version.

    <root>/0.1.0/            a slot: a venv with bin/python and bin/chargepoint
    <root>/0.2.0/
    <root>/current -> 0.2.0  what the launcher starts (switched atomically: symlink + rename)
    <root>/previous -> 0.1.0 what a failed trial returns to
    <root>/trial.json        the new version's trial: deadline (wall clock), starts so far, the request id
    <root>/result.json       a trial that failed: reported as InstallationFailed by the restored version

A trial ends by `confirm()` (the new version reached BootNotification Accepted with a ticking control loop)
or by `rollback()`: when its deadline passes, or at its start number `max_starts + 1` (a version that crashes
before it can confirm is restarted by systemd; the boot guard, `guard.py`, counts its starts with the
previous slot's code and restores that slot). Everything here is file operations on `root`, so the same code
runs on the board and in tests on a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from controller.statefile import read_json, remove, write_json

SLOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
CURRENT, PREVIOUS, TRIAL, RESULT = "current", "previous", "trial.json", "result.json"
TRIAL_SHAPE = {"slot": str, "previous": str, "deadline": (int, float), "starts": int, "max_starts": int,
               "request_id": (int, type(None))}
RESULT_SHAPE = {"status": str, "slot": str, "reason": str, "request_id": (int, type(None))}

LAUNCHER = """#!/bin/sh
# chargepoint launcher (systemd/install.sh writes it; controller/firmware/slots.py): before `run`, the boot
# guard of the A/B slots counts the start of a version on trial with the previous (known-good) slot's Python
# and restores that slot when the trial has failed; then the current slot runs.
root='{root}'
if [ "$1" = run ] && [ -e "$root/{trial}" ]; then
    guard="$root/{previous}/bin/python"
    [ -x "$guard" ] || guard="$root/{current}/bin/python"
    "$guard" -m controller.firmware.guard "$root" || echo "chargepoint launcher: the boot guard failed" >&2
fi
exec "$root/{current}/bin/chargepoint" "$@"
"""


def launcher_text(root: Path) -> str:
    """The launcher script for slots under `root` (install.sh puts it where the unit's ExecStart points)."""
    return LAUNCHER.format(root=str(root).replace("'", ""), trial=TRIAL, previous=PREVIOUS, current=CURRENT)


class SlotError(Exception):
    """A slot operation that cannot be done (bad name, slot missing)."""


@dataclass
class Trial:
    slot: str
    previous: str
    deadline: float  # wall-clock seconds: survives the restart, unlike a monotonic time
    starts: int
    max_starts: int
    request_id: int | None


class Slots:
    def __init__(self, root: Path, wall: Callable[[], float] = time.time) -> None:
        self.root = root
        self._wall = wall

    def path(self, name: str) -> Path:
        if not SLOT_NAME.match(name) or name in (CURRENT, PREVIOUS):
            raise SlotError(f"{name!r} is not a slot name")
        return self.root / name

    def _link(self, link: str) -> str | None:
        try:
            return os.readlink(self.root / link)
        except OSError:
            return None

    def current(self) -> str | None:
        return self._link(CURRENT)

    def previous(self) -> str | None:
        return self._link(PREVIOUS)

    def _set_link(self, link: str, name: str) -> None:
        if not (self.path(name) / "bin").is_dir():
            raise SlotError(f"slot {name} is not installed in {self.root}")
        tmp = self.root / f".{link}.new"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(name, tmp)  # relative: the root may move (tests, a different mount)
        os.replace(tmp, self.root / link)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def switch(self, name: str) -> None:
        """Make `name` the current slot (atomic: a power cut leaves the old or the new link)."""
        self._set_link(CURRENT, name)

    # -- the trial -------------------------------------------------------------------------------------------
    def trial(self) -> Trial | None:
        raw = read_json(self.root / TRIAL, None, TRIAL_SHAPE)
        return Trial(**raw) if isinstance(raw, dict) else None

    def _write_trial(self, trial: Trial) -> None:
        write_json(self.root / TRIAL, asdict(trial))

    def begin_trial(self, name: str, confirm_within_s: float, max_starts: int, request_id: int | None) -> None:
        """Switch to the freshly installed slot `name` on trial; the current one becomes `previous`."""
        old = self.current()
        if old is None:
            raise SlotError(f"no current slot in {self.root}: install.sh makes the first one")
        if old == name:
            raise SlotError(f"slot {name} is already the current one")
        self._set_link(PREVIOUS, old)
        self._write_trial(Trial(name, old, self._wall() + confirm_within_s, 0, max_starts, request_id))
        self.switch(name)

    def on_start(self) -> str:
        """The boot guard's step at each start of `run`: count the start of a version on trial, restore the
        previous slot when the trial has failed. Returns what it did (for the journal)."""
        trial = self.trial()
        if trial is None:
            return "no trial"
        if self.current() != trial.slot:
            remove(self.root / TRIAL)
            return f"stale trial of {trial.slot} removed (current is {self.current()})"
        trial.starts += 1
        if trial.starts > trial.max_starts:
            return self.rollback(f"{trial.slot} started {trial.max_starts} times without confirming")
        if self._wall() > trial.deadline:
            return self.rollback(f"{trial.slot} did not confirm before its deadline")
        self._write_trial(trial)
        return f"{trial.slot} on trial: start {trial.starts} of {trial.max_starts}"

    def confirm(self) -> Trial | None:
        """The version on trial works: keep it (the trial it ended, None when there was none)."""
        trial = self.trial()
        if trial is None or self.current() != trial.slot:
            return None
        remove(self.root / TRIAL)
        return trial

    def rollback(self, reason: str) -> str:
        """Restore the previous slot and record why (reported as InstallationFailed after the restart)."""
        trial = self.trial()
        if trial is None:
            return "no trial to roll back"
        self.switch(trial.previous)
        write_json(self.root / RESULT, {"status": "InstallationFailed", "slot": trial.slot, "reason": reason,
                                        "request_id": trial.request_id})
        remove(self.root / TRIAL)
        return f"rolled back to {trial.previous}: {reason}"

    def take_result(self) -> dict[str, Any] | None:
        """The record of a failed trial, once (removed when taken)."""
        raw = read_json(self.root / RESULT, None, RESULT_SHAPE)
        if isinstance(raw, dict):
            remove(self.root / RESULT)
            return raw
        return None

    def remove_slot(self, name: str) -> None:
        """Delete a slot that is neither current nor previous (a failed or superseded installation)."""
        if name in (self.current(), self.previous()):
            raise SlotError(f"slot {name} is in use")
        shutil.rmtree(self.path(name), ignore_errors=True)

    def prune(self) -> list[str]:
        """Remove every slot but the current and the previous one; the names removed."""
        keep = {self.current(), self.previous()}
        gone = [p.name for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()
                and SLOT_NAME.match(p.name) and p.name not in keep]
        for name in gone:
            shutil.rmtree(self.root / name, ignore_errors=True)
        return sorted(gone)
