"""The Local Authorization List update rules of SendLocalList (pure), OCPP 1.6 §5.15 / §6.39.

- Full: the list becomes exactly the given entries; every entry needs an idTagInfo.
- Differential: an entry with idTagInfo is added or replaced, one without is removed; the listVersion must be
  higher than the current one (else VersionMismatch).
- More entries than SendLocalListMaxLength in one request, a resulting list longer than
  LocalAuthListMaxLength, an idTag listed twice or a malformed entry: Failed, nothing changes.
- LocalAuthListEnabled false: NotSupported (the list cannot be used, so it is not updated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.auth.decision import IdTagInfo


@dataclass(frozen=True)
class ListUpdate:
    status: str  # Accepted | Failed | NotSupported | VersionMismatch
    entries: dict[str, IdTagInfo] | None = None  # the new list when Accepted
    version: int = 0
    reason: str = ""


def apply_update(
    current: Mapping[str, IdTagInfo],
    current_version: int,
    update_type: str,
    version: int,
    entries: Sequence[Mapping[str, Any]] | None,
    *,
    enabled: bool = True,
    max_send: int,
    max_length: int,
) -> ListUpdate:
    if not enabled:
        return ListUpdate("NotSupported", reason="LocalAuthListEnabled is false")
    items = list(entries or [])
    if len(items) > max_send:
        return ListUpdate("Failed", reason=f"{len(items)} entries, SendLocalListMaxLength is {max_send}")
    seen: set[str] = set()
    parsed: list[tuple[str, IdTagInfo | None]] = []
    for e in items:
        tag = e.get("idTag", e.get("id_tag"))
        if not isinstance(tag, str) or not tag:
            return ListUpdate("Failed", reason="entry without idTag")
        if tag in seen:
            return ListUpdate("Failed", reason=f"{tag} listed twice")
        seen.add(tag)
        raw = e.get("idTagInfo", e.get("id_tag_info"))
        parsed.append((tag, None if raw is None else IdTagInfo.from_ocpp(raw)))
    if update_type == "Full":
        if any(info is None for _, info in parsed):
            return ListUpdate("Failed", reason="a Full update needs idTagInfo for every entry")
        new = {tag: info for tag, info in parsed if info is not None}
    elif update_type == "Differential":
        reported = reported_version(len(current), current_version)  # what GetLocalListVersion says
        if version <= reported:
            return ListUpdate("VersionMismatch", reason=f"version {version} is not above {reported}")
        new = dict(current)
        for tag, info in parsed:
            if info is None:
                new.pop(tag, None)
            else:
                new[tag] = info
    else:
        return ListUpdate("Failed", reason=f"unknown updateType {update_type}")
    if len(new) > max_length:
        return ListUpdate("Failed", reason=f"{len(new)} entries, LocalAuthListMaxLength is {max_length}")
    return ListUpdate("Accepted", new, version)


def reported_version(entries: int, stored_version: int) -> int:
    """GetLocalListVersion: 0 for an empty list, else the version of the last accepted update."""
    return 0 if entries == 0 else stored_version
