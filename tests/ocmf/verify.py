"""The independent OCMF verifier of these tests: pyocmf (its own parser, signature check through
`cryptography`, and the Eichrecht transaction checks of the Transparenzsoftware), never our own code."""

from __future__ import annotations

from typing import Any

from pyocmf import OCMF
from pyocmf.compliance.transaction import validate_transaction_pair


def parse(record: str) -> OCMF:
    """Parse strictly: any deviation from the OCMF specification is an error, not a warning."""
    return OCMF.from_string(record, strict=True)


def verifies(record: str, public_key: str) -> bool:
    """True when the record's signature matches its payload under `public_key` (hex DER)."""
    return bool(parse(record).verify_signature(public_key))


def pair_is_valid(begin: str, end: str) -> bool:
    """The Transparenzsoftware's checks of a transaction's begin and end records (errors only)."""
    return bool(validate_transaction_pair(parse(begin), parse(end)))


def signed_values(meter_values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sampledValues with format SignedData in a list of meterValue objects (as on the wire)."""
    return [sv for mv in meter_values for sv in mv.get("sampledValue", []) if sv.get("format") == "SignedData"]


def tampered(record: str) -> str:
    """The record with its (first) reading value raised by 1 kWh, signature unchanged."""
    head, payload, signature = record.split("|")
    key = '"RV":'
    start = payload.index(key) + len(key)
    end = start
    while payload[end] in "0123456789.":
        end += 1
    value = float(payload[start:end]) + 1.0
    return "|".join((head, payload[:start] + repr(round(value, 3)) + payload[end:], signature))
