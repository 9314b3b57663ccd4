"""The certificate and security-event messages of "Improved security for OCPP 1.6-J" (edition 3):
SecurityEventNotification, SignCertificate / CertificateSigned, InstallCertificate, DeleteCertificate,
GetInstalledCertificateIds, and the firmware signature check for SignedUpdateFirmware.

Certificates live under `<state>/certs/`: the installed root certificates (CentralSystemRootCertificate,
ManufacturerRootCertificate) as PEM files with an index, and the charge point's own key and certificate
(`cp/`). SignCertificate sends a CSR (EC P-256 key made here, CN = identity, O = CpoName); CertificateSigned
accepts a chain whose first certificate carries that key, is currently valid and fits in
CertificateSignedMaxChainSize. InstallCertificate refuses what is not a valid, current certificate and
respects CertificateStoreMaxLength. Security events are kept (`security_events.json`, the security log of
GetLog) and sent as SecurityEventNotification, queued while offline and sent on reconnect.

Not done here: using the charge point certificate for the TLS client side of SecurityProfile 3 (the link
layer owns the connection).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    Action,
    CertificateSignedStatus,
    CertificateStatus,
    DeleteCertificateStatus,
    GetInstalledCertificateStatus,
)

from controller.clock import Clock
from controller.ocpp.core import TriggerApi
from controller.ports import LinkPort, NotConnected, Settings, Trace
from controller.statefile import read_json, write_json
from controller.timefmt import format_time

ROOT_TYPES = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")
MAX_EVENTS = 500


def _hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _public_key_bytes(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> dict[str, str]:
    """CertificateHashDataType (SHA256) of a certificate; the issuer key is its own for a root."""
    issuer = issuer or cert
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": _hash_bytes(cert.issuer.public_bytes()),
        "issuerKeyHash": _hash_bytes(_public_key_bytes(issuer)),
        "serialNumber": format(cert.serial_number, "x"),
    }


def _valid_now(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def verify_signature(cert: x509.Certificate, signature: bytes, data: bytes) -> bool:
    """A SHA-256 signature over `data` by the key in `cert` (RSA PKCS#1 v1.5 or ECDSA)."""
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


class Security:
    def __init__(
        self,
        state_dir: Path,
        settings: Settings,
        clock: Clock,
        link: LinkPort,
        identity: Callable[[], str],
        trace: Trace,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._link = link
        self._identity = identity
        self._trace = trace
        self.dir: Path = state_dir / "certs"
        self.index_path = self.dir / "index.json"
        self.events_path = state_dir / "security_events.json"
        raw = read_json(self.events_path, [])
        self.events: list[dict[str, Any]] = raw if isinstance(raw, list) else []
        self._unsent: list[dict[str, Any]] = [e for e in self.events if not e.get("sent")]
        self._flushing = False

    # -- security events ---------------------------------------------------------------------------------------
    def event(self, kind: str, tech_info: str | None = None) -> None:
        ev: dict[str, Any] = {"type": kind, "timestamp": format_time(self._clock.now())}
        if tech_info:
            ev["techInfo"] = tech_info[:255]
        self.events.append(ev)
        del self.events[:-MAX_EVENTS]
        self._unsent.append(ev)
        self._save_events()
        self._trace(f"security event {kind}" + (f": {tech_info}" if tech_info else ""))
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            asyncio.ensure_future(self.flush())

    @property
    def pending(self) -> int:
        """Security events not sent yet."""
        return len(self._unsent)

    def _save_events(self) -> None:
        with contextlib.suppress(OSError):
            write_json(self.events_path, self.events)

    async def flush(self) -> None:
        """Send the queued SecurityEventNotifications, oldest first (on every reconnect, too)."""
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._unsent and self._link.online:
                ev = self._unsent[0]
                try:
                    await self._link.call(
                        call.SecurityEventNotification(
                            type=ev["type"], timestamp=ev["timestamp"], tech_info=ev.get("techInfo")
                        )
                    )
                except NotConnected:
                    return
                except Exception as exc:  # noqa: BLE001 - dropped after one failed try, like other notifications
                    self._trace(f"SecurityEventNotification failed: {exc}")
                ev["sent"] = True
                self._unsent.pop(0)
            self._save_events()
        finally:
            self._flushing = False

    # -- installed root certificates ---------------------------------------------------------------------------
    def _index(self) -> list[dict[str, Any]]:
        raw = read_json(self.index_path, [])
        return raw if isinstance(raw, list) else []

    def _load(self, entry: dict[str, Any]) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificate((self.dir / entry["file"]).read_bytes())
        except (OSError, ValueError, KeyError):
            return None

    def roots(self, cert_type: str) -> list[x509.Certificate]:
        out = []
        for e in self._index():
            if e.get("type") == cert_type:
                cert = self._load(e)
                if cert is not None:
                    out.append(cert)
        return out

    def install(self, cert_type: str, pem: str) -> str:
        if cert_type not in ROOT_TYPES:
            return "Rejected"
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            self._trace("InstallCertificate: not a PEM certificate")
            return "Rejected"
        if not _valid_now(cert, self._clock.now()):
            self._trace("InstallCertificate: certificate not valid now")
            return "Rejected"
        index = self._index()
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        if any(e.get("fingerprint") == fingerprint and e.get("type") == cert_type for e in index):
            return "Accepted"
        if len(index) >= self._settings.get_int("CertificateStoreMaxLength"):
            return "Failed"
        name = f"{fingerprint[:32]}.pem"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            index.append({"type": cert_type, "file": name, "fingerprint": fingerprint, "hash": hash_data(cert)})
            write_json(self.index_path, index)
        except OSError as exc:
            self._trace(f"InstallCertificate failed: {exc}")
            return "Failed"
        self._trace(f"installed {cert_type} {cert.subject.rfc4514_string()}")
        return "Accepted"

    def installed_ids(self, cert_type: str) -> list[dict[str, str]]:
        return [e["hash"] for e in self._index() if e.get("type") == cert_type and "hash" in e]

    def delete(self, wanted: dict[str, Any]) -> str:
        keys = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")
        norm = {k: str(wanted.get(k, wanted.get(_snake(k), ""))).lower() for k in keys}
        index = self._index()
        for e in index:
            h = {k: str(v).lower() for k, v in e.get("hash", {}).items()}
            if all(h.get(k) == norm[k] for k in keys):
                if (
                    e.get("type") == "CentralSystemRootCertificate"
                    and self._settings.get_int("SecurityProfile") >= 2
                    and sum(1 for x in index if x.get("type") == "CentralSystemRootCertificate") == 1
                ):
                    return "Failed"  # the certificate the current connection relies on
                index.remove(e)
                try:
                    write_json(self.index_path, index)
                    (self.dir / e["file"]).unlink(missing_ok=True)
                except OSError:
                    return "Failed"
                return "Accepted"
        return "NotFound"

    # -- the charge point certificate --------------------------------------------------------------------------
    @property
    def cp_dir(self) -> Path:
        """The charge point's own key and certificate."""
        return self.dir / "cp"

    def make_csr(self) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        self.cp_dir.mkdir(parents=True, exist_ok=True)
        pending = self.cp_dir / "pending-key.pem"
        pending.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        pending.chmod(0o600)
        ident = self._identity()
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, ident)]
        cpo = self._settings.get("CpoName") if self._settings.spec("CpoName") else ""
        if cpo:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, cpo))
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    async def sign_certificate(self) -> None:
        try:
            res = await self._link.call(call.SignCertificate(csr=self.make_csr()))
            self._trace(f"SignCertificate: {res.status}")
        except Exception as exc:  # noqa: BLE001
            self._trace(f"SignCertificate failed: {exc}")

    def certificate_signed(self, chain_pem: str) -> str:
        limit = self._settings.get_int("CertificateSignedMaxChainSize")
        reason = None
        certs: list[x509.Certificate] = []
        if len(chain_pem) > limit:
            reason = f"chain of {len(chain_pem)} characters, at most {limit}"
        else:
            try:
                certs = x509.load_pem_x509_certificates(chain_pem.encode())
            except ValueError:
                reason = "not a PEM certificate chain"
        pending = self.cp_dir / "pending-key.pem"
        if reason is None:
            try:
                key = serialization.load_pem_private_key(pending.read_bytes(), None)
            except (OSError, ValueError):
                reason = "no certificate signing request outstanding"
            else:
                pub = key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                if _public_key_bytes(certs[0]) != pub:
                    reason = "the certificate is not for our key"
                elif not _valid_now(certs[0], self._clock.now()):
                    reason = "the certificate is not valid now"
        if reason is not None:
            self.event("InvalidChargePointCertificate", reason)
            return "Rejected"
        (self.cp_dir / "cert.pem").write_text(chain_pem)
        pending.replace(self.cp_dir / "key.pem")
        self._trace("charge point certificate installed")
        return "Accepted"

    # -- firmware signatures -----------------------------------------------------------------------------------
    def signing_certificate_ok(self, pem: str) -> x509.Certificate | None:
        """The firmware signing certificate, if a ManufacturerRootCertificate issued it and it is valid now."""
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            return None
        if not _valid_now(cert, self._clock.now()):
            return None
        for root in self.roots("ManufacturerRootCertificate"):
            with contextlib.suppress(ValueError, TypeError, InvalidSignature):
                cert.verify_directly_issued_by(root)
                return cert
            if cert.fingerprint(hashes.SHA256()) == root.fingerprint(hashes.SHA256()):
                return cert
        return None

    @staticmethod
    def firmware_signature_ok(cert: x509.Certificate, signature_b64: str, image: Path) -> bool:
        try:
            signature = base64.b64decode(signature_b64, validate=False)
        except ValueError:
            return False
        return verify_signature(cert, signature, image.read_bytes())


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


