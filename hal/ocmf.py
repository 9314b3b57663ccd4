"""Open Charge Metering Format (OCMF 1.0, S.A.F.E. e.V.) records, as an Eichrecht (signing) meter writes them:
`OCMF|{payload}|{signature}`.

Pure: building the payload from dataclasses, serialising it (compact JSON, fields in the order of the
specification), signing the payload's exact bytes with ECDSA over secp256r1 and SHA-256
(`SA` "ECDSA-secp256r1-SHA256"; `SD` the DER signature, hex as `SE` defaults to), and the meter's public key as
the hex of its DER SubjectPublicKeyInfo (what the Transparenzsoftware and verifiers take).

It lives in `hal/` because a signing meter writes these records; the station only relays them unchanged.

Fields: FV format version, GI/GS/GV the gateway (this charge controller: identity, serial, software version),
PG pagination ("T" + the meter's transaction counter), MV/MM/MS/MF the meter (vendor, model, serial,
firmware), IS/IL/IF/IT/ID the identification of the user (status, level, flags, type, data), RD the readings:
TM time ("2026-11-30T07:10:00,000+0000 S", S = synchronised), TX reason (B begin, T intermediate, E end),
RV value, RI OBIS code (1-b:1.8.0, imported active energy), RU unit (kWh), RT current type (AC), EF error
flags ("" none), ST meter status (G good).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FORMAT_VERSION = "1.0"
SIGNATURE_ALGORITHM = "ECDSA-secp256r1-SHA256"
ENERGY_OBIS = "1-b:1.8.0"  # imported active energy, total (the billing register)
HEADER = "OCMF"
SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class Gateway:
    """The charge controller the meter is part of (GI, GS, GV)."""

    identification: str
    serial: str
    version: str


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """The signing meter itself (MV, MM, MS, MF)."""

    vendor: str
    model: str
    serial: str
    firmware: str


@dataclass(frozen=True, slots=True)
class Identification:
    """Who the energy is billed to (IS, IL, IF, IT, ID), as the station authorised them."""

    status: bool
    id_type: str  # IT: "ISO14443" for an RFID UID, "CENTRAL" for a back office id, "NONE"
    id_data: str | None  # ID
    level: str | None = None  # IL: e.g. "VERIFIED" (authorised by the back office)
    flags: tuple[str, ...] = ()  # IF: e.g. ("RFID_PLAIN", "OCPP_AUTH")


@dataclass(frozen=True, slots=True)
class Reading:
    """One register reading (an element of RD)."""

    time: datetime  # timezone-aware
    reason: str  # TX: B, T, E (begin, intermediate, end of transaction)
    value_kwh: float
    time_status: str = "S"  # S synchronised, I informative, R relative, U unknown
    status: str = "G"  # ST: G good
    error_flags: str = ""  # EF


def ocmf_time(dt: datetime, status: str) -> str:
    """OCMF time: ISO 8601 with milliseconds after a comma, a colon-free offset, a space and the time status."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    text = dt.isoformat(timespec="milliseconds").replace(".", ",")
    if text.endswith("+00:00"):
        text = text[:-6] + "+0000"
    elif len(text) > 6 and text[-3] == ":" and text[-6] in "+-":
        text = text[:-3] + text[-2:]
    return f"{text} {status}"


def identification_for(id_tag: str | None) -> Identification:
    """The identification of an OCPP idTag: an RFID UID (4 or 7 bytes in hex) is ISO14443, any other id was
    given by the back office (CENTRAL); no id: not identified."""
    if not id_tag:
        return Identification(False, "NONE", None)
    hexdigits = set("0123456789abcdefABCDEF")
    if len(id_tag) in (8, 14) and set(id_tag) <= hexdigits:
        return Identification(True, "ISO14443", id_tag, "VERIFIED", ("RFID_PLAIN", "OCPP_AUTH"))
    return Identification(True, "CENTRAL", id_tag, "VERIFIED", ("OCPP_AUTH",))


def build_payload(
    gateway: Gateway, meter: MeterInfo, pagination: int, who: Identification, readings: list[Reading]
) -> dict[str, Any]:
    """The payload object, its fields in the order of the specification."""
    payload: dict[str, Any] = {
        "FV": FORMAT_VERSION,
        "GI": gateway.identification,
        "GS": gateway.serial,
        "GV": gateway.version,
        "PG": f"T{pagination}",
        "MV": meter.vendor,
        "MM": meter.model,
        "MS": meter.serial,
        "MF": meter.firmware,
        "IS": who.status,
    }
    if who.level is not None:
        payload["IL"] = who.level
    payload["IF"] = list(who.flags)
    payload["IT"] = who.id_type
    if who.id_data is not None:
        payload["ID"] = who.id_data
    payload["RD"] = [
        {
            "TM": ocmf_time(r.time, r.time_status),
            "TX": r.reason,
            "RV": round(r.value_kwh, 3),
            "RI": ENERGY_OBIS,
            "RU": "kWh",
            "RT": "AC",
            "EF": r.error_flags,
            "ST": r.status,
        }
        for r in readings
    ]
    return payload


def serialise(payload: dict[str, Any]) -> str:
    """The payload's text: compact JSON, keys in the given order (the signature covers exactly these bytes)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def sign(key: ec.EllipticCurvePrivateKey, payload_text: str) -> str:
    """The record `OCMF|payload|signature` with the DER ECDSA-SHA256 signature of the payload text, in hex."""
    der = key.sign(payload_text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    signature = serialise({"SA": SIGNATURE_ALGORITHM, "SD": der.hex().upper()})
    return SEPARATOR.join((HEADER, payload_text, signature))


def public_key_hex(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as the hex of its DER SubjectPublicKeyInfo (182 hex digits for secp256r1)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der.hex().upper()

