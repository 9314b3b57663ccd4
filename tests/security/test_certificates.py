"""The charge point certificate and the root store.

Issue 17 item 6 (CertificateSigned checks CN, O, chain, dates; the previous pair is kept until the new one
has connected, and comes back when the back office refuses the new one), item 7 (reconnect with the new
certificate after Accepted: OCTT TC_074 step 7), item 10 (a leaf is no root; certs/ 0700; the CSR key is
created 0600; an over-long chain is Rejected plus an event, not a CALLERROR; the CSR has O = CpoName) and the
InstallCertificate half of item 5. OCTT: TC_074, TC_075_1, TC_075_2, TC_076, TC_077, TC_078 (central
system side)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.v16 import call

from controller.backoffice.server import BackOffice
from controller.ocpp.certstore import CertStore
from tests.conftest import Rig, until
from tests.ocpp.link.support import Script
from tests.security.pki import CPO, NOW, Pki, ec_key, make_ca, pem
from tests.security.support import (
    TlsBackOffice,
    event_types,
    events,
    install_cp_certificate,
    install_roots,
    start,
    stop,
)


async def csr_of(s: Script) -> str:
    s.mark()
    res = await s.send(call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"))
    assert res.status == "Accepted"
    return str((await s.expect("SignCertificate")).payload["csr"])


@pytest.fixture
async def plain(tmp_path: Path, pki: Pki) -> Any:
    """A station at profile 0 with CpoName set and the CSMS root installed, on a plain back office."""
    bo = TlsBackOffice(None)
    await bo.start()
    install_roots(tmp_path / "state", pki)
    rig = await start(tmp_path, bo, config={"CpoName": CPO})
    try:
        yield rig
    finally:
        await stop(rig)
        await bo.stop()


BAD_CHAINS: list[tuple[str, dict[str, Any], str]] = [
    ("CN is not our identity", {"cn": "evil"}, "CN evil is not our identity CP1"),
    ("O is not the CpoName", {"o": "Evil Org"}, "O Evil Org is not the CpoName"),
    ("rogue issuer", {"issuer": "rogue"}, "not issued under an installed root"),
    ("sub-CA missing from the chain", {"chain": False}, "not issued under an installed root"),
    ("expired", {"not_before": NOW - dt.timedelta(days=9), "not_after": NOW - dt.timedelta(days=1)}, "expired"),
    ("not valid yet", {"not_before": NOW + dt.timedelta(days=1)}, "not valid before"),
    ("another key", {"key": "other"}, "not for our key"),
    ("server certificate", {"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "without clientAuth"),
    ("key usage without digitalSignature", {"key_usage": {"key_encipherment": True}}, "digitalSignature"),
]


@pytest.mark.parametrize(("what", "override", "reason"), BAD_CHAINS, ids=[b[0] for b in BAD_CHAINS])
async def test_tc077_certificate_signed_is_checked(plain: Rig, pki: Pki, what: str, override: dict[str, Any], reason: str) -> None:
    """TC_077: an invalid certificate is Rejected and reported (InvalidChargePointCertificate); the station
    keeps what it had. On the issue's main CN=evil, O=Evil Org and a rogue issuer were all Accepted."""
    s = Script(plain.bo, "CP1")
    csr = await csr_of(s)
    kw = dict(override)
    if kw.get("issuer") == "rogue":
        kw["issuer"] = pki.rogue
    if kw.get("key") == "other":
        kw["key"] = ec_key()
    res = await s.send(call.CertificateSigned(certificate_chain=pki.sign_csr(csr, **kw)))
    assert res.status == "Rejected", what
    ev = await s.expect("SecurityEventNotification", type="InvalidChargePointCertificate")
    assert reason in ev.payload["techInfo"], ev.payload
    store = CertStore(plain.station.state_dir)
    assert store.candidate() is None and store.active() is None
    # the same CSR signed properly is still welcome (the key was kept)
    res = await s.send(call.CertificateSigned(certificate_chain=pki.sign_csr(csr)))
    assert res.status == "Accepted"


async def test_an_over_long_chain_is_rejected_with_an_event_not_a_callerror(plain: Rig, pki: Pki) -> None:
    """Item 10: beyond the schema's 10000 characters (and beyond CertificateSignedMaxChainSize)."""
    s = Script(plain.bo, "CP1")
    csr = await csr_of(s)
    chain = pki.sign_csr(csr)
    res = await plain.bo.call_unchecked("CP1", call.CertificateSigned(certificate_chain=chain + "\n" * (10001 - len(chain))))
    assert res.status == "Rejected"
    ev = await s.expect("SecurityEventNotification", type="InvalidChargePointCertificate")
    assert "at most 10000" in ev.payload["techInfo"]
    plain.station.config.set_internal("CertificateSignedMaxChainSize", str(len(chain) - 1))
    res = await s.send(call.CertificateSigned(certificate_chain=chain))
    assert res.status == "Rejected"
    ev = await s.expect("SecurityEventNotification", type="InvalidChargePointCertificate")
    assert f"at most {len(chain) - 1}" in ev.payload["techInfo"]


