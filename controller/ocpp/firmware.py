"""The FirmwareManagement feature profile: UpdateFirmware + FirmwareStatusNotification, and the security
whitepaper's SignedUpdateFirmware + SignedFirmwareStatusNotification.

This station supports signed updates, so a plain UpdateFirmware is answered with CALLERROR NotSupported and
starts nothing (L01.FR.20); only a development board that says `[firmware] allow_unsigned = true` in its
board file takes unsigned images. The signature rules (signer issued by an installed
ManufacturerRootCertificate, its key usage, RSA-PSS/ECDSA over SHA-256) are `certcheck`'s.

Sequence: wait for retrieveDate (injectable clock); Downloading; download (HTTP(S) or FTP, `retries` more
tries `retryInterval` s apart) into `<state>/firmware/staging/`; Downloaded, or DownloadFailed and stop.
Signed: check the signature with the signing certificate (which an installed ManufacturerRootCertificate
must have issued, checked when the request arrives: InvalidCertificate) -> SignatureVerified or
InvalidSignature (+ SecurityEventNotification). Then wait until no transaction runs (and installDateTime),
Installing, run the board's install hook (`[firmware] install_command`, `{file}` = the image): exit 0 ->
write the marker `<state>/firmware/result.json` and reboot the station (InstallRebooting for signed); any
other exit -> InstallationFailed. After the reboot the first boot sends Installed (and the security event
FirmwareUpdated) from the marker and removes it. A TriggerMessage gets the current status, Idle when
nothing is going on. On an A/B board (`[firmware] method = "ab"`) the installation is
`controller.firmware.ab`'s: a new slot on trial, Installed only once the new version is online with a
ticking loop, InstallationFailed from the restored previous slot when it was not in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, UpdateFirmwareStatus

from controller.clock import Clock
from controller.firmware.ab import AbInstaller
from controller.ocpp.diagnostics import download, send_when_online, with_retries
from controller.ports import LinkPort, Trace
from controller.statefile import StateWriteError, read_json, remove, write_json
from controller.timefmt import TimeFormatError, parse_time
from controller.transactions.sessions import Session

MARKER = "result.json"
MARKER_SHAPE = {"status": str, "request_id?": (int, type(None)), "image?": str}
DEFAULT_INSTALL_TIMEOUT_S = 300.0


class FirmwareSecurity(Protocol):
    """The security service, as firmware updates use it (signatures, security events)."""

    def event(self, kind: str, tech_info: str | None = None) -> None: ...

    def signing_certificate_ok(self, pem: str) -> Any: ...

    def firmware_signature_ok(self, cert: Any, signature_b64: str, image: Path) -> bool: ...


class SessionsView(Protocol):
    @property
    def sessions(self) -> Mapping[int, Session]: ...


class Firmware:
    def __init__(
        self,
        state_dir: Path,
        clock: Clock,
        link: LinkPort,
        security: FirmwareSecurity,
        sessions: SessionsView,
        restart: Callable[[str], Awaitable[None]],
        install: Mapping[str, Any],
        trace: Trace,
        ticking: Callable[[], bool] = lambda: True,  # the control loop ticks (A/B: a new slot's last check)
    ) -> None:
        self._clock = clock
        self._link = link
        self._security = security
        self._sessions = sessions
        self._restart = restart
        self._install_conf = install  # the board's [firmware] table (install_command, timeout_s)
        self._trace = trace
        self.dir: Path = state_dir / "firmware"
        self.staging = self.dir / "staging"
        self.status = "Idle"
        self.signed_status = "Idle"
        self.request_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._accepted: Callable[[], Awaitable[None]] | None = None  # started once the .conf has gone out
        self._reported_marker = False
        self._ab = AbInstaller(install, clock, restart, ticking, trace) if install.get("method") == "ab" else None

    @property
    def unsigned_allowed(self) -> bool:
        """Only a development board may install unsigned images (`[firmware] allow_unsigned = true`)."""
        return self._install_conf.get("allow_unsigned") is True

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def start_accepted(self) -> None:
        """Start the job the last request accepted (the handlers' @after hook: its .conf has been sent); a
        new request replaces the one in progress."""
        job, self._accepted = self._accepted, None
        if job is None:
            return
        if self.busy and self._task is not None:
            self._task.cancel()
        self._task = asyncio.ensure_future(job())

    # -- notifications -------------------------------------------------------------------------------------
    async def _notify(self, status: str, request_id: int | None) -> None:
        self._trace(f"firmware: {status}")
        if request_id is None:
            self.status = status
            await send_when_online(self._link, self._trace, call.FirmwareStatusNotification(status=status))
        else:
            self.signed_status = status
            await send_when_online(
                self._link, self._trace, call.SignedFirmwareStatusNotification(status=status, request_id=request_id)
            )

    async def trigger_status(self, signed: bool = False) -> None:
        if signed:
            await send_when_online(
                self._link,
                self._trace,
                call.SignedFirmwareStatusNotification(status=self.signed_status, request_id=self.request_id),
                5.0,
            )
        else:
            await send_when_online(self._link, self._trace, call.FirmwareStatusNotification(status=self.status), 5.0)

    async def on_online(self) -> None:
        """After a (re)boot: report the result of an installation that rebooted the station."""
        if self._reported_marker:
            return
        if self._ab is not None:
            self._reported_marker = True
            outcome = await self._ab.after_online()
            if outcome is not None:
                await self._report_result(*outcome)
            return
        marker = read_json(self.dir / MARKER, None, MARKER_SHAPE)
        self._reported_marker = True
        if not isinstance(marker, dict):
            return
        remove(self.dir / MARKER)
        request_id = marker.get("request_id")
        await self._report_result(
            str(marker.get("status", "Installed")), request_id if isinstance(request_id, int) else None,
            str(marker.get("image", "")),
        )

    async def _report_result(self, status: str, request_id: int | None, image: str = "") -> None:
        await self._notify(status, request_id)
        if status == "Installed":
            self._security.event("FirmwareUpdated", image)
        if request_id is None:
            self.status = "Idle"
        else:
            self.signed_status = "Idle"

    # -- requests ------------------------------------------------------------------------------------------
    def update(self, location: str, retrieve_date: str, retries: int | None, retry_interval: int | None) -> None:
        self._trace("firmware: unsigned UpdateFirmware accepted (development board)")
        self._accepted = lambda: self._job(
            location, retrieve_date, retries or 0, retry_interval or 0, None, None, None, None
        )

    def signed_update(
        self, request_id: int, firmware: dict[str, Any], retries: int | None, retry_interval: int | None
    ) -> str:
        cert = self._security.signing_certificate_ok(firmware.get("signing_certificate", ""))
        if cert is None:  # the security service raised InvalidFirmwareSigningCertificate with the reason
            return "InvalidCertificate"
        status = "AcceptedCanceled" if self.busy else "Accepted"  # the running one is cancelled when this starts
        self.request_id = request_id
        self._accepted = lambda: self._job(
            firmware["location"],
            firmware["retrieve_date_time"],
            retries or 0,
            retry_interval or 0,
            request_id,
            cert,
            firmware.get("signature", ""),
            firmware.get("install_date_time"),
        )
        return status

    async def _wait_until(self, when: str | None) -> None:
        try:
            t = parse_time(when)
        except TimeFormatError:
            t = None
        if t is None:
            return
        delay = t - self._clock.now().timestamp()
        if delay > 0:
            await self._clock.sleep(delay)

    def _image_name(self, location: str) -> str:
        name = Path(unquote(urlsplit(location).path)).name
        return name or "firmware.bin"

    async def _job(
        self, location: str, retrieve: str, retries: int, interval: int, request_id: int | None,
        cert: Any, signature: str | None, install_at: str | None,
    ) -> None:
        await self._wait_until(retrieve)
        self.staging.mkdir(parents=True, exist_ok=True)
        image = self.staging / self._image_name(location)
        await self._notify("Downloading", request_id)
        size = await with_retries(
            self._clock, self._trace, "firmware download", retries, interval,
            lambda: asyncio.to_thread(download, location, image),
        )
        if size is None:
            await self._notify("DownloadFailed", request_id)
            self._idle(request_id)
            return
        self._trace(f"firmware image {image.name}: {size} bytes")
        await self._notify("Downloaded", request_id)
        if request_id is not None:
            if not self._security.firmware_signature_ok(cert, signature or "", image):
                self._security.event("InvalidFirmwareSignature", image.name)
                await self._notify("InvalidSignature", request_id)
                self._idle(request_id)
                return
            await self._notify("SignatureVerified", request_id)
            await self._wait_until(install_at)
        while any(s.in_transaction for s in self._sessions.sessions.values()):
            await self._clock.sleep(1.0)  # install between transactions
        await self._notify("Installing", request_id)
        if self._ab is not None:
            if not await self._ab.install(image, request_id):
                await self._notify("InstallationFailed", request_id)
                self._idle(request_id)
                return
            if request_id is not None:
                await self._notify("InstallRebooting", request_id)
            await self._ab.restart_into_new_slot()
            return
        ok = await self._install(image)
        if not ok:
            await self._notify("InstallationFailed", request_id)
            self._idle(request_id)
            return
        try:
            write_json(self.dir / MARKER, {"status": "Installed", "request_id": request_id, "image": image.name})
        except StateWriteError as exc:  # installed all the same; only the report after the reboot is lost
            self._trace(f"firmware result marker not stored: {exc}")
        if request_id is not None:
            await self._notify("InstallRebooting", request_id)
        self._trace("firmware installed; rebooting")
        await self._restart("firmware")

    async def run(self) -> None:
        """Supervised: on an A/B board, watch a new slot's trial (rollback at its deadline); then idle."""
        if self._ab is not None:
            await self._ab.watch()
        await asyncio.Event().wait()

    def _idle(self, request_id: int | None) -> None:
        if request_id is None:
            self.status = "Idle"
        else:
            self.signed_status = "Idle"

    async def _install(self, image: Path) -> bool:
        conf = self._install_conf
        command = conf.get("install_command")
        if not command:
            self._trace("firmware: this board has no install hook ([firmware] install_command)")
            return False
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        argv = [a.replace("{file}", str(image)).replace("{python}", sys.executable) for a in argv]
        timeout = float(conf.get("timeout_s", DEFAULT_INSTALL_TIMEOUT_S))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
        except OSError as exc:
            self._trace(f"firmware install hook cannot run: {exc}")
            return False
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            self._trace(f"firmware install hook timed out after {timeout} s")
            return False
        if proc.returncode != 0:
            text = out.decode(errors="replace").strip()[-200:]
            self._trace(f"firmware install hook failed (exit {proc.returncode}) {text}")
            return False
        return True


class FirmwareApi(Protocol):
    @property
    def unsigned_allowed(self) -> bool: ...

    def update(self, location: str, retrieve_date: str, retries: int | None, retry_interval: int | None) -> None: ...

    def signed_update(
        self, request_id: int, firmware: dict[str, Any], retries: int | None, retry_interval: int | None
    ) -> str: ...

    def start_accepted(self) -> None: ...


class FirmwareHandlers:
    firmware_api: FirmwareApi

    @on(Action.update_firmware)
    async def on_update_firmware(
        self, location: str, retrieve_date: str, retries: int | None = None, retry_interval: int | None = None
    ) -> call_result.UpdateFirmware:
        if not self.firmware_api.unsigned_allowed:
            raise NotSupportedError(description="signed firmware only: use SignedUpdateFirmware")
        self.firmware_api.update(location, retrieve_date, retries, retry_interval)
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, **_: Any) -> None:
        self.firmware_api.start_accepted()  # the download starts once the .conf has gone out

    @on(Action.signed_update_firmware)
    async def on_signed_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> call_result.SignedUpdateFirmware:
        status = self.firmware_api.signed_update(request_id, firmware, retries, retry_interval)
        return call_result.SignedUpdateFirmware(status=UpdateFirmwareStatus(status))

    @after(Action.signed_update_firmware)
    async def after_signed_update_firmware(self, **_: Any) -> None:
        self.firmware_api.start_accepted()
