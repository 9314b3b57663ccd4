"""Every write-only key is a secret (issue 11 item 5): walked from the key table, each is set over OCPP
(accepted, and where it has a refused form, refused too), then its value must appear in no output: the
station trace, the log records, GetConfiguration, the diagnostics archive, the sim control API's status and
any state file another user could read.

String values are distinctive and searched for as they are. Numbers are searched with digit boundaries (the
value, not a longer number or a timestamp fraction that contains it). A true/false value cannot be searched
for in the whole text: for those, the text right after each mention of the key name must not carry it (GetConfiguration's
`"readonly": false` aside)."""

from __future__ import annotations

import json
import logging
import re
import stat
from pathlib import Path

import pytest
from ocpp.v16 import call

from controller.config.keys import KEYS, Access, KeySpec, KeyType
from tests.conftest import until
from tests.ocpp.link.support import Script
from tests.ocpp.profiles.conftest import HttpFiles, http_files  # noqa: F401 - the fixture
from tests.security.support import TlsBackOffice, start, stop
from tests.security.test_secrets import FORMAT, _back_office, archive_texts

WRITE_ONLY = [k for k in KEYS if k.access is Access.W]

# per key: the values sent, in order, as (value, expected answer); the text a leak of each would show
STRING_VALUES: dict[str, list[tuple[str, str]]] = {
    "AuthorizationKey": [("5EC2E7A1B2C3D4E5F60718293A4B5C6D", "Accepted"), ("5EC2E7-not-hex-Q", "Rejected")],
    "ProxyPassword": [("proxy-S3cret-9f2e", "RebootRequired")],
    "CalibrateTilt": [("tilt-S3cret-77ab", "Accepted")],
    # no password yet: '' is the existing one; then a rotation; then a wrong existing password
    "PW-SetChargerPassword": [(",Charger-S3cret-1357", "Accepted"),
                              ("Charger-S3cret-1357,Charger-S3cret-2468", "Accepted"),
                              ("wrong-Guess-S3cret,Charger-S3cret-9999", "Rejected")],
    "PW-SetTempAccessKey": [("Temp-S3cret-4411x", "Accepted"), ("Temp,S3cret,comma", "Rejected")],
    "ForceFirmwareRollback": [("9.8.7-65431", "Accepted")],
}
NUMBER_BASE = 4711  # distinct 4-digit values, below the ephemeral port range and not in any default


def values_for(spec: KeySpec, n: int) -> list[tuple[str, str]]:
    """What the test sends for a write-only key; a new key without a case here fails loudly."""
    if spec.name in STRING_VALUES:
        return STRING_VALUES[spec.name]
    if spec.type is KeyType.BOOL:
        return [("false" if spec.default == "true" else "true", "Accepted")]
    if spec.type is KeyType.INT:
        value = NUMBER_BASE + n
        assert (spec.minimum or 0) <= value <= (spec.maximum or value), spec
        return [(str(value), "RebootRequired" if spec.reboot_required else "Accepted")]
    raise AssertionError(f"write-only key {spec.name} ({spec.type}): add its values to this test")


def leaks(text: str, spec: KeySpec, value: str) -> bool:
    if spec.type is KeyType.BOOL:
        mentions = [m.end() for m in re.finditer(re.escape(spec.name), text, re.IGNORECASE)]
        windows = [re.sub(r"readonly[\"']?\s*:\s*\w+", "", text[at:at + 60], flags=re.IGNORECASE) for at in mentions]
        return any(re.search(rf"\b{value}\b", w, re.IGNORECASE) for w in windows)
    if spec.type is KeyType.INT:
        return re.search(rf"(?<![\d.]){re.escape(value)}(?!\d)", text) is not None
    # a string: the whole value, and each half of a comma pair (a password change carries two)
    return any(part and len(part) >= 8 and part in text for part in (value, *value.split(",")))


def readable_by_others(state: Path) -> dict[str, str]:
    out = {}
    for path in state.rglob("*"):
        if path.is_file() and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
            out[f"state file {path.relative_to(state)} (mode {path.stat().st_mode & 0o777:o})"] = path.read_text(
                errors="replace")
    return out


async def test_no_write_only_value_appears_in_any_output(
    tmp_path: Path, http_files: HttpFiles, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    assert {"AuthorizationKey", "ProxyPassword", "PW-SetChargerPassword", "PW-SetTempAccessKey"} <= {
        k.name for k in WRITE_ONLY}
    caplog.set_level(logging.DEBUG)
    logging.getLogger("ocpp").setLevel(logging.DEBUG)
    bo = TlsBackOffice(None)
    await bo.start()
    rig = await start(tmp_path, bo)
    s = Script(bo, "CP1")
    sent: list[tuple[KeySpec, str]] = []
    try:
        for n, spec in enumerate(WRITE_ONLY):
            for value, answer in values_for(spec, n):
                res = await s.send(call.ChangeConfiguration(key=spec.name, value=value))
                assert res.status == answer, (spec.name, value, res)
                sent.append((spec, value))
        answers = [await s.send(call.GetConfiguration()),
                   await s.send(call.GetConfiguration(key=[k.name for k in WRITE_ONLY]))]
        entries = [c for a in answers for c in (a.configuration_key or [])]
        names = {k.name for k in WRITE_ONLY}
        assert not {c["key"] for c in answers[0].configuration_key} & names  # not listed unasked
        assert all("value" not in c for c in entries if c["key"] in names)  # asked by name: without a value
        await s.send(call.GetDiagnostics(location=f"{http_files.url}/diag"))
        await until(lambda: bool(http_files.uploads) and not rig.station.diagnostics.busy, 10, "diagnostics upload")
        outputs = {
            "trace": "\n".join(rig.trace),
            "log": "\n".join(FORMAT.format(r) for r in caplog.records if not _back_office(r.name)),
            "GetConfiguration": json.dumps([a.__dict__ for a in answers], default=str),
            "sim API status": json.dumps(await rig.sim.handle("status", {}), default=str),
            **{f"diagnostics {name}": text for _, _, body in http_files.uploads
               for name, text in archive_texts(body).items()},
            **readable_by_others(tmp_path / "state"),
        }
        assert any("ChangeConfiguration" in t for k, t in outputs.items() if k.startswith("diagnostics"))
        assert (tmp_path / "state").stat().st_mode & 0o077 == 0
        found = [(spec.name, value, where) for spec, value in sent for where, text in outputs.items()
                 if leaks(text, spec, value)]
        assert not found, found
    finally:
        await stop(rig)
        await bo.stop()


def test_the_leak_check_finds_each_kind_of_value() -> None:
    """The searches above can fail: each finds its value where it leaks, and only there."""
    by_name = {k.name: k for k in WRITE_ONLY}
    nuvve, ws, pw = by_name["NuvveActive"], by_name["WS timeout"], by_name["PW-SetChargerPassword"]
    assert leaks('{"key": "NuvveActive", "value": "true"}', nuvve, "true")
    assert not leaks('{"key": "NuvveActive", "value": "***"} {"x": 1}' + " " * 60 + "true", nuvve, "true")
    assert not leaks('{"key": "NuvveActive", "readonly": true}', nuvve, "true")
    assert leaks("WS timeout set to 4716 s", ws, "4716") and not leaks("at 07:12:33.47162Z, port 54716", ws, "4716")
    assert leaks("new password Charger-S3cret-2468", pw, "Charger-S3cret-1357,Charger-S3cret-2468")
