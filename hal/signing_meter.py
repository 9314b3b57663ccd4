"""The interface of an Eichrecht (German calibration law) signing energy meter, the contract a real meter
driver fills (e.g. a meter with an OCMF signing module on RS-485, or an IVU adapter in front of one).

A signing meter keeps its own key pair; the private key never leaves it. On request it reads its billing
register and returns one signed OCMF record (`hal.ocmf`) for the reason asked: "B" at transaction begin, "T"
for an intermediate (updated) value, "E" at transaction end. The station relays the record unchanged; the
public key lets anyone verify it (OCPP key PublicKey-EnergyMeter<n>).

Like the other HAL inputs, a meter that cannot answer raises `hal.errors.DeviceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hal.ocmf import Gateway, Identification

READING_REASONS = ("B", "T", "E")  # begin, intermediate, end of a transaction (OCMF TX)


@runtime_checkable
class SigningMeter(Protocol):
    """An Eichrecht meter of one connector."""

    def public_key(self) -> str:
        """The meter's public key: hex of the DER SubjectPublicKeyInfo."""
        ...

    def signed_reading(self, reason: str, who: Identification) -> str:
        """Read the register now and return the signed record `OCMF|{payload}|{signature}`; `reason` is one of
        READING_REASONS, `who` the identification the record is billed to."""
        ...


def build_signing_meters(
    section: Mapping[str, Any],
    connector_ids: list[int],
    state_dir: Path,
    energy_wh: Callable[[int], float],
    wall: Callable[[], datetime],
    gateway: Gateway,
) -> dict[int, SigningMeter]:
    """The signing meters the board's [signing_meter] section declares, by connector (none without it)."""
    if not section:
        return {}
    from hal.sim.eichrecht import SimEichrechtMeter  # the only driver so far ("sim"; the loader checks it)

    wanted = [int(c) for c in section.get("connectors", connector_ids)]
    return {
        cid: SimEichrechtMeter(state_dir, cid, lambda cid=cid: energy_wh(cid), wall, gateway)  # type: ignore[misc]
        for cid in wanted
    }
