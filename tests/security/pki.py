"""A throw-away PKI made with `cryptography` at test time: the CPO hierarchy (a CSMS root, a sub-CA, the back
office's server certificates good and bad, CA signing of our CSRs), a rogue CA, and the manufacturer
hierarchy (a root and firmware signing certificates with different keys and key usages)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)
CPO = "Test CPO B.V."


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


def name(cn: str, o: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if o is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    return x509.Name(attrs)


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def key_pem(key: Any) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@dataclass
class Issuer:
    cert: x509.Certificate
    key: Any


def make_cert(
    subject: x509.Name,
    public_key: Any,
    issuer: Issuer | None = None,
    *,
    signing_key: Any = None,
    ca: bool | None = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: dict[str, bool] | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """One certificate; self-signed with `signing_key` when `issuer` is None. `ca=None` leaves basicConstraints out."""
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(hours=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=30))
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if key_usage is not None:
        fields = dict.fromkeys(
            ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False
        )
        fields.update(key_usage)
        b = b.add_extension(x509.KeyUsage(**fields), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer.key if issuer else signing_key, hashes.SHA256())


def make_ca(cn: str, parent: Issuer | None = None, key: Any = None, **kw: Any) -> Issuer:
    key = key or ec_key()
    cert = make_cert(name(cn, CPO), key.public_key(), parent, signing_key=key, ca=True,
                     key_usage={"key_cert_sign": True, "crl_sign": True}, **kw)
    return Issuer(cert, key)


LOOPBACK = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


class Pki:
    """Files under `directory`; every certificate valid now unless its name says otherwise."""

    __test__ = False

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.root = make_ca("Test CSMS Root")
        self.sub = make_ca("Test CPO Sub-CA", self.root)
        self.rogue = make_ca("Rogue Root")
        self.server_key = ec_key()
        self.servers: dict[str, x509.Certificate] = {
            "valid": self._server(self.root),
            "expired": self._server(self.root, not_before=NOW - dt.timedelta(days=10), not_after=NOW - dt.timedelta(days=1)),
            "wrong-host": self._server(self.root, cn="csms.example.org", san=[x509.DNSName("csms.example.org")]),
            "unknown-issuer": self._server(self.rogue),
            "self-signed": make_cert(name("localhost"), self.server_key.public_key(), signing_key=self.server_key,
                                     san=LOOPBACK),
        }
        self.rsa_server_key = rsa_key()
        self.rsa_server = make_cert(name("localhost", CPO), self.rsa_server_key.public_key(), self.root, san=LOOPBACK,
                                    eku=[ExtendedKeyUsageOID.SERVER_AUTH])
        self.root_file = self.write("root.pem", pem(self.root.cert))

    def _server(self, issuer: Issuer, cn: str = "localhost", san: list[x509.GeneralName] | None = None,
                **kw: Any) -> x509.Certificate:
        return make_cert(name(cn, CPO), self.server_key.public_key(), issuer, san=san or LOOPBACK,
                         eku=[ExtendedKeyUsageOID.SERVER_AUTH], **kw)

    def write(self, filename: str, text: str | bytes) -> Path:
        path = self.dir / filename
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    # -- the back office's TLS -------------------------------------------------------------------------------------
    def server_context(
        self, which: str = "valid", *, tls11_only: bool = False, weak_ciphers: bool = False,
        client_ca: Issuer | None = None, rsa_only: bool = False,
    ) -> ssl.SSLContext:
        """A TLS server context. `tls11_only`: TLS 1.0/1.1 and nothing newer. `weak_ciphers`: TLS 1.2 with
        static-RSA CBC suites only. `client_ca`: demand a client certificate issued under it."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.load_server_cert(ctx, which, rsa=rsa_only or weak_ciphers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if tls11_only:
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            if weak_ciphers:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                ctx.set_ciphers("AES128-SHA:AES256-SHA:@SECLEVEL=0")
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=pem(client_ca.cert))
        return ctx

    def load_server_cert(self, ctx: ssl.SSLContext, which: str = "valid", rsa: bool = False) -> None:
        """(Re)load the server certificate of `ctx`: later handshakes present it."""
        if rsa:
            cert_file = self.write("server-rsa.pem", pem(self.rsa_server, self.root.cert))
            key_file = self.write("server-rsa.key", key_pem(self.rsa_server_key))
        else:
            cert_file = self.write(f"server-{which}.pem", pem(self.servers[which]))
            key_file = self.write("server.key", key_pem(self.server_key))
        ctx.load_cert_chain(str(cert_file), str(key_file))

    # -- the CPO's certificate authority ---------------------------------------------------------------------------
    def sign_csr(
        self, csr_pem: str, *, issuer: Issuer | None = None, cn: str | None = None, o: str | None = None,
        chain: bool = True, key: Any = None, **kw: Any,
    ) -> str:
        """What the CPO's CA makes of a SignCertificate.req (by default: the CSR's subject, issued by the
        sub-CA, with the sub-CA in the chain). `cn`/`o`/`issuer`/`key`/dates override for bad certificates."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        issuer = issuer or self.sub
        subject = csr.subject
        if cn is not None or o is not None:
            cur_cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            orgs = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            subject = name(str(cn if cn is not None else cur_cn), o if o is not None else (str(orgs[0].value) if orgs else None))
        kw.setdefault("key_usage", {"digital_signature": True})
        kw.setdefault("eku", [ExtendedKeyUsageOID.CLIENT_AUTH])
        cert = make_cert(subject, key.public_key() if key is not None else csr.public_key(), issuer, **kw)
        extra = [issuer.cert] if chain and issuer is not self.root and issuer is not self.rogue else []
        return pem(cert, *extra)


class Manufacturer:
    """The manufacturer hierarchy: a root and firmware signing certificates."""

    __test__ = False

    def __init__(self, key: Any = None) -> None:
        self.root = Issuer(*_self_signed_ca("Test Manufacturer Root", key or ec_key()))

    def signer(self, key: Any = None, **kw: Any) -> tuple[Any, x509.Certificate]:
        key = key or ec_key()
        kw.setdefault("key_usage", {"digital_signature": True})
        kw.setdefault("eku", [ExtendedKeyUsageOID.CODE_SIGNING])
        return key, make_cert(name("Firmware Signer", "Test Manufacturer"), key.public_key(), self.root, **kw)


def _self_signed_ca(cn: str, key: Any) -> tuple[x509.Certificate, Any]:
    cert = make_cert(name(cn, "Test Manufacturer"), key.public_key(), signing_key=key, ca=True,
                     key_usage={"key_cert_sign": True, "crl_sign": True})
    return cert, key


def sign_image(key: Any, image: bytes, scheme: str = "auto") -> bytes:
    """A firmware signature: ECDSA for EC keys; RSA-PSS (`pss`) or PKCS#1 v1.5 (`pkcs1`) for RSA keys."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return bytes(key.sign(image, ec.ECDSA(hashes.SHA256())))
    if scheme == "pkcs1":
        return bytes(key.sign(image, padding.PKCS1v15(), hashes.SHA256()))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return bytes(key.sign(image, pss, hashes.SHA256()))
