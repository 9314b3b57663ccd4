"""Every writable key either is bound by the owner that applies it (checked from a composed station's
registry, not by reading source), configures hardware the board lacks (`hardware_note`), or says in
`chargepoint keys` what it does not do (`notes.py`, with the reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from board.loader import builtin_board, load_board
from controller.app import Station, StationOptions
from controller.config.keys import KEYS
from controller.config.notes import NOTES
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.config.table import render_text


def _station(tmp_path: Path) -> Station:
    return Station(load_board(builtin_board("sim-double")), tmp_path / "state", StationOptions())


def test_every_writable_key_is_bound_by_an_owner_or_explained(tmp_path: Path) -> None:
    """Checked from the registry of a composed station: each owner bound the keys it applies."""
    st = _station(tmp_path)
    try:
        assert st.config.unbound_writable() == []
        assert st.config.owner("HeartBeatInterval") == "ocpp.link"  # an alias is the same key
        assert st.config.owner("TemperatureHigh") == "evse (control loop)"
        assert st.config.owner("OfflineAuthorise") == "station (obsolete names)"
    finally:
        st.journal.close()
        st.auth.close()


def test_a_key_has_one_owner(tmp_path: Path) -> None:
    reg = ConfigRegistry(ConfigStore(tmp_path / "c.json"))
    reg.bind("leds", ["LightIntensity"])
    reg.bind("leds", ["LightIntensity"])  # the same owner again is fine
    with pytest.raises(ValueError, match="bound by leds"):
        reg.bind("energy", ["LightIntensity"])
    assert "LightIntensity" not in reg.unbound_writable()
    assert "AutoDimLights" in reg.unbound_writable()


def test_notes_name_real_keys_and_show_in_the_table(tmp_path: Path) -> None:
    names = {n for k in KEYS for n in k.names}
    assert set(NOTES) <= names
    text = render_text(ConfigRegistry(ConfigStore(tmp_path / "c.json")))
    assert "[stored; no Nuvve (V2G aggregator) integration]" in text
    assert "[stored; only meaningful with OCPP 1.5" in text


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
