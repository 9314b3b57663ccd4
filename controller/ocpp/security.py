"""The certificate and security-event messages of "Improved security for OCPP 1.6-J" (edition 3):
SecurityEventNotification, SignCertificate / CertificateSigned, InstallCertificate, DeleteCertificate,
GetInstalledCertificateIds, ExtendedTriggerMessage, the firmware signature check for SignedUpdateFirmware, and
what a connection attempt tells about certificates and TLS.

- Security events (section 8) go to the security log (`security_events.json`, the SecurityLog of GetLog) at
  once and are sent as SecurityEventNotification, oldest first, as soon as the link is online: an event raised
  offline (a refused TLS handshake, a failed start-up) survives a restart and is sent after the next successful
  connection (A04.FR.02). A notification that times out or is cut off stays queued.
- InstallCertificate: only CA certificates that pass `certcheck.root_problem`; an invalid
  CentralSystemRootCertificate raises InvalidCentralSystemCertificate (TC_078). A full store is Rejected
  (M05.FR.03). DeleteCertificate never removes the last CentralSystemRootCertificate of a profile 2/3
  connection (M04.FR.06). Hash data per edition 3 (`certcheck.hash_data`).
- SignCertificate: needs a CpoName (A02 prerequisite); the CSR has CN = identity, O = CpoName and a new
  EC P-256 key kept 0600 (`certstore`). CertificateSigned: `certcheck.client_chain_problem` (our key, CN, O,
  dates, a path to an installed CentralSystemRootCertificate), too long (CertificateSignedMaxChainSize, also
  beyond the schema's 10000 characters) or malformed: Rejected plus InvalidChargePointCertificate. Accepted:
  the pair becomes the candidate; at SecurityProfile 3 the link reconnects with it at once (TC_074 step 7).
  The pair that worked stays until the candidate has connected once; a candidate the back office refuses
  is dropped and the station falls back to the pair that worked (`certstore`).
- Connection attempts (`link_attempt`, called by the link after each attempt): a server certificate that
  fails verification raises InvalidCentralSystemCertificate; another refused handshake is probed
  (`tls.probe`) and may raise InvalidTLSVersion or InvalidTLSCipherSuite. Each kind is raised once per run of
  failed attempts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from ocpp.exceptions import FormationViolationError, TypeConstraintViolationError
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
from controller.ocpp import certcheck, tls
from controller.ocpp.certcheck import CS_ROOT, HASHES, MF_ROOT, ROOT_TYPES
from controller.ocpp.certstore import CertStore, ClientPair
from controller.ocpp.core import TriggerApi
from controller.ports import LinkPort, NotConnected, Settings, Trace
from controller.statefile import read_json, write_json
from controller.timefmt import format_time

MAX_EVENTS = 500
CONFIG_KEYS = ("CertificateSignedMaxChainSize", "CertificateStoreMaxLength", "CpoName")
SCHEMA_MAX_CHAIN = 10000  # CertificateSigned.req certificateChain string[0..10000]
PROBE_TIMEOUT_S = 10.0
INVALID_CP_CERTIFICATE = "InvalidChargePointCertificate"

__all__ = ["CONFIG_KEYS", "Security", "SecurityHandlers", "ROOT_TYPES", "CS_ROOT", "MF_ROOT"]


def _peer_refused(exc: BaseException) -> bool:
    """The back office talked to us and refused (TLS alert or reset, closed before the HTTP answer, 401/403):
    what a rejected client certificate looks like. A refused TCP connection or a timeout is not."""
    from websockets.exceptions import InvalidMessage, InvalidStatus

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, InvalidStatus):
            return e.response.status_code in (401, 403)
        if isinstance(e, InvalidMessage):
            return True
        e = e.__cause__ or e.__context__
    return tls.handshake_failure(exc) and tls.verification_failure(exc) is None


class SecurityLink(LinkPort, Protocol):
    """The link as the security service uses it: calls, and a reconnect with new credentials."""

    def reconnect_now(self) -> None: ...


class Security:
    def __init__(
        self,
        state_dir: Path,
        settings: Settings,
        clock: Clock,
        link: SecurityLink,
        identity: Callable[[], str],
        trace: Trace,
    ) -> None:
        self._config = settings
        self._clock = clock
        self._link = link
        self._identity = identity
        self._trace = trace
        self.store = CertStore(state_dir)
        self.store.ensure_dirs()
        self.dir = self.store.dir
        self.events_path = state_dir / "security_events.json"
        raw = read_json(self.events_path, [])
        self.events: list[dict[str, Any]] = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
        self._unsent: list[dict[str, Any]] = [e for e in self.events if not e.get("sent")]
        self._flushing = False
        self._tls_reported: set[str] = set()  # TLS event kinds raised since the last successful connection
        self._reconnect_with_new_pair = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- security events ---------------------------------------------------------------------------------------
    def event(self, kind: str, tech_info: str | None = None) -> None:
        ev: dict[str, Any] = {"type": kind, "timestamp": format_time(self._clock.now())}
        if tech_info:
            ev["techInfo"] = tech_info[:255]
        self.events.append(ev)
        self._trim()
        self._unsent.append(ev)
        self._save_events()
        self._trace(f"security event {kind}" + (f": {tech_info}" if tech_info else ""))
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            self._spawn(self.flush())

    @property
    def pending(self) -> int:
        """Security events not sent yet."""
        return len(self._unsent)

    def queued(self) -> list[str]:
        """The types of the security events not sent yet, oldest first."""
        return [str(e["type"]) for e in self._unsent]

    def _trim(self) -> None:
        while len(self.events) > MAX_EVENTS:  # a rolling log: the oldest sent event goes first
            victim = next((e for e in self.events if e.get("sent")), self.events[0])
            self.events.remove(victim)
            if victim in self._unsent:
                self._unsent.remove(victim)

    def _save_events(self) -> None:
        try:
            write_json(self.events_path, self.events)
        except OSError as exc:
            self._trace(f"cannot write the security log {self.events_path}: {exc}")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Send the queued SecurityEventNotifications, oldest first (on every reconnect, too)."""
        from ocpp.exceptions import OCPPError

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
                except OCPPError as exc:  # answered, with an error: delivered all the same
                    self._trace(f"SecurityEventNotification {ev['type']} answered with {exc}")
                except (NotConnected, TimeoutError):
                    return  # stays queued: sent after the next successful connection
                except Exception as exc:  # noqa: BLE001 - kept and tried again on the next connection
                    self._trace(f"SecurityEventNotification {ev['type']} failed: {exc}")
                    return
                ev["sent"] = True
                self._unsent.pop(0)
                self._save_events()
        finally:
            self._flushing = False

    # -- connection attempts -----------------------------------------------------------------------------------
    def link_attempt(self, settings: Any, url: str, error: BaseException | None) -> None:
        """After every connection attempt of the link (`error` None: the websocket opened)."""
        pair: ClientPair | None = getattr(settings, "client_pair", None)
        if error is None:
            self._tls_reported.clear()
            if pair is not None and pair.role == "candidate" and self.store.promote(pair.id):
                self._trace(f"the new charge point certificate works; the previous one is kept ({pair.id})")
            return
        if getattr(settings, "ssl_context", None) is None:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        refused = tls.verification_failure(error)
        if refused is not None:
            self._tls_event(tls.INVALID_CERTIFICATE, f"{host}: {refused}")
        elif tls.handshake_failure(error) and not self._tls_reported and not getattr(settings, "proxy", None):
            self._spawn(self._diagnose(host, parts.port or 443))
        if pair is not None and pair.role == "candidate" and refused is None and _peer_refused(error):
            if self.store.refused(pair.id):
                self.event(INVALID_CP_CERTIFICATE, "the back office refused the new certificate; back to the previous one")

    def _tls_event(self, kind: str, info: str) -> None:
        if kind in self._tls_reported:
            return
        self._tls_reported.add(kind)
        self.event(kind, info)

    async def _diagnose(self, host: str, port: int) -> None:
        probe = asyncio.ensure_future(tls.probe(host, port))
        timer = asyncio.ensure_future(self._clock.sleep(PROBE_TIMEOUT_S))
        try:
            await asyncio.wait({probe, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not probe.done():
            probe.cancel()
            return
        seen = probe.result()
        kind = tls.weakness(*seen) if seen else None
        if kind is not None and seen is not None:
            self._tls_event(kind, f"{host}:{port} offers {seen[0]} {seen[1]}")

    # -- installed root certificates ---------------------------------------------------------------------------
    def roots(self, cert_type: str) -> list[x509.Certificate]:
        return self.store.root_certs(cert_type)

    def install(self, cert_type: str, pem: str) -> str:
        if cert_type not in ROOT_TYPES:
            return "Rejected"
        try:
            certs = x509.load_pem_x509_certificates(pem.encode())
        except ValueError:
            certs = []
        now = self._clock.now()
        problem: str | None = "not one PEM certificate"
        if len(certs) == 1:
            problem = certcheck.root_problem(certs[0], now)
        if problem is not None:
            self._trace(f"InstallCertificate {cert_type} rejected: {problem}")
            if cert_type == CS_ROOT:
                self.event(tls.INVALID_CERTIFICATE, f"InstallCertificate: {problem}")
            return "Rejected"
        cert = certs[0]
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        index = self.store.index()
        if not any(e.get("fingerprint") == fingerprint and e.get("type") == cert_type for e in index):
            if len(index) >= self._config.get_int("CertificateStoreMaxLength"):
                self._trace("InstallCertificate rejected: the certificate store is full")
                return "Rejected"
        try:
            self.store.add_root(cert_type, cert)
        except OSError as exc:
            self._trace(f"InstallCertificate failed: {exc}")
            return "Failed"
        self._trace(f"installed {cert_type} {certcheck.subject_text(cert)}")
        if cert_type == CS_ROOT and not self._link.online:
            self._link.reconnect_now()  # a link waiting for a root may connect now
        return "Accepted"

    def installed_ids(self, cert_type: str) -> list[dict[str, str]]:
        return [certcheck.hash_data(c, self.store.issuer_of(c)) for c in self.store.root_certs(cert_type)]

    def delete(self, wanted: dict[str, Any]) -> str:
        keys = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")
        norm = {k: str(wanted.get(k) or "").lower() for k in keys}
        algorithm = norm["hashAlgorithm"].upper()
        if algorithm not in HASHES:
            return "NotFound"
        for entry, cert in [r for t in ROOT_TYPES for r in self.store.roots(t)]:
            have = {k: v.lower() for k, v in certcheck.hash_data(cert, self.store.issuer_of(cert), algorithm).items()}
            if have["serialNumber"].lstrip("0") != norm["serialNumber"].lstrip("0"):
                continue
            if any(have[k] != norm[k] for k in ("issuerNameHash", "issuerKeyHash")):
                continue
            if entry.get("type") == CS_ROOT and self._config.get_int("SecurityProfile") >= 2:
                if len(self.store.root_files(self._clock.now())) <= 1:
                    return "Failed"  # the certificate the connection relies on (M04.FR.06)
            try:
                self.store.remove_root(entry)
            except OSError as exc:
                self._trace(f"DeleteCertificate failed: {exc}")
                return "Failed"
            return "Accepted"
        return "NotFound"

    # -- the charge point certificate --------------------------------------------------------------------------
    def _cpo_name(self) -> str:
        return self._config.get("CpoName") if self._config.spec("CpoName") else ""

    def sign_problem(self) -> str | None:
        """Why no CSR can be made now (the whitepaper's prerequisite: CpoName is set)."""
        return None if self._cpo_name() else "CpoName is not set"

    def make_csr(self) -> str:
        problem = self.sign_problem()
        if problem is not None:
            raise ValueError(problem)
        key = self.store.new_pending_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, self._identity()),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self._cpo_name()),
            ]
        )
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    async def sign_certificate(self) -> None:
        try:
            res = await self._link.call(call.SignCertificate(csr=self.make_csr()))
            self._trace(f"SignCertificate: {res.status}")
        except Exception as exc:  # noqa: BLE001
            self._trace(f"SignCertificate failed: {exc}")

    def certificate_signed(self, chain_pem: Any) -> str:
        reason = self._chain_problem(chain_pem)
        if reason is not None:
            self.event(INVALID_CP_CERTIFICATE, reason)
            return "Rejected"
        cert = x509.load_pem_x509_certificates(chain_pem.encode())[0]
        try:
            pair = self.store.store_candidate(chain_pem, cert.fingerprint(hashes.SHA256()).hex())
        except OSError as exc:
            self._trace(f"CertificateSigned: cannot store the certificate: {exc}")
            return "Rejected"
        self._trace(f"charge point certificate {certcheck.subject_text(cert)} installed as {pair.id}")
        self._reconnect_with_new_pair = True
        return "Accepted"

    def _chain_problem(self, chain_pem: Any) -> str | None:
        if not isinstance(chain_pem, str):
            return "the certificate chain is not a string"
        limit = min(SCHEMA_MAX_CHAIN, self._config.get_int("CertificateSignedMaxChainSize"))
        if len(chain_pem) > limit:
            return f"chain of {len(chain_pem)} characters, at most {limit}"
        try:
            certs = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            return "not a PEM certificate chain"
        key = self.store.pending_key()
        if key is None:
            return "no certificate signing request outstanding"
        return certcheck.client_chain_problem(
            certs, certcheck.public_key_der(key.public_key()), self._identity(), self._cpo_name(),
            self.store.root_certs(CS_ROOT), self._clock.now(),
        )

    def after_certificate_signed(self) -> None:
        """After an Accepted CertificateSigned.conf has gone out: at profile 3, reconnect with the new pair."""
        if not self._reconnect_with_new_pair:
            return
        self._reconnect_with_new_pair = False
        if self._config.get_int("SecurityProfile") >= 3:
            self._link.reconnect_now()

    # -- firmware signatures -----------------------------------------------------------------------------------
    def signing_certificate_ok(self, pem: Any) -> x509.Certificate | None:
        """The firmware signing certificate when an installed ManufacturerRootCertificate issued it directly
        and it passes `certcheck.signing_certificate_problem`; else None and InvalidFirmwareSigningCertificate."""
        problem: str | None = "not a PEM certificate"
        try:
            cert: x509.Certificate | None = x509.load_pem_x509_certificate(str(pem).encode())
        except ValueError:
            cert = None
        if cert is not None:
            problem = certcheck.signing_certificate_problem(cert, self.roots(MF_ROOT), self._clock.now())
        if problem is not None or cert is None:
            self.event("InvalidFirmwareSigningCertificate", problem)
            return None
        return cert

    @staticmethod
    def firmware_signature_ok(cert: x509.Certificate, signature_b64: str, image: Any) -> bool:
        try:
            signature = base64.b64decode("".join(str(signature_b64).split()), validate=True)
        except (binascii.Error, ValueError):
            return False
        return certcheck.firmware_signature_ok(cert, signature, image)


