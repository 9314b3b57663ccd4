"""Secrets and security parameters.

Issue 17 item 4 (the AuthorizationKey was logged with every ChangeConfiguration and uploaded in
GetDiagnostics/GetLog archives), item 9 (ReconfigurationOfSecurityParameters raised for Rejected changes),
item 11 (the Basic auth password: hex text by default, the decoded bytes on request). OCTT: TC_073 (new
AuthorizationKey, reconnect), TC_079 (security log), TC_085 (Basic auth header)."""

from __future__ import annotations

import base64
import io
import logging
import tarfile
from pathlib import Path

import pytest
from ocpp.v16 import call

from controller.config.keys import KEYS
from controller.redact import MASK, redact_payload, redact_text, secret_key_names
from tests.conftest import until
from tests.ocpp.link.support import Script
from tests.ocpp.profiles.conftest import HttpFiles, http_files  # noqa: F401 - the fixture
from tests.security.support import KEY1, KEY2, TlsBackOffice, event_types, start, stop

SECRET = frozenset(secret_key_names(KEYS))
FORMAT = logging.Formatter("%(name)s %(message)s")  # with the traceback, as a log handler writes it


def archive_texts(body: bytes) -> dict[str, str]:
    start = body.index(b"\r\n\r\n") + 4
    data = body[start : body.rindex(b"\r\n--")]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            out[m.name] = f.read().decode(errors="replace") if f else ""
        return out


def test_redaction_of_frames_reprs_and_urls() -> None:
    assert {"AuthorizationKey", "ProxyPassword", "PW-SetChargerPassword"} <= SECRET
    frames = [
        f'[2,"1","ChangeConfiguration",{{"key":"AuthorizationKey","value":"{KEY1}"}}]',
        f'[2,"1","ChangeConfiguration",{{"value": "{KEY1}", "key": "AuthorizationKey"}}]',
        f"<Call action=ChangeConfiguration, payload={{'key': 'ProxyPassword', 'value': '{KEY1}'}}>",
        repr(f'[2,"1","ChangeConfiguration",{{"key":"AuthorizationKey","value":"{KEY1}"}}]')[:70],  # cut short
        f"upload to ftp://cp:{KEY1}@127.0.0.1/x failed",
    ]
    for text in frames:
        clean = redact_text(text, SECRET)
        assert KEY1 not in clean and KEY1[:12] not in clean, clean
    assert redact_text('{"key":"HeartbeatInterval","value":"30"}', SECRET) == '{"key":"HeartbeatInterval","value":"30"}'
    assert redact_payload("ChangeConfiguration", {"key": "AuthorizationKey", "value": KEY1}, SECRET)["value"] == MASK


