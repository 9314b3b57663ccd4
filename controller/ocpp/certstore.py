"""The certificate store under `<state dir>/certs/` (mode 0700): installed root certificates and the charge
point's own key pairs. Files only; the rules a certificate must pass are in `certcheck`.

Layout:
- `index.json`: the installed roots, `[{"type", "file", "fingerprint"}]`; each root a PEM file beside it.
- `cp/pending-key.pem`: the private key of the CSR we sent last (created 0600, never readable by others,
  not even for an instant); CertificateSigned turns it into a key pair.
- `cp/<id>/cert.pem` + `cp/<id>/key.pem`: one key pair (certificate chain and private key, 0600).
- `cp/pairs.json`: which pair is `active` (the one that works), the `candidate` (newly signed, not yet
  connected with), the `previous` one (kept as a fallback, A02.FR.10) and how often the back office refused
  the candidate. A change of state is one atomic rewrite of this file.
- `cp/cert.pem` + `cp/key.pem`: a pair put there at manufacturing or installation; it is the active pair
  until a signed one has connected.

A candidate is tried before the active pair; once a connection with it opens it becomes active (the old
active pair becomes `previous`); when the back office refuses it `REFUSALS_BEFORE_FALLBACK` times in a row,
and there is an active pair to fall back to, it is dropped.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from controller.ocpp.certcheck import CS_ROOT, issued_by, valid_at
from controller.statefile import read_json, write_atomic, write_json

CERT_DIR = "certs"
REFUSALS_BEFORE_FALLBACK = 2
_LEGACY = "."  # the pair at cp/cert.pem + cp/key.pem


@dataclass(frozen=True)
class ClientPair:
    id: str  # directory under cp/ ("." for the installation pair)
    role: str  # "active" or "candidate"
    cert: Path
    key: Path


@dataclass(frozen=True)
class CertPaths:
    """The file layout (see the module docstring)."""

    dir: Path
    client_cert: Path  # the installation pair, cp/cert.pem
    client_key: Path

    @classmethod
    def under(cls, state_dir: Path) -> CertPaths:
        d = state_dir / CERT_DIR
        return cls(d, d / "cp" / "cert.pem", d / "cp" / "key.pem")


def private_write(path: Path, data: bytes) -> None:
    """Write a private file atomically; it exists only with mode 0600 (created so, never chmod-ed later)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, data)


