"""A simulated Eichrecht meter (`hal.signing_meter.SigningMeter`): it reads the connector's energy register
(the simulated socket meter) and signs OCMF records with its own secp256r1 key pair.

Like a real meter it outlives a restart of the controller: its key pair and its pagination counter are kept
in files under the state directory (`eichrecht-meter-<connector>.pem` and `.pg`, 0600, written atomically and
fsynced), so the public key stays the same and every record has a new page number ("T<n>"), also after a
restart. A key or counter file that cannot be read makes the meter faulty (`fault`, logged naming the
directory): it raises `DeviceError` and never makes a new key over the old one. Fault injection: `offline =
True` makes it raise `DeviceOffline`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hal.errors import DeviceError, DeviceOffline
from hal.ocmf import (
    Gateway,
    Identification,
    MeterInfo,
    Reading,
    build_payload,
    public_key_hex,
    serialise,
    sign,
)
from hal.signing_meter import READING_REASONS

log = logging.getLogger(__name__)

SIM_METER = MeterInfo(vendor="Chargepoint-Sim", model="SIM-EM-OCMF", serial="", firmware="1.0")


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (write, fsync, rename), readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


class SimEichrechtMeter:
    """The simulated signing meter of connector `connector_id`."""

    def __init__(
        self,
        state_dir: Path,
        connector_id: int,
        energy_wh: Callable[[], float],
        wall: Callable[[], datetime],
        gateway: Gateway,
    ) -> None:
        self._energy_wh = energy_wh
        self._wall = wall
        self._gateway = gateway
        self.offline = False
        self.info = MeterInfo(SIM_METER.vendor, SIM_METER.model, f"SIM{connector_id:05d}", SIM_METER.firmware)
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        base = state_dir / f"eichrecht-meter-{connector_id}"
        self._key_path = base.with_suffix(".pem")
        self._page_path = base.with_suffix(".pg")
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._page = 0
        self.fault: str | None = None  # a meter whose memory is broken signs nothing (and never a new key)
        try:
            self._key = self._load_or_make_key()
            self._page = int(self._page_path.read_text()) if self._page_path.exists() else 0
        except (OSError, ValueError) as exc:
            self.fault = f"{self._key_path.parent}: the meter's key or page counter cannot be read ({exc})"
            log.error("simulated Eichrecht meter of connector %d is faulty: %s", connector_id, self.fault)

    def _load_or_make_key(self) -> ec.EllipticCurvePrivateKey:
        if self._key_path.exists():
            key = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{self._key_path} is not an elliptic curve key")
            return key
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(self._key_path, pem)
        return key

    def _working_key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            raise DeviceError(f"simulated Eichrecht meter is faulty: {self.fault}")
        return self._key

    def public_key(self) -> str:
        return public_key_hex(self._working_key())

    def signed_reading(self, reason: str, who: Identification) -> str:
        if reason not in READING_REASONS:
            raise ValueError(f"reading reason {reason!r} (one of {', '.join(READING_REASONS)})")
        if self.offline:
            raise DeviceOffline("simulated Eichrecht meter does not answer")
        key = self._working_key()
        page = self._page + 1
        try:
            _write_private(self._page_path, str(page).encode())  # a page number is never used twice
        except OSError as exc:
            raise DeviceError(f"simulated Eichrecht meter cannot count its page ({exc})") from exc
        self._page = page
        reading = Reading(self._wall(), reason, self._energy_wh() / 1000.0)
        payload = build_payload(self._gateway, self.info, page, who, [reading])
        return sign(key, serialise(payload))