class CertificatesApi(Protocol):
    def install(self, cert_type: str, pem: str) -> str: ...

    def installed_ids(self, cert_type: str) -> list[dict[str, str]]: ...

    def delete(self, wanted: dict[str, Any]) -> str: ...

    def certificate_signed(self, chain_pem: Any) -> str: ...

    def after_certificate_signed(self) -> None: ...


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

    # The schema limits certificateChain to 10000 characters; a longer chain is a certificate we refuse
    # (Rejected plus InvalidChargePointCertificate), not a malformed message, so the payload is checked here.
    @on(Action.certificate_signed, skip_schema_validation=True)
    async def on_certificate_signed(self, **payload: Any) -> call_result.CertificateSigned:
        if set(payload) != {"certificate_chain"}:
            raise FormationViolationError(description="CertificateSigned.req has exactly one field, certificateChain")
        chain = payload["certificate_chain"]
        if not isinstance(chain, str):
            raise TypeConstraintViolationError(description="certificateChain must be a string")
        status = self.certificates_api.certificate_signed(chain)
        return call_result.CertificateSigned(status=CertificateSignedStatus(status))

    @after(Action.certificate_signed)
    async def after_certificate_signed(self, **_: Any) -> None:
        self.certificates_api.after_certificate_signed()

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