class CertStore:
    def __init__(self, state_dir: Path) -> None:
        self.paths = CertPaths.under(state_dir)
        self.dir = self.paths.dir
        self.cp_dir = self.dir / "cp"
        self.index_path = self.dir / "index.json"
        self.pairs_path = self.cp_dir / "pairs.json"
        self.pending_path = self.cp_dir / "pending-key.pem"

    def ensure_dirs(self) -> None:
        """certs/ and certs/cp/ exist with mode 0700 (also when an older version made them 0755)."""
        for d in (self.dir, self.cp_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(d, 0o700)

    # -- roots ------------------------------------------------------------------------------------------------
    def index(self) -> list[dict[str, Any]]:
        raw = read_json(self.index_path, [])
        return [e for e in raw if isinstance(e, dict) and e.get("file")] if isinstance(raw, list) else []

    def _load(self, entry: dict[str, Any]) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificate((self.dir / str(entry["file"])).read_bytes())
        except (OSError, ValueError, KeyError):
            return None

    def roots(self, cert_type: str) -> list[tuple[dict[str, Any], x509.Certificate]]:
        out = []
        for e in self.index():
            if e.get("type") == cert_type:
                cert = self._load(e)
                if cert is not None:
                    out.append((e, cert))
        return out

    def root_certs(self, cert_type: str) -> list[x509.Certificate]:
        return [c for _, c in self.roots(cert_type)]

    def root_files(self, now: datetime | None = None) -> list[Path]:
        """The CentralSystemRootCertificate files (valid at `now` when given) that verify the back office."""
        return [self.dir / str(e["file"]) for e, c in self.roots(CS_ROOT) if now is None or valid_at(c, now)]

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate:
        """The installed certificate that issued `cert`; a root is its own issuer."""
        for e in self.index():
            other = self._load(e)
            if other is not None and other != cert and issued_by(cert, other):
                return other
        return cert

    def add_root(self, cert_type: str, cert: x509.Certificate) -> None:
        """Install `cert` (already checked); a certificate already installed as that type is kept once."""
        index = self.index()
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        if any(e.get("fingerprint") == fingerprint and e.get("type") == cert_type for e in index):
            return
        self.ensure_dirs()
        name = f"{fingerprint[:32]}.pem"
        (self.dir / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        index.append({"type": cert_type, "file": name, "fingerprint": fingerprint})
        write_json(self.index_path, index)

    def remove_root(self, entry: dict[str, Any]) -> None:
        index = [e for e in self.index() if e != entry]
        write_json(self.index_path, index)
        if not any(e.get("file") == entry.get("file") for e in index):
            (self.dir / str(entry["file"])).unlink(missing_ok=True)

    # -- the CSR key ------------------------------------------------------------------------------------------
    def new_pending_key(self) -> ec.EllipticCurvePrivateKey:
        """A new key for a CSR (A02.FR.02), stored 0600; it replaces an earlier outstanding one."""
        self.ensure_dirs()
        key = ec.generate_private_key(ec.SECP256R1())
        private_write(
            self.pending_path,
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )
        return key

    def pending_key(self) -> Any | None:
        try:
            return serialization.load_pem_private_key(self.pending_path.read_bytes(), None)
        except (OSError, ValueError, TypeError):
            return None

    # -- key pairs --------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        raw = read_json(self.pairs_path, {})
        return raw if isinstance(raw, dict) else {}

    def _pair_files(self, pair_id: str) -> tuple[Path, Path]:
        d = self.cp_dir / pair_id
        return d / "cert.pem", d / "key.pem"

    def _exists(self, pair_id: str | None) -> bool:
        if not pair_id:
            return False
        cert, key = self._pair_files(pair_id)
        return cert.exists() and key.exists()

    def active(self) -> ClientPair | None:
        state = self._state()
        pair_id = state.get("active") if self._exists(state.get("active")) else _LEGACY
        if not self._exists(pair_id):
            return None
        return ClientPair(str(pair_id), "active", *self._pair_files(str(pair_id)))

    def candidate(self) -> ClientPair | None:
        pair_id = self._state().get("candidate")
        if not self._exists(pair_id):
            return None
        return ClientPair(str(pair_id), "candidate", *self._pair_files(str(pair_id)))

    def client_pair(self) -> ClientPair | None:
        """The pair the next connection presents: the candidate first, else the active one."""
        return self.candidate() or self.active()

    def certificate_of(self, pair: ClientPair) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificates(pair.cert.read_bytes())[0]
        except (OSError, ValueError, IndexError):
            return None

    def store_candidate(self, chain_pem: str, fingerprint: str) -> ClientPair:
        """The signed chain with the pending key becomes the candidate (the pending key is consumed)."""
        self.ensure_dirs()
        pair_id = fingerprint[:16]
        cert_path, key_path = self._pair_files(pair_id)
        cert_path.parent.mkdir(mode=0o700, exist_ok=True)
        private_write(key_path, self.pending_path.read_bytes())
        private_write(cert_path, chain_pem.encode())
        state = self._state()
        old = state.get("candidate")
        state.update(candidate=pair_id, refusals=0)
        write_json(self.pairs_path, state)
        self.pending_path.unlink(missing_ok=True)
        if old and old not in (pair_id, state.get("active"), state.get("previous")):
            self._drop(str(old))
        return ClientPair(pair_id, "candidate", cert_path, key_path)

    def promote(self, pair_id: str) -> bool:
        """A connection with the candidate `pair_id` opened: it becomes the active pair."""
        state = self._state()
        if state.get("candidate") != pair_id:
            return False
        before = self.active()
        dropped = state.get("previous")
        state.update(active=pair_id, candidate=None, refusals=0, previous=before.id if before else None)
        write_json(self.pairs_path, state)
        if dropped and dropped not in (pair_id, state["previous"]):
            self._drop(str(dropped))
        return True

    def refused(self, pair_id: str) -> bool:
        """The back office refused the candidate `pair_id`; True when it was dropped (fall back to active)."""
        state = self._state()
        if state.get("candidate") != pair_id:
            return False
        state["refusals"] = int(state.get("refusals") or 0) + 1
        if state["refusals"] < REFUSALS_BEFORE_FALLBACK or self.active() is None:
            write_json(self.pairs_path, state)
            return False
        state.update(candidate=None, refusals=0)
        write_json(self.pairs_path, state)
        self._drop(pair_id)
        return True

    def _drop(self, pair_id: str) -> None:
        if pair_id and pair_id != _LEGACY:
            shutil.rmtree(self.cp_dir / pair_id, ignore_errors=True)
