"""The certificate rules of "Improved security for OCPP 1.6-J" (edition 3) as pure functions: no files, no
clock, no network. Each check returns None when the certificate passes, else a short reason (it becomes the
techInfo of a security event, so it never holds a secret).

- `root_problem`: InstallCertificate. A root (or sub-CA) must be a CA certificate (basicConstraints CA:TRUE,
  keyCertSign when a key usage is given), valid now, with a key of at least 2048 (RSA) / 224 (EC) bits
  (A00.FR.501-503). A leaf is refused.
- `client_chain_problem`: CertificateSigned (A02.FR.06). The first certificate carries the key of our CSR,
  its subject has CN = our identity and O = CpoName (A00.FR.509/511, A02.FR.13), it is valid now, and RFC 5280
  path validation (the `cryptography` verifier) leads from it through the sub-CAs of the chain to an installed
  CentralSystemRootCertificate. When key usages are given: digitalSignature, clientAuth.
- `signing_certificate_problem`: SignedUpdateFirmware (L01.FR.23). The firmware signing certificate is issued
  directly by an installed ManufacturerRootCertificate (no intermediates: L01 remarks), valid now, not a CA,
  and when key usages are given: digitalSignature, codeSigning.
- `firmware_signature_ok`: L01.FR.04: a signature over the whole image with SHA-256, as RSA-PSS (MGF1 SHA-256,
  any salt length) or ECDSA. The whitepaper names ECSchnorr for EC keys; no maintained Python library
  implements it, and ECDSA is what A00.FR.505 names for EC signing, so EC signatures are ECDSA. RSA PKCS#1 v1.5
  is not a listed algorithm and is refused. The image is hashed in chunks (images can be large).
- `hash_data`: CertificateHashDataType as edition 3 defines it (the OCSP CertID fields of RFC 6960, computed by
  `cryptography`'s OCSP request builder): issuer name hash, issuer key hash (over the key bits, not the whole
  SubjectPublicKeyInfo), serial number in hex without leading zeroes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509 import ocsp
from cryptography.x509 import verification as v
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CS_ROOT = "CentralSystemRootCertificate"
MF_ROOT = "ManufacturerRootCertificate"
ROOT_TYPES = (CS_ROOT, MF_ROOT)
MIN_RSA_BITS = 2048  # A00.FR.502
MIN_EC_BITS = 224  # A00.FR.503
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
_CHUNK = 1 << 20
_PURPOSE_NAMES = {ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth", ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning"}


def valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _dates_problem(cert: x509.Certificate, now: datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc.isoformat()}"
    if now > cert.not_valid_after_utc:
        return f"expired {cert.not_valid_after_utc.isoformat()}"
    return None


def key_problem(cert: x509.Certificate) -> str | None:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "unsupported public key"
    if isinstance(key, rsa.RSAPublicKey):
        return None if key.key_size >= MIN_RSA_BITS else f"RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return None if key.curve.key_size >= MIN_EC_BITS else f"EC key of {key.curve.key_size} bits (at least {MIN_EC_BITS})"
    return f"unsupported key type {type(key).__name__}"


def _ext(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _names(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()[:120]


# -- InstallCertificate -------------------------------------------------------------------------------------
def root_problem(cert: x509.Certificate, now: datetime) -> str | None:
    """Why `cert` may not be installed as a root certificate (None: it may)."""
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None or not bc.ca:
        return f"not a CA certificate (CA:FALSE): {subject_text(cert)}"
    ku = _ext(cert, x509.KeyUsage)
    if ku is not None and not ku.key_cert_sign:
        return "its key usage does not allow signing certificates"
    return key_problem(cert) or _dates_problem(cert, now)


# -- path validation with the `cryptography` verifier ---------------------------------------------------------
def _ca_policy() -> v.ExtensionPolicy:
    def basic(_p: Any, _c: x509.Certificate, ext: x509.BasicConstraints) -> None:
        if not ext.ca:
            raise ValueError("an issuer that is not a CA")

    def usage(_p: Any, _c: x509.Certificate, ext: x509.KeyUsage | None) -> None:
        if ext is not None and not ext.key_cert_sign:
            raise ValueError("an issuer whose key usage does not allow signing certificates")

    return (
        v.ExtensionPolicy.permit_all()
        .require_present(x509.BasicConstraints, v.Criticality.AGNOSTIC, basic)
        .may_be_present(x509.KeyUsage, v.Criticality.AGNOSTIC, usage)
    )


def _leaf_policy(purpose: x509.ObjectIdentifier, what: str) -> v.ExtensionPolicy:
    def basic(_p: Any, _c: x509.Certificate, ext: x509.BasicConstraints | None) -> None:
        if ext is not None and ext.ca:
            raise ValueError(f"a CA certificate as {what}")

    def usage(_p: Any, _c: x509.Certificate, ext: x509.KeyUsage | None) -> None:
        if ext is not None and not ext.digital_signature:
            raise ValueError(f"{what}: key usage without digitalSignature")

    def extended(_p: Any, _c: x509.Certificate, ext: x509.ExtendedKeyUsage | None) -> None:
        if ext is not None and purpose not in ext and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ext:
            raise ValueError(f"{what}: extended key usage without {_PURPOSE_NAMES.get(purpose, purpose.dotted_string)}")

    return (
        v.ExtensionPolicy.permit_all()
        .may_be_present(x509.BasicConstraints, v.Criticality.AGNOSTIC, basic)
        .may_be_present(x509.KeyUsage, v.Criticality.AGNOSTIC, usage)
        .may_be_present(x509.ExtendedKeyUsage, v.Criticality.AGNOSTIC, extended)
    )


def _path_problem(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], now: datetime,
    purpose: x509.ObjectIdentifier, what: str, max_depth: int | None = None,
) -> str | None:
    if not roots:
        return "no root certificate installed to verify it"
    builder = (
        v.PolicyBuilder()
        .store(v.Store(roots))
        .time(now)
        .extension_policies(ca_policy=_ca_policy(), ee_policy=_leaf_policy(purpose, what))
    )
    if max_depth is not None:
        builder = builder.max_chain_depth(max_depth)
    try:
        builder.build_client_verifier().verify(leaf, intermediates)
    except v.VerificationError as exc:
        return f"not issued under an installed root: {exc}"[:200]
    return None


# -- CertificateSigned --------------------------------------------------------------------------------------
def public_key_der(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def client_chain_problem(
    chain: list[x509.Certificate], our_key_der: bytes, identity: str, cpo_name: str,
    roots: list[x509.Certificate], now: datetime,
) -> str | None:
    """Why the chain of a CertificateSigned.req may not become our client certificate (None: it may)."""
    if not chain:
        return "no certificate in the chain"
    leaf = chain[0]
    if public_key_der(leaf.public_key()) != our_key_der:
        return "the certificate is not for our key"
    cns = _names(leaf, NameOID.COMMON_NAME)
    if cns != [identity]:
        return f"CN {', '.join(cns) or '(none)'} is not our identity {identity}"
    orgs = _names(leaf, NameOID.ORGANIZATION_NAME)
    if orgs != [cpo_name]:
        return f"O {', '.join(orgs) or '(none)'} is not the CpoName {cpo_name}"
    problem = _dates_problem(leaf, now) or key_problem(leaf)
    if problem:
        return problem
    return _path_problem(leaf, chain[1:], roots, now, ExtendedKeyUsageOID.CLIENT_AUTH, "client certificate")


# -- SignedUpdateFirmware -----------------------------------------------------------------------------------
def signing_certificate_problem(cert: x509.Certificate, roots: list[x509.Certificate], now: datetime) -> str | None:
    """Why `cert` may not sign firmware for us (None: it may)."""
    problem = _dates_problem(cert, now) or key_problem(cert)
    if problem:
        return problem
    return _path_problem(cert, [], roots, now, ExtendedKeyUsageOID.CODE_SIGNING, "firmware signing certificate")


def _sha256_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _rsa_pss(key: rsa.RSAPublicKey, signature: bytes, digest: bytes) -> None:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    key.verify(signature, digest, pss, utils.Prehashed(hashes.SHA256()))


def _ecdsa(key: ec.EllipticCurvePublicKey, signature: bytes, digest: bytes) -> None:
    key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


#: The accepted firmware signature schemes (L01.FR.04), by key type: a declarative table.
SIGNATURE_SCHEMES: dict[type[Any], Callable[[Any, bytes, bytes], None]] = {
    rsa.RSAPublicKey: _rsa_pss,
    ec.EllipticCurvePublicKey: _ecdsa,
}


def firmware_signature_ok(cert: x509.Certificate, signature: bytes, image: Path) -> bool:
    """Whether `signature` is a valid SHA-256 signature of the whole `image` by the key of `cert`."""
    key = cert.public_key()
    scheme = next((f for kind, f in SIGNATURE_SCHEMES.items() if isinstance(key, kind)), None)
    if scheme is None or not signature:
        return False
    try:
        scheme(key, signature, _sha256_file(image))
    except (InvalidSignature, ValueError):
        return False
    return True


# -- CertificateHashDataType --------------------------------------------------------------------------------
def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None, algorithm: str = "SHA256") -> dict[str, str]:
    """The CertificateHashDataType of `cert` (OCSP CertID fields); a root is its own issuer."""
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer or cert, HASHES[algorithm]()).build()
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": req.issuer_name_hash.hex(),
        "issuerKeyHash": req.issuer_key_hash.hex(),
        "serialNumber": format(cert.serial_number, "x"),
    }


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