class CertificatesApi(Protocol):
    def install(self, cert_type: str, pem: str) -> str: ...

    def installed_ids(self, cert_type: str) -> list[dict[str, str]]: ...

    def delete(self, wanted: dict[str, Any]) -> str: ...

    def certificate_signed(self, chain_pem: str) -> str: ...


class SecurityHandlers:
    certificates_api: CertificatesApi
    trigger_api: TriggerApi

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type: str, certificate: str) -> call_result.InstallCertificate:
        status = self.certificates_api.install(certificate_type, certificate)
        return call_result.InstallCertificate(status=CertificateStatus(status))

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed_certificate_ids(self, certificate_type: str) -> call_result.GetInstalledCertificateIds:
        ids = self.certificates_api.installed_ids(certificate_type)
        if not ids:
            return call_result.GetInstalledCertificateIds(status=GetInstalledCertificateStatus.not_found)
        return call_result.GetInstalledCertificateIds(
            status=GetInstalledCertificateStatus.accepted, certificate_hash_data=ids
        )

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data: dict[str, Any]) -> call_result.DeleteCertificate:
        wire = {
            "hashAlgorithm": certificate_hash_data.get("hash_algorithm"),
            "issuerNameHash": certificate_hash_data.get("issuer_name_hash"),
            "issuerKeyHash": certificate_hash_data.get("issuer_key_hash"),
            "serialNumber": certificate_hash_data.get("serial_number"),
        }
        status = self.certificates_api.delete(wire)
        return call_result.DeleteCertificate(status=DeleteCertificateStatus(status))

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str) -> call_result.CertificateSigned:
        status = self.certificates_api.certificate_signed(certificate_chain)
        return call_result.CertificateSigned(status=CertificateSignedStatus(status))

    @on(Action.extended_trigger_message)
    async def on_extended_trigger_message(
        self, requested_message: str, connector_id: int | None = None
    ) -> call_result.ExtendedTriggerMessage:
        status = self.trigger_api.trigger_status(requested_message, connector_id, extended=True)
        return call_result.ExtendedTriggerMessage(status=status)

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if self.trigger_api.trigger_status(requested_message, connector_id, extended=True) == "Accepted":
            await self.trigger_api.trigger(requested_message, connector_id, extended=True)
