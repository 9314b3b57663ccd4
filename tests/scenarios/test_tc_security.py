"""Security profiles against the real back office (OCTT 1.6): TC_085 Basic auth header, TC_073 new
AuthorizationKey then reconnect, TC_083 raising the SecurityProfile (1 -> 2 over wss with the server
certificate verified against our root only, then 3 with a client certificate the CPO's CA signed), TC_084
lowering refused, never falling back to a lower profile. The rest of TC_073..TC_087 and every case of issue
17 are in tests/security/."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from ocpp.v16 import call

from controller.backoffice.server import BackOffice
from tests.ocpp.link.support import Script, TestPki, start_station, stop_station, until
from tests.security.pki import CPO, Pki
from tests.security.support import TlsBackOffice

KEY1 = "00112233445566778899AABBCCDDEEFF"
KEY2 = "FFEEDDCCBBAA99887766554433221100AABBCCDD"


def basic(cp: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{cp}:{key}".encode()).decode()


async def test_tc085_basic_auth_header(tmp_path: Path) -> None:
    bo = BackOffice(basic_auth={"CP1": KEY1})
    await bo.start()
    rig = await start_station(tmp_path, bo, config={"AuthorizationKey": KEY1, "SecurityProfile": "1"})
    try:
        assert bo.auth_headers["CP1"] == basic("CP1", KEY1)
        await Script(bo, "CP1").expect("StatusNotification", connectorId=1)
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_wrong_key_is_refused_and_retried_without_crashing(tmp_path: Path) -> None:
    bo = BackOffice(basic_auth={"CP1": KEY2})
    await bo.start()
    rig = await start_station(
        tmp_path, bo, config={"AuthorizationKey": KEY1, "SecurityProfile": "1"}, wait_online=False
    )
    try:
        await until(lambda: rig.station.link.failures >= 2, 10, "two refused attempts")
        assert "401" in (rig.station.link.last_error or "")
        assert not rig.station.link.online
        bo.basic_auth["CP1"] = KEY1  # the back office gets the right key: we get in on the next attempt
        await until(lambda: rig.station.link.online, 10, "online")
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc073_new_authorization_key_then_reconnect(tmp_path: Path) -> None:
    bo = BackOffice(basic_auth={"CP1": KEY1})
    await bo.start()
    rig = await start_station(tmp_path, bo, config={"AuthorizationKey": KEY1, "SecurityProfile": "1"})
    s = Script(bo, "CP1")
    try:
        connects = rig.station.link.connects
        res = await s.send(call.ChangeConfiguration(key="AuthorizationKey", value=KEY2))
        assert res.status == "Accepted"
        bo.basic_auth["CP1"] = KEY2
        await until(lambda: rig.station.link.connects > connects and rig.station.link.online, 10, "reconnected")
        assert bo.auth_headers["CP1"] == basic("CP1", KEY2)
        res = await s.send(call.GetConfiguration(key=["AuthorizationKey"]))
        assert "value" not in res.configuration_key[0]  # write-only
    finally:
        await stop_station(rig)
        await bo.stop()


async def test_tc083_tc084_raise_security_profile_1_to_2_to_3_never_back(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    plain = BackOffice(basic_auth={"CP1": KEY1})
    tls = TlsBackOffice(pki.server_context(), basic_auth={"CP1": KEY1})
    mtls = TlsBackOffice(pki.server_context(client_ca=pki.root))
    for bo in (plain, tls, mtls):
        await bo.start()
    assert tls.url.startswith("wss://")
    rig = await start_station(
        tmp_path, plain, url_option=False,
        config={"BackOffice-URL-wired": plain.url, "AuthorizationKey": KEY1, "SecurityProfile": "1", "CpoName": CPO},
    )
    link = rig.station.link
    try:
        s1 = Script(plain, "CP1")
        res = await s1.send(call.ChangeConfiguration(key="SecurityProfile", value="2"))
        assert res.status == "Rejected"  # no CentralSystemRootCertificate installed yet
        res = await s1.send(
            call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=pki.root_file.read_text())
        )
        assert res.status == "Accepted"
        # the operator points us at the TLS endpoint (applies on the next connect), then raises the profile
        res = await s1.send(call.ChangeConfiguration(key="BackOffice-URL-wired", value=tls.url))
        assert res.status == "RebootRequired"
        assert link.online and link.current_url == f"{plain.url}/CP1"
        res = await s1.send(call.ChangeConfiguration(key="SecurityProfile", value="2"))
        assert res.status == "Accepted"
        await tls.wait_connected("CP1", timeout=10)
        await until(lambda: link.online and link.current_url == f"{tls.url}/CP1", 10, "online over wss")
        assert tls.auth_headers["CP1"] == basic("CP1", KEY1)
        s2 = Script(tls, "CP1")
        await s2.expect("StatusNotification", connectorId=1)

        res = await s2.send(call.ChangeConfiguration(key="SecurityProfile", value="1"))
        assert res.status == "Rejected"  # TC_084: only ever raised
        res = await s2.send(call.ChangeConfiguration(key="SecurityProfile", value="3"))
        assert res.status == "Rejected"  # no client certificate installed yet

        # never falls back: with the TLS back office gone, no plain connection is attempted
        plain_records = len(plain.records)
        await tls.stop()
        await until(lambda: link.failures >= 3, 10, "failed attempts over wss")
        assert len(plain.records) == plain_records and not plain.connected("CP1")
        assert all(u.startswith("wss://") for u in [link.current_url or ""])
        await tls.start()
        await until(lambda: link.online, 10, "back over wss")

        # our client certificate: SignCertificate with a CSR, the CPO's CA signs it, CertificateSigned
        res = await s2.send(call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"))
        assert res.status == "Accepted"
        csr = (await s2.expect("SignCertificate")).payload["csr"]
        res = await s2.send(call.CertificateSigned(certificate_chain=pki.sign_csr(csr)))
        assert res.status == "Accepted"
        res = await s2.send(call.ChangeConfiguration(key="BackOffice-URL-wired", value=mtls.url))
        assert res.status == "RebootRequired"
        res = await s2.send(call.ChangeConfiguration(key="SecurityProfile", value="3"))
        assert res.status == "Accepted"
        await mtls.wait_connected("CP1", timeout=10)
        await until(lambda: link.online and link.current_url == f"{mtls.url}/CP1", 10, "online with a client cert")
        assert mtls.auth_headers["CP1"] is None  # profile 3: the certificate, not Basic auth
        assert mtls.peers[-1][2] is not None
        assert rig.station.config.get("SecurityProfile") == "3"
        res = await Script(mtls, "CP1").send(call.ChangeConfiguration(key="SecurityProfile", value="2"))
        assert res.status == "Rejected"  # TC_084
    finally:
        await stop_station(rig)
        for bo in (plain, tls, mtls):
            await bo.stop()


async def test_profile_2_refuses_a_server_certificate_it_cannot_verify(tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    tls = BackOffice(basic_auth={"CP1": KEY1}, ssl=pki.server_context())
    await tls.start()
    pki.install(tmp_path / "state", other_root=True)  # trusts someone else's root
    rig = await start_station(
        tmp_path, tls, url_option=False, wait_online=False,
        config={"BackOffice-URL-wired": tls.url, "AuthorizationKey": KEY1, "SecurityProfile": "2"},
    )
    try:
        await until(lambda: rig.station.link.failures >= 2, 10, "refused attempts")
        assert "CERTIFICATE_VERIFY_FAILED" in (rig.station.link.last_error or "")
        assert not tls.connected("CP1")
        await asyncio.sleep(0)
    finally:
        await stop_station(rig)
        await tls.stop()


async def test_profile_2_upgrades_a_stored_plain_url_to_wss(tmp_path: Path) -> None:
    """A ws:// URL stored before the profile was raised (or on the command line): opened as wss://, never in
    clear text (an explicit ws:// written at profile 2 is Rejected: tests/security/test_url_profile.py)."""
    pki = TestPki(tmp_path / "pki")
    tls = BackOffice(basic_auth={"CP1": KEY1}, ssl=pki.server_context())
    await tls.start()
    pki.install(tmp_path / "state")
    plain_url = tls.url.replace("wss://", "ws://")
    rig = await start_station(
        tmp_path, tls, url_option=False,
        config={"BackOffice-URL-wired": plain_url, "AuthorizationKey": KEY1, "SecurityProfile": "2"},
    )
    try:
        assert rig.station.link.current_url == f"{tls.url}/CP1"
    finally:
        await stop_station(rig)
        await tls.stop()
