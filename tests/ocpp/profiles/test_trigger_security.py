"""TriggerMessage (the .conf goes before the triggered message) and the security whitepaper's messages:
ExtendedTriggerMessage, SignCertificate/CertificateSigned, Install/Delete/GetInstalledCertificateIds,
GetLog/LogStatusNotification, SignedUpdateFirmware/SignedFirmwareStatusNotification, SecurityEventNotification."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.v16 import call

from tests.conftest import Rig, until
from tests.ocpp.profiles.conftest import HttpFiles, calls, restart_after_reset, wait_statuses

NOW = datetime.now(UTC)


def make_cert(
    name: str, issuer_key: Any = None, issuer_name: str | None = None, ca: bool = True, key: Any = None
) -> tuple[Any, x509.Certificate]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


TRIGGERED = [
    ("BootNotification", "BootNotification"),
    ("Heartbeat", "Heartbeat"),
    ("StatusNotification", "StatusNotification"),
    ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
    ("FirmwareStatusNotification", "FirmwareStatusNotification"),
    ("MeterValues", "MeterValues"),
]


async def test_trigger_message_conf_goes_before_the_triggered_message(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    await until(lambda: rig.station.sockets[1].meter is not None, 5, "a meter sample")
    for requested, action in TRIGGERED:
        after = len(bo.records)
        res = await bo.call(cp, call.TriggerMessage(requested_message=requested, connector_id=1))
        assert res.status == "Accepted", requested
        msg = await bo.wait_for(action, cp, after=after, timeout=5)
        conf = next(r for r in bo.records[after:] if r.direction == "result" and r.action == "TriggerMessage")
        assert bo.records.index(conf) < bo.records.index(msg), requested
        if action.endswith("StatusNotification") and action != "StatusNotification":
            assert msg.payload["status"] == "Idle"
    res = await bo.call(cp, call.TriggerMessage(requested_message="StatusNotification", connector_id=4))
    assert res.status == "Rejected"


async def test_certificates_install_list_delete(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    res = await bo.call(cp, call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"))
    assert res.status == "NotFound"
    _, root = make_cert("Test CSMS Root")
    res = await bo.call(cp, call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=pem(root)))
    assert res.status == "Accepted"
    res = await bo.call(cp, call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate="junk"))
    assert res.status == "Rejected"
    res = await bo.call(cp, call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"))
    assert res.status == "Accepted" and len(res.certificate_hash_data) == 1
    ids = res.certificate_hash_data[0]
    assert ids["serial_number"] == format(root.serial_number, "x") and ids["hash_algorithm"] == "SHA256"
    wire = {"hashAlgorithm": "SHA256", "issuerNameHash": ids["issuer_name_hash"],
            "issuerKeyHash": ids["issuer_key_hash"], "serialNumber": ids["serial_number"]}
    res = await bo.call(cp, call.DeleteCertificate(certificate_hash_data=wire))
    assert res.status == "Accepted"
    res = await bo.call(cp, call.DeleteCertificate(certificate_hash_data=wire))
    assert res.status == "NotFound"


async def test_sign_certificate_and_certificate_signed(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    ca_key, ca = make_cert("Test CPO CA")
    # the whitepaper's prerequisites: a CpoName for the CSR's O, and the CPO's root to check the answer against
    assert (await bo.call(cp, call.ChangeConfiguration(key="CpoName", value="Test CPO"))).status == "Accepted"
    res = await bo.call(cp, call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=pem(ca)))
    assert res.status == "Accepted"
    res = await bo.call(cp, call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"))
    assert res.status == "Accepted"
    sign = await bo.wait_for("SignCertificate", cp, timeout=10)
    csr = x509.load_pem_x509_csr(sign.payload["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP1"
    # a certificate for some other key is refused, and reported as a security event
    _, stranger = make_cert("CP1", issuer_key=ca_key, issuer_name="Test CPO CA", ca=False)
    res = await bo.call(cp, call.CertificateSigned(certificate_chain=pem(stranger)))
    assert res.status == "Rejected"
    ev = await bo.wait_for("SecurityEventNotification", cp, lambda p: p["type"] == "InvalidChargePointCertificate")
    assert "not for our key" in ev.payload["techInfo"]
    # the signed CSR is accepted
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(minutes=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(ca_key, hashes.SHA256())
    )
    res = await bo.call(cp, call.CertificateSigned(certificate_chain=pem(cert) + pem(ca)))
    assert res.status == "Accepted"
    candidate = rig.station.security.store.candidate()  # used from the next connection at profile 3
    assert candidate is not None and candidate.key.exists()


async def test_get_log_security_log(rig: Rig, http_files: HttpFiles) -> None:
    res = await rig.bo.call(
        rig.identity,
        call.GetLog(log={"remote_location": f"{http_files.url}/logs"}, log_type="SecurityLog", request_id=42),
    )
    assert res.status == "Accepted" and res.filename.startswith("securitylog-")
    await wait_statuses(rig, "LogStatusNotification", ["Uploading", "Uploaded"])
    assert all(r.payload["requestId"] == 42 for r in calls(rig, "LogStatusNotification"))
    assert http_files.uploads and http_files.uploads[0][1] == "/logs"
    after = len(rig.bo.records)
    res = await rig.bo.call(rig.identity, call.ExtendedTriggerMessage(requested_message="LogStatusNotification"))
    assert res.status == "Accepted"
    await wait_statuses(rig, "LogStatusNotification", ["Idle"], after=after)


@pytest.fixture
def manufacturer() -> tuple[Any, x509.Certificate, Any, x509.Certificate]:
    root_key, root = make_cert("Test Manufacturer Root")
    signer_key, signer = make_cert("Firmware Signer", issuer_key=root_key, issuer_name="Test Manufacturer Root", ca=False)
    return root_key, root, signer_key, signer


async def test_signed_update_firmware(
    rig: Rig, http_files: HttpFiles, tmp_path: Path, manufacturer: tuple[Any, x509.Certificate, Any, x509.Certificate]
) -> None:
    bo, cp = rig.bo, rig.identity
    _, root, signer_key, signer = manufacturer
    image = b"signed firmware 2.0\n" * 50
    http_files.files["/signed.bin"] = image
    http_files.files["/tampered.bin"] = image + b"x"
    signature = base64.b64encode(signer_key.sign(image, ec.ECDSA(hashes.SHA256()))).decode()

    def request(rid: int, path: str, signing: x509.Certificate) -> Any:
        return call.SignedUpdateFirmware(
            request_id=rid,
            firmware={"location": f"{http_files.url}{path}", "retrieve_date_time": NOW.isoformat(),
                      "signing_certificate": pem(signing), "signature": signature},
        )

    # no manufacturer root installed yet: the signing certificate cannot be trusted
    res = await bo.call(cp, request(1, "/signed.bin", signer))
    assert res.status == "InvalidCertificate"
    await bo.wait_for("SecurityEventNotification", cp, lambda p: p["type"] == "InvalidFirmwareSigningCertificate")
    res = await bo.call(cp, call.InstallCertificate(certificate_type="ManufacturerRootCertificate", certificate=pem(root)))
    assert res.status == "Accepted"
    # a modified image fails the signature check
    res = await bo.call(cp, request(2, "/tampered.bin", signer))
    assert res.status == "Accepted"
    await wait_statuses(rig, "SignedFirmwareStatusNotification", ["Downloading", "Downloaded", "InvalidSignature"])
    await bo.wait_for("SecurityEventNotification", cp, lambda p: p["type"] == "InvalidFirmwareSignature")
    # the real image: verified, installed, rebooted, Installed
    after = len(bo.records)
    res = await bo.call(cp, request(3, "/signed.bin", signer))
    assert res.status == "Accepted"
    await wait_statuses(
        rig, "SignedFirmwareStatusNotification",
        ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"], after=after,
    )
    await restart_after_reset(rig, tmp_path)
    await wait_statuses(
        rig, "SignedFirmwareStatusNotification",
        ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting", "Installed"], after=after,
    )
    assert all(r.payload["requestId"] == 3 for r in calls(rig, "SignedFirmwareStatusNotification", after))