async def test_the_authorization_key_is_in_no_trace_log_or_archive(
    tmp_path: Path, http_files: HttpFiles, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("ocpp").setLevel(logging.DEBUG)
    bo = TlsBackOffice(None, basic_auth={"CP1": KEY1})
    await bo.start()
    rig = await start(tmp_path, bo, config={"AuthorizationKey": KEY1, "SecurityProfile": "1"})
    s = Script(bo, "CP1")
    try:
        bo.basic_auth["CP1"] = KEY2
        assert (await s.send(call.ChangeConfiguration(key="AuthorizationKey", value=KEY2))).status == "Accepted"
        await until(lambda: rig.station.link.online and bo.auth_headers["CP1"] != _basic(KEY1), 10, "reconnected")
        refused = "ABCDEF0123456789ABCDEF012345678" + "Z"  # wrong format: Rejected, and still a secret
        assert (await s.send(call.ChangeConfiguration(key="AuthorizationKey", value=refused))).status == "Rejected"
        long_secret = "C0FFEE" * 90  # beyond the schema: the ocpp library logs the whole request it refuses
        with pytest.raises(Exception):  # noqa: B017 - a CALLERROR, whatever the library names it
            await bo.call_unchecked("CP1", call.ChangeConfiguration(key="AuthorizationKey", value=long_secret))
        assert (await s.send(call.ChangeConfiguration(key="ProxyPassword", value="hunter2-proxy"))).status == "RebootRequired"
        for n, request in enumerate([
            call.GetDiagnostics(location=f"{http_files.url}/diag"),
            call.GetLog(log={"remote_location": f"{http_files.url}/log"}, log_type="DiagnosticsLog", request_id=1),
            call.GetLog(log={"remote_location": f"{http_files.url}/sec"}, log_type="SecurityLog", request_id=2),
        ]):
            await s.send(request)
            await until(lambda n=n: len(http_files.uploads) > n and not rig.station.diagnostics.busy, 10,  # type: ignore[misc]
                        f"upload {n + 1}")
        secrets = (KEY1, KEY2, refused, long_secret[:40], "hunter2-proxy")
        texts = {f"{path}:{name}": text for _, path, body in http_files.uploads for name, text in archive_texts(body).items()}
        assert any("ChangeConfiguration" in t for t in texts.values())  # the changes are in the archive...
        for where, text in {**texts, "trace": "\n".join(rig.trace),
                            "log": "\n".join(FORMAT.format(r) for r in caplog.records if not _back_office(r.name))}.items():
            for secret in secrets:
                assert secret not in text, (secret, where, text[max(0, text.find(secret) - 300):text.find(secret) + 50])
        assert sum("ReconfigurationOfSecurityParameters" in t for t in texts.values()) >= 1  # TC_079: in the security log
    finally:
        await stop(rig)
        await bo.stop()


async def test_reconfiguration_event_only_for_accepted_changes(tmp_path: Path) -> None:
    """Item 9."""
    bo = TlsBackOffice(None)
    await bo.start()
    rig = await start(tmp_path, bo)
    s = Script(bo, "CP1")
    try:
        assert (await s.send(call.ChangeConfiguration(key="AuthorizationKey", value="nothex"))).status == "Rejected"
        assert (await s.send(call.ChangeConfiguration(key="SecurityProfile", value="2"))).status == "Rejected"  # no root
        assert (await s.send(call.ChangeConfiguration(key="SecurityProfile", value="0"))).status == "Rejected"  # not higher
        assert (await s.send(call.ChangeConfiguration(key="AuthorizationKeyFormat", value="Base64"))).status == "Rejected"
        await s.expect_none("SecurityEventNotification", 0.5, type="ReconfigurationOfSecurityParameters")
        assert (await s.send(call.ChangeConfiguration(key="AuthorizationKey", value=KEY1))).status == "Accepted"
        await s.expect("SecurityEventNotification", type="ReconfigurationOfSecurityParameters", techInfo="AuthorizationKey")
        assert event_types(bo).count("ReconfigurationOfSecurityParameters") == 1
    finally:
        await stop(rig)
        await bo.stop()


def _back_office(logger: str) -> bool:
    return logger.startswith(("controller.backoffice", "websockets.server"))


def _basic(key: str, cp: str = "CP1") -> str:
    return "Basic " + base64.b64encode(f"{cp}:{key}".encode()).decode()


async def test_tc085_basic_auth_password_hex_text_or_decoded_bytes(tmp_path: Path) -> None:
    """Item 11: hex text by default (TC_085); `AuthorizationKeyFormat = DecodedBytes` sends the bytes."""
    bo = TlsBackOffice(None)
    await bo.start()
    rig = await start(tmp_path, bo, config={"AuthorizationKey": KEY1, "SecurityProfile": "1"})
    link = rig.station.link
    try:
        assert bo.auth_headers["CP1"] == _basic(KEY1)
        connects = link.connects
        res = await Script(bo, "CP1").send(call.ChangeConfiguration(key="AuthorizationKeyFormat", value="DecodedBytes"))
        assert res.status == "Accepted"
        await until(lambda: link.connects > connects and link.online, 10, "reconnected with the new form")
        token = bo.auth_headers["CP1"] or ""
        assert base64.b64decode(token.split(" ", 1)[1]) == b"CP1:" + bytes.fromhex(KEY1)
    finally:
        await stop(rig)
        await bo.stop()


async def test_the_board_file_can_choose_the_decoded_form(tmp_path: Path) -> None:
    from tests.security.support import board_file

    bo = TlsBackOffice(None)
    await bo.start()
    board = board_file(tmp_path, {"AuthorizationKeyFormat": "DecodedBytes", "AuthorizationKey": KEY2, "SecurityProfile": "1"})
    rig = await start(tmp_path, bo, board=board)
    try:
        token = bo.auth_headers["CP1"] or ""
        assert base64.b64decode(token.split(" ", 1)[1]) == b"CP1:" + bytes.fromhex(KEY2)
    finally:
        await stop(rig)
        await bo.stop()


def test_redaction_is_linear_in_the_text_length() -> None:
    """A hostile peer's 1 MiB frame of letters (or of URL-looking runs) is redacted in one pass: the URL
    pattern used to try every position against the whole run (quadratic; it hung this test for minutes)."""
    from controller.redact import redact_text

    secret = frozenset({"AuthorizationKey", "ProxyPassword"})
    for text in ("z" * 2**20, "ws://" + "z" * 2**20, "ws://a" * 2**17, "a:" * 2**19, "http" + "b" * 2**20 + "://u:p@h"):
        assert len(redact_text(text, secret)) <= len(text)
    assert redact_text("x wss://user:pw@host/p", secret) == "x wss://***@host/p"
