"""GetDiagnostics + DiagnosticsStatusNotification, and the security whitepaper's GetLog +
LogStatusNotification: build a real archive and upload it to the location the back office names.

The archive (tar.gz) holds the recent station trace (`trace.log`, filtered by startTime/stopTime), every
`*.log` file in the state directory (and its `logs/`), the configuration as GetConfiguration shows it
(write-only keys never leave the station), a journal summary, the station status and the security event
log. Upload: `ftp://[user:password@]host[:port]/dir/` (stdlib ftplib, STOR; a location ending in `/` gets
the file name appended), `http(s)://...` (POST multipart/form-data, field `file`; a server that answers 405
gets a PUT of the raw archive to location + file name). Up to `retries` more tries, `retryInterval` seconds
apart (through the injectable clock). Statuses: Uploading, then Uploaded or UploadFailed; Idle when
triggered with nothing going on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import io
import json
import os
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, LogStatus

from controller.clock import Clock
from controller.ports import LinkPort, NotConnected, Trace
from controller.timefmt import TimeFormatError, parse_time

TRANSFER_TIMEOUT_S = 30.0


T = TypeVar("T")


class TransferError(Exception):
    pass


# -- transfers (blocking; run in a thread) ---------------------------------------------------------------------
def _ftp_connect(parts: Any) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=TRANSFER_TIMEOUT_S)
    ftp.connect(parts.hostname or "", parts.port or 21)
    ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or "anonymous@"))
    ftp.set_pasv(True)
    return ftp


def upload(location: str, name: str, data: bytes) -> str:
    """Upload `data` as `name` to `location`; returns where it went. Raises TransferError."""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    try:
        if scheme == "ftp":
            path = unquote(parts.path or "/")
            target = path + name if path.endswith("/") else path
            ftp = _ftp_connect(parts)
            try:
                ftp.storbinary(f"STOR {target}", io.BytesIO(data))
            finally:
                with contextlib.suppress(Exception):
                    ftp.quit()
            return f"ftp://{parts.hostname}:{parts.port or 21}{target}"
        if scheme in ("http", "https"):
            boundary = uuid.uuid4().hex
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/gzip\r\n\r\n"
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
            req = urllib.request.Request(
                location, data=body, method="POST",
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            try:
                with urllib.request.urlopen(req, timeout=TRANSFER_TIMEOUT_S) as res:
                    res.read()
                return location
            except urllib.error.HTTPError as exc:
                if exc.code != 405:
                    raise
            target = location if not location.endswith("/") else location + name
            req = urllib.request.Request(
                target, data=data, method="PUT", headers={"Content-Type": "application/gzip"}
            )
            with urllib.request.urlopen(req, timeout=TRANSFER_TIMEOUT_S) as res:
                res.read()
            return target
    except (OSError, ftplib.Error, urllib.error.URLError, ValueError) as exc:
        raise TransferError(f"{exc.__class__.__name__}: {exc}") from exc
    raise TransferError(f"unsupported protocol {scheme!r}")


def download(location: str, dest: Path, max_bytes: int = 512 * 2**20) -> int:
    """Download `location` (http, https, ftp) to `dest`; returns the size. Raises TransferError."""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    tmp = dest.with_name(dest.name + ".part")
    size = 0
    try:
        with open(tmp, "wb") as out:
            if scheme == "ftp":
                ftp = _ftp_connect(parts)
                try:
                    def sink(chunk: bytes) -> None:
                        nonlocal size
                        size += len(chunk)
                        if size > max_bytes:
                            raise TransferError("image too large")
                        out.write(chunk)

                    ftp.retrbinary(f"RETR {unquote(parts.path)}", sink)
                finally:
                    with contextlib.suppress(Exception):
                        ftp.quit()
            elif scheme in ("http", "https"):
                with urllib.request.urlopen(location, timeout=TRANSFER_TIMEOUT_S) as res:
                    while chunk := res.read(65536):
                        size += len(chunk)
                        if size > max_bytes:
                            raise TransferError("image too large")
                        out.write(chunk)
            else:
                raise TransferError(f"unsupported protocol {scheme!r}")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(dest)
        return size
    except (OSError, ftplib.Error, urllib.error.URLError, ValueError) as exc:
        raise TransferError(f"{exc.__class__.__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# -- the archive -----------------------------------------------------------------------------------------------
async def with_retries(
    clock: Clock, trace: Trace, what: str, retries: int, interval: float, attempt: Callable[[], Awaitable[T]]
) -> T | None:
    """Run a transfer up to `retries + 1` times, `interval` seconds apart (through the injected clock);
    the result of the first success, or None when every try failed (each failure is traced)."""
    for n in range(retries + 1):
        try:
            return await attempt()
        except TransferError as exc:
            trace(f"{what} failed (try {n + 1}/{retries + 1}): {exc}")
            if n < retries:
                await clock.sleep(interval)
    return None


class JournalSummary(Protocol):
    def pending_count(self) -> int: ...

    def active_transactions(self) -> Sequence[Any]: ...


@dataclass(frozen=True)
class ArchiveSources:
    """What goes into a diagnostics archive, each read when the archive is built."""

    state_dir: Path
    recent_log: Callable[[], Iterable[tuple[float, str]]]  # (epoch seconds, line) of the station trace
    configuration: Callable[[], list[dict[str, Any]]]  # GetConfiguration's entries (no write-only values)
    journal: JournalSummary
    status: Callable[[], Mapping[str, Any]]
    security_events: Callable[[], list[dict[str, Any]]]


def build_archive(src: ArchiveSources, start: float | None, stop: float | None, security_log: bool = False) -> bytes:
    files: dict[str, bytes] = {}
    lines = [
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))} {line}"
        for t, line in list(src.recent_log())
        if (start is None or t >= start) and (stop is None or t <= stop)
    ]
    files["trace.log"] = ("\n".join(lines) + "\n").encode()
    for pattern in ("*.log", "logs/*.log"):
        for f in sorted(src.state_dir.glob(pattern)):
            with contextlib.suppress(OSError):
                files[f"logs/{f.name}"] = f.read_bytes()[-4 * 2**20 :]
    entries = src.configuration()
    files["config.json"] = json.dumps({e["key"]: e.get("value") for e in entries}, indent=1).encode()
    journal = src.journal
    summary: dict[str, Any] = {"pending_messages": journal.pending_count()}
    with contextlib.suppress(Exception):
        summary["active_transactions"] = [
            {"local_id": r.local_id, "connector": r.connector_id, "id_tag": r.id_tag, "start": r.start_time,
             "remote_id": r.remote_id}
            for r in journal.active_transactions()
        ]
    files["journal-summary.json"] = json.dumps(summary, indent=1).encode()
    with contextlib.suppress(Exception):
        files["status.json"] = json.dumps(src.status(), indent=1, default=str).encode()
    files["security-events.json"] = json.dumps(src.security_events(), indent=1).encode()
    if security_log:
        files = {"security-events.json": files["security-events.json"], "trace.log": files["trace.log"]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- the jobs --------------------------------------------------------------------------------------------------
async def send_when_online(link: LinkPort, trace: Trace, request: Any, wait_s: float = 60.0) -> None:
    """Send a non-transaction notification; waits (real time) a while for the link, then gives up."""
    end = time.monotonic() + wait_s
    while True:
        if link.online:
            try:
                await link.call(request)
                return
            except NotConnected:
                pass
            except Exception as exc:  # noqa: BLE001 - a notification that fails is only traced
                trace(f"{type(request).__name__} failed: {exc}")
                return
        if time.monotonic() > end:
            trace(f"{type(request).__name__} not sent: offline")
            return
        await asyncio.sleep(0.1)


class Diagnostics:
    def __init__(
        self, clock: Clock, link: LinkPort, identity: Callable[[], str], sources: ArchiveSources, trace: Trace
    ) -> None:
        self._clock = clock
        self._link = link
        self._identity = identity
        self._sources = sources
        self._trace = trace
        self.status = "Idle"
        self.log_status = "Idle"
        self.log_request_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._accepted: Callable[[], Awaitable[None]] | None = None  # started once the .conf has gone out

    @property
    def busy(self) -> bool:
        return self._accepted is not None or (self._task is not None and not self._task.done())

    def start_accepted(self) -> None:
        """Start the job the last request accepted (the handlers' @after hook: its .conf has been sent)."""
        job, self._accepted = self._accepted, None
        if job is not None:
            self._task = asyncio.ensure_future(job())

    def _name(self, prefix: str) -> str:
        ident = self._identity()
        return f"{prefix}-{ident}-{self._clock.now().strftime('%Y%m%dT%H%M%SZ')}.tar.gz"

    def get_diagnostics(
        self, location: str, retries: int | None, retry_interval: int | None, start: str | None, stop: str | None
    ) -> str:
        name = self._name("diagnostics")
        self._accepted = lambda: self._job(location, name, retries or 0, retry_interval or 0, start, stop, None, False)
        return name

    def get_log(
        self, log_type: str, request_id: int, location: str, retries: int | None, retry_interval: int | None,
        start: str | None, stop: str | None,
    ) -> tuple[str, str | None]:
        if self.busy:
            return "Rejected", None
        name = self._name("securitylog" if log_type == "SecurityLog" else "diagnosticslog")
        self._accepted = lambda: self._job(
            location, name, retries or 0, retry_interval or 0, start, stop, request_id, log_type == "SecurityLog"
        )
        return "Accepted", name

    async def _notify(self, status: str, request_id: int | None) -> None:
        if request_id is None:
            self.status = status
            await send_when_online(self._link, self._trace, call.DiagnosticsStatusNotification(status=status))
        else:
            self.log_status = status
            self.log_request_id = request_id
            await send_when_online(self._link, self._trace, call.LogStatusNotification(status=status, request_id=request_id))

    async def _job(
        self, location: str, name: str, retries: int, interval: int, start: str | None, stop: str | None,
        request_id: int | None, security_log: bool,
    ) -> None:
        try:
            t0 = parse_time(start)
            t1 = parse_time(stop)
        except TimeFormatError:
            t0 = t1 = None
        ok_status, fail_status = ("Uploaded", "UploadFailed") if request_id is None else ("Uploaded", "UploadFailure")
        await self._notify("Uploading", request_id)
        data = build_archive(self._sources, t0, t1, security_log)
        where = await with_retries(
            self._clock, self._trace, f"upload of {name}", retries, interval,
            lambda: asyncio.to_thread(upload, location, name, data),
        )
        if where is not None:
            self._trace(f"uploaded {name} ({len(data)} bytes) to {where}")
            await self._notify(ok_status, request_id)
            self._idle_later(request_id)
            return
        await self._notify(fail_status, request_id)
        self._idle_later(request_id)

    def _idle_later(self, request_id: int | None) -> None:
        if request_id is None:
            self.status = "Idle"
        else:
            self.log_status = "Idle"

    async def trigger_status(self) -> None:
        await send_when_online(self._link, self._trace, call.DiagnosticsStatusNotification(status=self.status), 5.0)

    async def trigger_log_status(self) -> None:
        await send_when_online(
            self._link,
            self._trace,
            call.LogStatusNotification(status=self.log_status, request_id=self.log_request_id),
            5.0,
        )


class DiagnosticsApi(Protocol):
    def get_diagnostics(
        self, location: str, retries: int | None, retry_interval: int | None, start: str | None, stop: str | None
    ) -> str: ...

    def get_log(
        self, log_type: str, request_id: int, location: str, retries: int | None, retry_interval: int | None,
        start: str | None, stop: str | None,
    ) -> tuple[str, str | None]: ...

    def start_accepted(self) -> None: ...


class DiagnosticsHandlers:
    diagnostics_api: DiagnosticsApi

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
    ) -> call_result.GetDiagnostics:
        name = self.diagnostics_api.get_diagnostics(location, retries, retry_interval, start_time, stop_time)
        return call_result.GetDiagnostics(file_name=name)

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, **_: Any) -> None:
        self.diagnostics_api.start_accepted()  # the upload starts once the .conf has gone out

    @on(Action.get_log)
    async def on_get_log(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> call_result.GetLog:
        status, name = self.diagnostics_api.get_log(
            log_type, request_id, log["remote_location"], retries, retry_interval,
            log.get("oldest_timestamp"), log.get("latest_timestamp"),
        )
        return call_result.GetLog(status=LogStatus(status), filename=name)

    @after(Action.get_log)
    async def after_get_log(self, **_: Any) -> None:
        self.diagnostics_api.start_accepted()