async def test_the_csr_names_the_cpo_and_no_csr_without_one(tmp_path: Path, pki: Pki) -> None:
    """Item 10: the CSR had no O when CpoName was empty; now there is no CSR without a CpoName."""
    bo = BackOffice()
    await bo.start()
    rig = await start(tmp_path, bo)
    s = Script(bo, "CP1")
    try:
        res = await s.send(call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"))
        assert res.status == "Rejected"
        await s.expect_none("SignCertificate", 0.3)
        assert (await s.send(call.ChangeConfiguration(key="CpoName", value=CPO))).status == "Accepted"
        csr = x509.load_pem_x509_csr((await csr_of(s)).encode())
        assert csr.is_signature_valid
        assert [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["CP1"]
        assert [a.value for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [CPO]
    finally:
        await stop(rig)
        await bo.stop()


def test_key_files_are_born_private_and_certs_is_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 10: certs/ was 0755 and pending-key.pem existed (with the umask's mode) before it was made 0600.
    With a umask that lets anything through and chmod of files forbidden, the key must still be 0600."""
    state = tmp_path / "state"
    (state / "certs" / "cp").mkdir(parents=True)
    os.chmod(state / "certs", 0o755)  # as an older version left it
    old = os.umask(0)
    real_chmod = os.chmod

    def no_file_chmod(path: Any, mode: int, *a: Any, **kw: Any) -> None:
        if not Path(path).is_dir():
            raise AssertionError(f"{path} was created with the wrong mode and fixed afterwards")
        real_chmod(path, mode, *a, **kw)

    monkeypatch.setattr(os, "chmod", no_file_chmod)
    monkeypatch.setattr(Path, "chmod", lambda self, mode, **kw: no_file_chmod(self, mode))
    try:
        from controller.ocpp.security import Security

        sec = Security(state, None, None, None, lambda: "CP1", lambda line: None)  # type: ignore[arg-type]
        sec.store.new_pending_key()
    finally:
        os.umask(old)
    assert stat.S_IMODE((state / "certs").stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "certs" / "cp").stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "certs" / "cp" / "pending-key.pem").stat().st_mode) == 0o600


# -- the new certificate in use -------------------------------------------------------------------------------------
@pytest.fixture
async def profile3(tmp_path: Path, pki: Pki) -> Any:
    """Profile 3 with an installation pair, against a back office that accepts client certificates from the
    CSMS root only. The station also trusts a second CentralSystemRootCertificate (`other`) the back office
    does not accept for clients."""
    bo = TlsBackOffice(pki.server_context(client_ca=pki.root))
    await bo.start()
    other = make_ca("Other CSMS Root")
    install_roots(tmp_path / "state", pki, roots=[other.cert])
    first = install_cp_certificate(tmp_path / "state", pki)
    rig = await start(tmp_path, bo, internal={"SecurityProfile": "3", "CpoName": CPO})
    try:
        yield rig, first, other
    finally:
        await stop(rig)
        await bo.stop()


def client_certs(bo: TlsBackOffice) -> list[x509.Certificate | None]:
    return [c for _, _, c in bo.peers]


async def test_tc074_reconnects_with_the_new_certificate_and_keeps_the_old_until_it_worked(profile3: Any, pki: Pki) -> None:
    rig, first, _ = profile3
    bo, link = rig.bo, rig.station.link
    s = Script(bo, "CP1")
    assert client_certs(bo)[-1] == first
    store = CertStore(rig.station.state_dir)
    csr = await csr_of(s)
    connects = link.connects
    res = await s.send(call.CertificateSigned(certificate_chain=pki.sign_csr(csr)))
    assert res.status == "Accepted"
    # TC_074 step 7: the station disconnects and reconnects with the new certificate
    await until(lambda: link.connects > connects and link.online, 10, "reconnected")
    new = client_certs(bo)[-1]
    assert new is not None and new != first
    assert new.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == (
        x509.load_pem_x509_csr(csr.encode()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    # it connected once: it is the active pair now, the installation pair is kept as the fallback
    active = store.active()
    assert active is not None and store.certificate_of(active) == new and store.candidate() is None
    state = json.loads(store.pairs_path.read_text())
    assert state["previous"] == "." and store.paths.client_cert.exists()
    assert stat.S_IMODE(active.key.stat().st_mode) == 0o600


async def test_a_new_certificate_the_back_office_refuses_falls_back_to_the_one_that_worked(profile3: Any, pki: Pki) -> None:
    """Item 6: CertificateSigned overwrote the working certificate and key; when the back office refused the
    new one, profile 3 never connected again. Now: two refusals, then back to the installation pair."""
    rig, first, other = profile3
    bo, link = rig.bo, rig.station.link
    s = Script(bo, "CP1")
    csr = await csr_of(s)
    after = len(bo.records)
    res = await s.send(call.CertificateSigned(certificate_chain=pki.sign_csr(csr, issuer=other)))
    assert res.status == "Accepted"  # chains to an installed CentralSystemRootCertificate, so valid for us
    store = CertStore(rig.station.state_dir)
    assert store.candidate() is not None and store.active() is not None  # the old pair is still there
    await until(lambda: "InvalidChargePointCertificate" in event_types(bo, after=after) and link.online, 15,
                "fallback, reconnect and the event")
    assert client_certs(bo)[-1] == first  # connected again with the pair that worked
    ev = next(e for e in events(bo, after=after) if e["type"] == "InvalidChargePointCertificate")
    assert "refused the new certificate" in ev["techInfo"]
    assert store.candidate() is None and store.certificate_of(store.active()) == first  # type: ignore[arg-type]


# -- the root store ---------------------------------------------------------------------------------------------------
def ocsp_hashes(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """Edition 3's CertificateHashData computed by hand: SHA-256 of the issuer's DER name and of the issuer's
    public key bits (the BIT STRING content, not the whole SubjectPublicKeyInfo)."""
    key_bits = issuer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(key_bits).hexdigest(),
        "serial_number": format(cert.serial_number, "x"),
    }


async def test_tc075_tc076_tc078_install_list_delete_and_refuse(tmp_path: Path, pki: Pki) -> None:
    bo = BackOffice()
    await bo.start()
    rig = await start(tmp_path, bo)
    s = Script(bo, "CP1")
    try:
        # TC_078 (central system side), item 10: a leaf is no root certificate; rejected and reported
        for bad, why in [
            (pki.servers["valid"], "not a CA certificate (CA:FALSE)"),
            (make_ca("Old Root", not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=1)).cert, "expired"),
        ]:
            s.mark()
            res = await s.send(call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=pem(bad)))
            assert res.status == "Rejected"
            ev = await s.expect("SecurityEventNotification", type="InvalidCentralSystemCertificate")
            assert why in ev.payload["techInfo"]
        res = await s.send(call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate="junk"))
        assert res.status == "Rejected"
        # TC_075_1 / TC_075_2: installed, listed with the hash data of edition 3
        manufacturer = make_ca("Test Manufacturer Root")
        for kind, cert in (("ManufacturerRootCertificate", manufacturer.cert), ("CentralSystemRootCertificate", pki.root.cert)):
            res = await s.send(call.InstallCertificate(certificate_type=kind, certificate=pem(cert)))
            assert res.status == "Accepted"
            res = await s.send(call.GetInstalledCertificateIds(certificate_type=kind))
            assert res.status == "Accepted" and res.certificate_hash_data == [ocsp_hashes(cert, cert)]
        # TC_076: delete, then it is gone
        wire = {"hashAlgorithm": "SHA256", **{k: v for k, v in ocsp_hashes(manufacturer.cert, manufacturer.cert).items()
                                             if k != "hash_algorithm"}}
        wire = {"hashAlgorithm": "SHA256", "issuerNameHash": wire["issuer_name_hash"].upper(),
                "issuerKeyHash": wire["issuer_key_hash"], "serialNumber": wire["serial_number"]}
        assert (await s.send(call.DeleteCertificate(certificate_hash_data=wire))).status == "Accepted"
        assert (await s.send(call.DeleteCertificate(certificate_hash_data=wire))).status == "NotFound"
        res = await s.send(call.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate"))
        assert res.status == "NotFound"
        # M05.FR.03: a full store is Rejected
        rig.station.config.set_internal("CertificateStoreMaxLength", "1")
        res = await s.send(call.InstallCertificate(certificate_type="ManufacturerRootCertificate", certificate=pem(manufacturer.cert)))
        assert res.status == "Rejected"
    finally:
        await stop(rig)
        await bo.stop()
