"""The A/B installer the FirmwareManagement profile uses on a board with `[firmware] method = "ab"`.

`install(image)`: check the bundle (bundle.py), build the new version's slot from it (a venv, pip from the
bundle only; `slot_install_command` replaces that), switch `current` to it on trial (slots.py) and ask for a
restart into it (`SLOT_RESTART`: the command-line runner then exits, and systemd starts the launcher, which
starts the new slot). After the start, `after_online()` (BootNotification Accepted) waits for a ticking
control loop and confirms the trial: Installed. `watch()` (a supervised task) restores the previous slot when
the deadline passes unconfirmed (the new version never got online, or its loop never ticked) and restarts
into it, which then reports InstallationFailed from the slots' record. A new version that cannot even run its
own code is restored by the boot guard (guard.py) after `max_starts` starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from controller.clock import Clock
from controller.firmware.bundle import BundleError, unpack
from controller.firmware.slots import SlotError, Slots
from controller.ports import Trace

SLOT_RESTART = "firmware-slot"  # the restart kind after which the runner exits (a new slot must start)
DEFAULT_SLOTS_DIR = "/opt/chargepoint/slots"
# a venv without pip of its own (ensurepip is slow on a CM4), filled by the running slot's pip (--python: pip
# 22.3+) from the bundle only
DEFAULT_STEPS: tuple[tuple[str, ...], ...] = (
    ("{python}", "-m", "venv", "--without-pip", "{slot}"),
    ("{python}", "-m", "pip", "--python", "{slot}/bin/python", "install", "--quiet", "--no-index",
     "--disable-pip-version-check", "--find-links", "{bundle}", "chargepoint=={version}"),
)
DEFAULT_TIMEOUT_S = 600.0
POLL_S = 1.0


class AbInstaller:
    def __init__(
        self,
        conf: Mapping[str, Any],
        clock: Clock,
        restart: Callable[[str], Awaitable[None]],
        ticking: Callable[[], bool],
        trace: Trace,
    ) -> None:
        self.slots = Slots(Path(conf.get("slots_dir", DEFAULT_SLOTS_DIR)), lambda: clock.now().timestamp())
        command = conf.get("slot_install_command")
        self.steps: tuple[tuple[str, ...], ...] = (
            DEFAULT_STEPS if not command else (tuple(shlex.split(command) if isinstance(command, str) else command),)
        )
        self.confirm_within_s = float(conf.get("confirm_within_s", 180))
        self.max_starts = int(conf.get("max_starts", 3))
        self.timeout_s = float(conf.get("timeout_s", DEFAULT_TIMEOUT_S))
        self._clock = clock
        self._restart = restart
        self._ticking = ticking
        self._trace = trace
        self._restarting: asyncio.Future[None] | None = None

    # -- installing ------------------------------------------------------------------------------------------
    async def _run(self, argv: list[str]) -> str | None:
        """Run one step; None when it succeeded, else why not."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
        except OSError as exc:
            return f"{argv[0]} cannot run: {exc}"
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return f"{argv[0]} timed out after {self.timeout_s} s"
        if proc.returncode != 0:
            return f"{' '.join(argv[:3])} failed (exit {proc.returncode}) {out.decode(errors='replace').strip()[-300:]}"
        return None

    async def install(self, image: Path, request_id: int | None) -> bool:
        """Bundle checked, slot built, `current` switched on trial, restart asked for: True. Else False (the
        trace says why) and nothing of the new slot is left."""
        root = self.slots.root
        unpacked = root / f".bundle-{os.getpid()}"
        shutil.rmtree(unpacked, ignore_errors=True)
        slot: Path | None = None
        try:
            bundle = unpack(image, unpacked)
            if bundle.version in (self.slots.current(), self.slots.previous()):
                raise SlotError(f"version {bundle.version} is already installed (current or previous slot)")
            slot = self.slots.path(bundle.version)
            shutil.rmtree(slot, ignore_errors=True)  # what a failed earlier attempt left
            names = {"{python}": sys.executable, "{slot}": str(slot), "{bundle}": str(unpacked),
                     "{version}": bundle.version}
            for step in self.steps:
                argv = [_fill(a, names) for a in step]
                problem = await self._run(argv)
                if problem is not None:
                    raise SlotError(problem)
            if not os.access(slot / "bin" / "chargepoint", os.X_OK):
                raise SlotError(f"the new slot {slot} has no bin/chargepoint")
            self.slots.begin_trial(bundle.version, self.confirm_within_s, self.max_starts, request_id)
        except (BundleError, SlotError, OSError) as exc:
            self._trace(f"firmware: A/B install failed: {exc}")
            if slot is not None and slot.name not in (self.slots.current(), self.slots.previous()):
                shutil.rmtree(slot, ignore_errors=True)
            return False
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
        self._trace(f"firmware: slot {bundle.version} installed, on trial for {self.confirm_within_s:.0f} s")
        return True

    async def restart_into_new_slot(self) -> None:
        await self._restart(SLOT_RESTART)

    # -- after the start ---------------------------------------------------------------------------------------
    def _remaining(self) -> float | None:
        trial = self.slots.trial()
        if trial is None or trial.slot != self.slots.current():
            return None
        return trial.deadline - self._clock.now().timestamp()

    async def after_online(self) -> tuple[str, int | None] | None:
        """BootNotification was Accepted: the status to report, with its request id (None: nothing to say).
        A failed trial's record says InstallationFailed; a trial of this version is confirmed as soon as the
        control loop ticks (Installed)."""
        result = self.slots.take_result()
        if result is not None:
            self._trace(f"firmware: slot {result['slot']} was rolled back: {result['reason']}")
            return "InstallationFailed", result["request_id"]
        while (remaining := self._remaining()) is not None:
            if self._ticking():
                trial = self.slots.confirm()
                if trial is None:
                    return None
                gone = self.slots.prune()
                self._trace(f"firmware: slot {trial.slot} confirmed" + (f"; removed {', '.join(gone)}" if gone else ""))
                return "Installed", trial.request_id
            if remaining <= 0:
                return None  # watch() rolls back
            await self._clock.sleep(min(POLL_S, remaining))
        return None

    async def watch(self) -> None:
        """Supervised: restore the previous slot when a trial's deadline passes unconfirmed."""
        while (remaining := self._remaining()) is not None:
            if remaining <= 0:
                self._trace(f"firmware: {self.slots.rollback('no BootNotification Accepted with a ticking loop in time')}")
                # in a task of its own: stopping the station cancels the supervised task this runs in
                self._restarting = asyncio.ensure_future(self._restart(SLOT_RESTART))
                return
            await self._clock.sleep(min(POLL_S, remaining))


def _fill(arg: str, names: Mapping[str, str]) -> str:
    for k, v in names.items():
        arg = arg.replace(k, v)
    return arg
