"""The configuration page: every key of the registry that may be shown (write-only keys never are), grouped by
the key document's categories in the table's order, with type, range, options, default, current value,
whether a change needs a reboot and the notes on absent hardware; and the page's writes, which take exactly
the path of an OCPP ChangeConfiguration (`ConfigWriter`: the same validation and answer, and afterwards the
same effects, e.g. the security event the back office is sent for a changed security key), traced with the
value masked when the key is a secret."""

from __future__ import annotations

from typing import Any

from controller.config.keys import Access, KeySpec
from controller.config.notes import NOTES
from controller.config.table import type_range
from controller.ports import Trace
from controller.redact import MASK
from controller.web.sources import ConfigWriter, KeyRegistry

APPLIED = ("Accepted", "RebootRequired")


def _entry(config: KeyRegistry, spec: KeySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "access": spec.access.value,
        "type": spec.type.value,
        "range": type_range(spec),
        "options": list(spec.options),
        "default": config.default(spec.name),
        "value": config.get(spec.name),
        "reboot_required": spec.reboot_required,
        "hardware_note": spec.hardware_note,
        "note": NOTES.get(spec.name),
        "description": spec.description,
    }


def key_groups(config: KeyRegistry) -> list[dict[str, Any]]:
    """`[{"category", "keys": [...]}, ...]` in the key table's order, without the write-only keys."""
    groups: list[dict[str, Any]] = []
    for spec in config.all_specs():
        if spec.access is Access.W:
            continue
        if not groups or groups[-1]["category"] != spec.category:
            groups.append({"category": spec.category, "keys": []})
        groups[-1]["keys"].append(_entry(config, spec))
    return groups


async def write_key(config: KeyRegistry, writer: ConfigWriter, trace: Trace, key: str, value: str, who: str) -> str:
    """ChangeConfiguration from the web page: the status OCPP would answer (Accepted, RebootRequired,
    Rejected, NotSupported)."""
    spec = config.spec(key)
    status = writer.change_configuration(key, value)
    shown = MASK if spec is None or spec.access is Access.W else value
    trace(f"web ({who}): ChangeConfiguration {spec.name if spec else key}={shown!r} -> {status}")
    if status in APPLIED:
        await writer.after_configuration_change(key)
    return status
