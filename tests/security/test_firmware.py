"""Signed firmware only.

Issue 17 item 2 (a plain UpdateFirmware installed an unsigned image although signed updates are supported:
now CALLERROR NotSupported, L01.FR.20, unless the board file is a development board's) and item 8 (RSA-PSS
signatures were refused; the signer's key usage was not checked). OCTT: TC_080 (secure firmware update),
TC_081 (invalid signature), the invalid signing certificate of L01.FR.24."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call

from controller.ocpp import certcheck
from tests.ocpp.link.support import Script
from tests.ocpp.profiles.conftest import HttpFiles, calls, http_files, wait_statuses  # noqa: F401 - the fixture
from tests.security.pki import NOW, Manufacturer, ec_key, make_ca, pem, rsa_key, sign_image
from tests.security.support import TlsBackOffice, board_file, install_roots, start, stop

IMAGE = b"signed firmware 3.1.4 FAIL-INSTALL\n" * 64  # FAIL-INSTALL: the sim's install hook fails, no reboot


def request(rid: int, url: str, signer: x509.Certificate, signature: bytes) -> Any:
    return call.SignedUpdateFirmware(
        request_id=rid,
        firmware={"location": url, "retrieve_date_time": NOW.isoformat(), "signing_certificate": pem(signer),
                  "signature": base64.b64encode(signature).decode()},
    )


async def test_plain_update_firmware_is_not_supported_on_a_product_board(
    tmp_path: Path, http_files: HttpFiles  # noqa: F811
) -> None:
    http_files.files["/fw.bin"] = b"unsigned image"
    bo = TlsBackOffice(None)
    await bo.start()
    maker = Manufacturer()
    install_roots(tmp_path / "state", manufacturer=maker.root.cert)
    rig = await start(tmp_path, bo, board=board_file(tmp_path, allow_unsigned=False))
    s = Script(bo, "CP1")
    try:
        with pytest.raises(NotSupportedError):
            await s.send(call.UpdateFirmware(location=f"{http_files.url}/fw.bin", retrieve_date=NOW.isoformat()))
        await s.expect_none("FirmwareStatusNotification", 0.5)
        assert not (tmp_path / "state" / "firmware" / "staging").exists()  # nothing was downloaded
        assert rig.station.firmware.status == "Idle" and not rig.station.firmware.busy
    finally:
        await stop(rig)
        await bo.stop()


async def test_tc080_rsa_pss_signed_firmware_is_verified(tmp_path: Path, http_files: HttpFiles) -> None:  # noqa: F811
    """Item 8: an RSA-PSS (SHA-256) signature was refused as InvalidSignature."""
    maker = Manufacturer(key=rsa_key())
    key, signer = maker.signer(key=rsa_key())
    http_files.files["/fw.bin"] = IMAGE
    bo = TlsBackOffice(None)
    await bo.start()
    install_roots(tmp_path / "state", manufacturer=maker.root.cert)
    rig = await start(tmp_path, bo, board=board_file(tmp_path, allow_unsigned=False))
    try:
        res = await Script(bo, "CP1").send(request(7, f"{http_files.url}/fw.bin", signer, sign_image(key, IMAGE, "pss")))
        assert res.status == "Accepted"
        await wait_statuses(rig, "SignedFirmwareStatusNotification",
                            ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallationFailed"])
        assert all(r.payload["requestId"] == 7 for r in calls(rig, "SignedFirmwareStatusNotification"))
    finally:
        await stop(rig)
        await bo.stop()


async def test_tc081_and_an_invalid_signing_certificate(tmp_path: Path, http_files: HttpFiles) -> None:  # noqa: F811
    maker = Manufacturer()
    key, signer = maker.signer()
    http_files.files["/fw.bin"] = IMAGE
    bo = TlsBackOffice(None)
    await bo.start()
    install_roots(tmp_path / "state", manufacturer=maker.root.cert)
    rig = await start(tmp_path, bo)
    s = Script(bo, "CP1")
    try:
        # L01.FR.24: a signer whose key usage does not allow signatures: InvalidCertificate plus the event
        ca_key, ca_only = maker.signer(key_usage={"key_cert_sign": True}, eku=None)
        res = await s.send(request(1, f"{http_files.url}/fw.bin", ca_only, sign_image(ca_key, IMAGE)))
        assert res.status == "InvalidCertificate"
        ev = await s.expect("SecurityEventNotification", type="InvalidFirmwareSigningCertificate")
        assert "digitalSignature" in ev.payload["techInfo"]
        # TC_081: a signature that does not match the image
        res = await s.send(request(2, f"{http_files.url}/fw.bin", signer, sign_image(key, IMAGE + b"x")))
        assert res.status == "Accepted"
        await wait_statuses(rig, "SignedFirmwareStatusNotification", ["Downloading", "Downloaded", "InvalidSignature"])
        await s.expect("SecurityEventNotification", type="InvalidFirmwareSignature")
    finally:
        await stop(rig)
        await bo.stop()


# -- the rules as a table --------------------------------------------------------------------------------------------
MAKER = Manufacturer()
OTHER = Manufacturer()


def _signers() -> list[tuple[str, Any, x509.Certificate, str | None]]:
    ec_k, ec_c = MAKER.signer()
    rsa_k, rsa_c = MAKER.signer(key=rsa_key())
    bare_k, bare_c = MAKER.signer(key_usage=None, eku=None)  # no key usage at all: allowed (A00.FR.512 is a SHOULD)
    out: list[tuple[str, Any, x509.Certificate, str | None]] = [
        ("ECDSA P-256", ec_k, ec_c, None),
        ("RSA-2048", rsa_k, rsa_c, None),
        ("no key usage extensions", bare_k, bare_c, None),
    ]
    k, c = MAKER.signer(key_usage={"key_encipherment": True})
    out.append(("key usage without digitalSignature", k, c, "digitalSignature"))
    k, c = MAKER.signer(eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    out.append(("extended key usage without codeSigning", k, c, "codeSigning"))
    k, c = OTHER.signer()
    out.append(("issued by another manufacturer", k, c, "not issued under an installed root"))
    sub = make_ca("Intermediate", parent=MAKER.root)
    k = ec_key()
    from tests.security.pki import make_cert, name

    c = make_cert(name("Signer via intermediate"), k.public_key(), sub, key_usage={"digital_signature": True})
    out.append(("issued through an intermediate", k, c, "not issued under an installed root"))
    k, c = MAKER.signer(not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=1))
    out.append(("expired", k, c, "expired"))
    k, c = MAKER.signer(key=rsa_key(1024))
    out.append(("RSA-1024", k, c, "RSA key of 1024 bits"))
    out.append(("the root itself", MAKER.root.key, MAKER.root.cert, "a CA certificate as firmware signing certificate"))
    return out


SIGNERS = _signers()


@pytest.mark.parametrize(("what", "key", "cert", "problem"), SIGNERS, ids=[s[0] for s in SIGNERS])
def test_signing_certificate_rules(what: str, key: Any, cert: x509.Certificate, problem: str | None) -> None:
    got = certcheck.signing_certificate_problem(cert, [MAKER.root.cert], NOW)
    if problem is None:
        assert got is None, (what, got)
    else:
        assert got is not None and problem in got, (what, got)


@pytest.mark.parametrize(
    ("what", "key", "scheme", "ok"),
    [
        ("ECDSA SHA-256", ec_key(), "auto", True),
        ("RSA-PSS SHA-256", rsa_key(), "pss", True),
        ("RSA PKCS#1 v1.5 (not a whitepaper algorithm)", rsa_key(), "pkcs1", False),
    ],
)
def test_signature_algorithms(tmp_path: Path, what: str, key: Any, scheme: str, ok: bool) -> None:
    _, cert = MAKER.signer(key=key)
    image = tmp_path / "fw.bin"
    image.write_bytes(IMAGE * 100)
    signature = sign_image(key, IMAGE * 100, scheme)
    assert certcheck.firmware_signature_ok(cert, signature, image) is ok, what
    image.write_bytes(IMAGE * 100 + b"!")
    assert certcheck.firmware_signature_ok(cert, signature, image) is False
