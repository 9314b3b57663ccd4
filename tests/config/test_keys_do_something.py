"""Every writable key either does something (some module outside the registry reads or subscribes to it),
configures hardware the board lacks (`hardware_note`), or says in `chargepoint keys` what it does not do."""

from __future__ import annotations

import re
from pathlib import Path

from controller.config.keys import KEYS, Access
from controller.config.notes import NOTES
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.config.table import render_text

ROOT = Path(__file__).resolve().parents[2]


def _source() -> str:
    files = [p for d in ("controller", "hal") for p in (ROOT / d).rglob("*.py") if "config" not in p.relative_to(ROOT).parts]
    return "\n".join(p.read_text() for p in files)


def _used(name: str, aliases: tuple[str, ...], src: str) -> bool:
    if any(f'"{n}"' in src or f"'{n}'" in src for n in (name, *aliases)):
        return True
    m = re.match(r"Connector\d-(.*)", name)
    return bool(m and f'-{m.group(1)}"' in src)


def test_every_writable_key_is_used_or_explained() -> None:
    src = _source()
    silent = [
        k.name
        for k in KEYS
        if k.access != Access.R and not k.hardware_note and k.name not in NOTES and not _used(k.name, k.aliases, src)
    ]
    assert silent == []


def test_notes_name_real_keys_and_show_in_the_table(tmp_path: Path) -> None:
    names = {n for k in KEYS for n in k.names}
    assert set(NOTES) <= names
    text = render_text(ConfigRegistry(ConfigStore(tmp_path / "c.json")))
    assert "[stored; no Nuvve (V2G aggregator) integration]" in text
    assert "this board has no phase-switch relay" in text


def test_obsolete_authorise_keys_write_their_replacements(tmp_path: Path) -> None:
    from controller.station.keys import REPLACED, apply_replaced

    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    for name in REPLACED:
        reg.subscribe(name, lambda n, v: apply_replaced(reg, n, v))
    assert reg.set("OfflineAuthorise", "true") == "Accepted"
    assert reg.get("LocalAuthorizeOffline") == "true"
    reg.set("OfflineAuthorise", "false")
    assert reg.get("LocalAuthorizeOffline") == "false"
    reg.set("OnlineAuthorise", "true")
    assert reg.get("LocalPreAuthorize") == "false"
    reg.set("OnlineAuthorise", "false")
    assert reg.get("LocalPreAuthorize") == "true"
