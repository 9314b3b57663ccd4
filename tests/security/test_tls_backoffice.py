"""The station against the project's own TLS back office (certificates from `pki`, made at test time).

Issue 17 item 3 (no system CA store at profiles 2/3), item 5 (InvalidCentralSystemCertificate,
InvalidTLSVersion, InvalidTLSCipherSuite queued, persisted and sent after the next successful connection),
and the basics the issue found holding (only our root is trusted, a bad server certificate is refused before
any credential is sent, TLS 1.1 and static-RSA CBC suites are refused, SP3 presents the client certificate).
OCTT: TC_078 (the charge point side), TC_086, TC_087."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from ocpp.v16 import call

from controller.ocpp.certcheck import CS_ROOT
from controller.ocpp.certstore import CertStore
from tests.conftest import until
from tests.security.pki import Pki
from tests.security.support import (
    KEY1,
    TlsBackOffice,
    board_file,
    event_types,
    events,
    install_cp_certificate,
    install_roots,
    restart,
    start,
    stop,
)

BAD_SERVERS = {
    "expired": "expired",
    "wrong-host": "mismatch, certificate is not valid for",
    "self-signed": "self-signed certificate",
    "unknown-issuer": "unable to get local issuer certificate",
}


def basic(key: str, cp: str = "CP1") -> str:
    return "Basic " + base64.b64encode(f"{cp}:{key}".encode()).decode()


async def test_tc086_profile_2_valid_server_certificate(tmp_path: Path, pki: Pki) -> None:
    bo = TlsBackOffice(pki.server_context(), basic_auth={"CP1": KEY1})
    await bo.start()
    install_roots(tmp_path / "state", pki)
    rig = await start(tmp_path, bo, config={"AuthorizationKey": KEY1, "SecurityProfile": "1"})
    try:
        # raised to 2 by the back office: wss with our root only, TLS 1.2 or newer, Basic auth inside TLS
        res = await bo.call("CP1", call.ChangeConfiguration(key="SecurityProfile", value="2"))
        assert res.status == "Accepted"
        await until(lambda: len(bo.peers) >= 2 and rig.station.link.online, 10, "reconnected at profile 2")
        cp, version, client = bo.peers[-1]
        assert version in ("TLSv1.2", "TLSv1.3") and client is None
        assert bo.auth_headers["CP1"] == basic(KEY1)
    finally:
        await stop(rig)
        await bo.stop()


async def test_tc078_bad_server_certificates_are_refused_and_reported_after_reconnecting(tmp_path: Path, pki: Pki) -> None:
    """TC_078 (charge point side): the back office presents an invalid certificate; the station terminates
    the connection without sending anything, and reports InvalidCentralSystemCertificate once it is connected
    again. Expired, for another host, self-signed, from an unknown CA: each one."""
    ctx = pki.server_context()
    bo = TlsBackOffice(ctx, basic_auth={"CP1": KEY1})
    await bo.start()
    install_roots(tmp_path / "state", pki)
    rig = await start(tmp_path, bo, internal={"AuthorizationKey": KEY1, "SecurityProfile": "2"})
    link = rig.station.link
    try:
        for bad, why in BAD_SERVERS.items():
            seen = len(bo.peers)
            after = len(bo.records)
            pki.load_server_cert(ctx, bad)
            failures = link.failures
            await bo.drop("CP1")
            await until(lambda f=failures: link.failures >= f + 2, 10, f"refused attempts ({bad})")  # type: ignore[misc]
            assert len(bo.peers) == seen, bad  # no HTTP request, no credentials reached the server
            assert "CERTIFICATE_VERIFY_FAILED" in (link.last_error or "")
            pending = rig.station.security.queued()
            assert pending.count("InvalidCentralSystemCertificate") == 1, (bad, pending)  # once per run of failures
            pki.load_server_cert(ctx, "valid")
            await until(lambda a=after: "InvalidCentralSystemCertificate" in event_types(bo, after=a), 10, f"event ({bad})")  # type: ignore[misc]
            ev = next(e for e in events(bo, after=after) if e["type"] == "InvalidCentralSystemCertificate")
            assert why in ev["techInfo"] and "127.0.0.1" in ev["techInfo"]
    finally:
        await stop(rig)
        await bo.stop()


@pytest.mark.parametrize(
    ("weakness", "event", "seen"),
    [("tls11_only", "InvalidTLSVersion", "TLSv1.1"), ("weak_ciphers", "InvalidTLSCipherSuite", "AES128-SHA")],
)
async def test_an_old_tls_version_or_weak_cipher_is_refused_queued_and_sent_after_a_restart(
    tmp_path: Path, pki: Pki, weakness: str, event: str, seen: str
) -> None:
    weak = TlsBackOffice(pki.server_context(**{weakness: True}), basic_auth={"CP1": KEY1})
    await weak.start()
    port = weak.port
    install_roots(tmp_path / "state", pki)
    rig = await start(tmp_path, weak, internal={"AuthorizationKey": KEY1, "SecurityProfile": "2"}, wait_online=False)
    try:
        await until(lambda: event in rig.station.security.queued(), 10, event)
        assert weak.peers == [] and "CP1" not in weak.auth_headers  # never got as far as HTTP
        stored = json.loads((tmp_path / "state" / "security_events.json").read_text())
        tech = next(e["techInfo"] for e in stored if e["type"] == event)
        assert seen in tech
        await weak.stop()
        await restart(rig, tmp_path)  # the queue survives a restart
        good = TlsBackOffice(pki.server_context(), basic_auth={"CP1": KEY1}, port=port)
        await good.start()
        try:
            await until(lambda: event in event_types(good), 15, f"{event} sent after the next connection")
            assert event_types(good).count(event) == 1
        finally:
            await stop(rig)
            await good.stop()
    finally:
        await weak.stop()


async def test_profile_2_without_our_root_does_not_connect_and_says_why(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 3: a per-order board default SecurityProfile = "2" and no CentralSystemRootCertificate installed.
    The system CA store here trusts the back office (SSL_CERT_FILE), so a station that fell back to it
    would connect: it must not."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_file))
    bo = TlsBackOffice(pki.server_context(), basic_auth={"CP1": KEY1})
    await bo.start()
    board = board_file(tmp_path, {"SecurityProfile": "2", "AuthorizationKey": KEY1})
    rig = await start(tmp_path, bo, board=board, wait_online=False)
    try:
        await until(lambda: any("not connecting" in line for line in rig.trace), 10, "the reason in the log")
        line = next(line for line in rig.trace if "not connecting" in line)
        assert "CentralSystemRootCertificate" in line and "system CA store" in line
        assert bo.peers == [] and not rig.station.link.online and rig.station.link.connects == 0
        CertStore(tmp_path / "state").add_root(CS_ROOT, pki.root.cert)  # installed (e.g. by the installer)
        rig.station.link.reconnect_now()
        await until(lambda: rig.station.link.online, 10, "online once our root is there")
        assert bo.auth_headers["CP1"] == basic(KEY1)
    finally:
        await stop(rig)
        await bo.stop()


async def test_tc087_profile_3_presents_the_client_certificate_and_never_falls_back(tmp_path: Path, pki: Pki) -> None:
    bo = TlsBackOffice(pki.server_context(client_ca=pki.root))
    await bo.start()
    install_roots(tmp_path / "state", pki)
    mine = install_cp_certificate(tmp_path / "state", pki)
    rig = await start(tmp_path, bo, internal={"SecurityProfile": "3", "AuthorizationKey": KEY1})
    link = rig.station.link
    try:
        assert bo.peers[-1][2] == mine and bo.auth_headers["CP1"] is None
        # a back office that trusts another CA for clients refuses us: no lower profile is ever tried
        port = bo.port
        await bo.stop()
        other = TlsBackOffice(pki.server_context(client_ca=pki.rogue), port=port)
        await other.start()
        failures = link.failures
        await until(lambda: link.failures >= failures + 2, 10, "refused attempts")
        assert other.peers == [] and not link.online
        assert (link.current_url or "").startswith("wss://")
        await other.stop()
    finally:
        await stop(rig)
        await bo.stop()
