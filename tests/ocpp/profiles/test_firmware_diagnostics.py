"""TC_044 firmware update status sequence (and its failure paths) with a real download from a local HTTP
server and the board's install hook, and GetDiagnostics uploading a real archive over HTTP and FTP."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from ocpp.v16 import call

from tests.conftest import Rig, until
from tests.ocpp.profiles.conftest import (
    FtpServer,
    HttpFiles,
    calls,
    restart_after_reset,
    statuses,
    wait_statuses,
)

NOW = datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def test_tc044_firmware_update_installed_after_the_reboot(rig: Rig, http_files: HttpFiles, tmp_path: Path) -> None:
    bo, cp = rig.bo, rig.identity
    http_files.files["/fw/cp-1.2.3.bin"] = b"firmware image 1.2.3\n" * 100
    # a transaction runs: the download goes on, the installation waits for the transaction to end
    await rig.cmd("plug", connector=1, ev={"response_delay_s": 0.2})
    await rig.cmd("tag", uid="CARD1")
    await bo.wait_for("StartTransaction", cp, timeout=5)
    res = await bo.call(cp, call.UpdateFirmware(location=f"{http_files.url}/fw/cp-1.2.3.bin", retrieve_date=NOW))
    assert res is not None
    await wait_statuses(rig, "FirmwareStatusNotification", ["Downloading", "Downloaded"])
    staged = tmp_path / "state" / "firmware" / "staging" / "cp-1.2.3.bin"
    assert staged.read_bytes() == http_files.files["/fw/cp-1.2.3.bin"]
    assert rig.station.firmware.status == "Downloaded"
    await rig.cmd("tag", uid="CARD1")
    await bo.wait_for("StopTransaction", cp, timeout=5)
    await wait_statuses(rig, "FirmwareStatusNotification", ["Downloading", "Downloaded", "Installing"])
    await restart_after_reset(rig, tmp_path)  # the install hook succeeded: the station reboots
    await wait_statuses(rig, "FirmwareStatusNotification", ["Downloading", "Downloaded", "Installing", "Installed"])
    await until(lambda: "FirmwareUpdated" in [r.payload["type"] for r in calls(rig, "SecurityEventNotification")],
                5, "security event FirmwareUpdated")
    # nothing going on now: a triggered notification says Idle, after the .conf
    after = len(bo.records)
    res = await bo.call(cp, call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    assert res.status == "Accepted"
    await wait_statuses(rig, "FirmwareStatusNotification", ["Idle"], after=after)


async def test_tc044_download_failed_after_retries(rig: Rig, http_files: HttpFiles) -> None:
    res = await rig.bo.call(
        rig.identity,
        call.UpdateFirmware(location=f"{http_files.url}/missing.bin", retrieve_date=NOW, retries=1, retry_interval=1),
    )
    assert res is not None
    await wait_statuses(rig, "FirmwareStatusNotification", ["Downloading", "DownloadFailed"])
    assert sum("firmware download failed" in line for line in rig.trace) == 2
    assert not rig.station.reset_done.is_set()


async def test_tc044_installation_failed(rig: Rig, http_files: HttpFiles) -> None:
    http_files.files["/bad.bin"] = b"FAIL-INSTALL"
    await rig.bo.call(rig.identity, call.UpdateFirmware(location=f"{http_files.url}/bad.bin", retrieve_date=NOW))
    await wait_statuses(
        rig, "FirmwareStatusNotification", ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    )
    assert not rig.station.reset_done.is_set()


def _archive_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return set(tar.getnames())


async def test_get_diagnostics_http_upload(rig: Rig, http_files: HttpFiles) -> None:
    res = await rig.bo.call(rig.identity, call.GetDiagnostics(location=f"{http_files.url}/upload"))
    assert res.file_name.startswith("diagnostics-CP1-") and res.file_name.endswith(".tar.gz")
    await wait_statuses(rig, "DiagnosticsStatusNotification", ["Uploading", "Uploaded"])
    method, path, body = http_files.uploads[0]
    assert (method, path) == ("POST", "/upload")
    start = body.index(b"\r\n\r\n") + 4
    archive = body[start : body.rindex(b"\r\n--")]
    names = _archive_names(archive)
    assert {"trace.log", "config.json", "journal-summary.json", "status.json"} <= names
    # a server without POST gets a PUT to location + file name
    http_files.refuse_post = True
    res = await rig.bo.call(rig.identity, call.GetDiagnostics(location=f"{http_files.url}/put/"))
    await wait_statuses(rig, "DiagnosticsStatusNotification", ["Uploading", "Uploaded"] * 2)
    method, path, body = http_files.uploads[-1]
    assert (method, path) == ("PUT", f"/put/{res.file_name}")
    assert "config.json" in _archive_names(body)


async def test_get_diagnostics_ftp_upload_and_failure(rig: Rig, ftp_server: FtpServer) -> None:
    res = await rig.bo.call(rig.identity, call.GetDiagnostics(location=f"{ftp_server.url}/upload/"))
    await wait_statuses(rig, "DiagnosticsStatusNotification", ["Uploading", "Uploaded"])
    uploaded = ftp_server.root / "upload" / res.file_name
    assert "journal-summary.json" in _archive_names(uploaded.read_bytes())
    # wrong password, one retry: UploadFailed
    bad = ftp_server.url.replace("secret", "wrong")
    await rig.bo.call(rig.identity, call.GetDiagnostics(location=f"{bad}/upload/", retries=1, retry_interval=1))
    await wait_statuses(rig, "DiagnosticsStatusNotification", ["Uploading", "Uploaded", "Uploading", "UploadFailed"])
    assert statuses(rig, "DiagnosticsStatusNotification")[-1] == "UploadFailed"


async def test_the_conf_goes_before_the_first_status_notification(rig: Rig, http_files: HttpFiles) -> None:
    """The jobs start in the handlers' @after hooks, once the .conf has gone out (no sleep orders them)."""
    http_files.files["/fw/order.bin"] = b"image"
    bo, cp = rig.bo, rig.identity
    for request, notification in (
        (call.GetDiagnostics(location=f"{http_files.url}/upload"), "DiagnosticsStatusNotification"),
        (call.UpdateFirmware(location=f"{http_files.url}/fw/order.bin", retrieve_date=NOW), "FirmwareStatusNotification"),
    ):
        after = len(bo.records)
        await bo.call(cp, request)
        await until(lambda n=notification, a=after: calls(rig, n, a), 10, notification)  # type: ignore[misc]
        seen = [(r.direction, r.action) for r in bo.records[after:]]
        assert seen.index(("result", type(request).__name__)) < seen.index(("in", notification)), seen
