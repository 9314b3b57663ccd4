"""Registry behaviour: subscriptions, live values, GetConfiguration (paging, unknownKey, readonly, write-only,
aliases), internal writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config.keys import KEYS, Access
from controller.config.registry import ChangeStatus, ConfigRegistry
from controller.config.store import ConfigStore


@pytest.fixture
def registry(tmp_path: Path) -> ConfigRegistry:
    return ConfigRegistry(ConfigStore(tmp_path / "config.json"))


def test_subscribers_get_the_canonical_name_and_new_value(registry: ConfigRegistry, tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []

    def on_change(key: str, value: str) -> None:
        # persisted before subscribers run
        seen.append((key, value, ConfigRegistry(ConfigStore(tmp_path / "config.json")).get(key)))

    registry.subscribe("HeartBeatInterval", on_change)  # subscribe by alias
    assert registry.set("HeartbeatInterval", "120") is ChangeStatus.ACCEPTED
    assert registry.set("HeartBeatInterval", "240") is ChangeStatus.ACCEPTED
    assert seen == [("HeartbeatInterval", "120", "120"), ("HeartbeatInterval", "240", "240")]


def test_subscribers_get_the_normalized_value_and_not_rejected_ones(registry: ConfigRegistry) -> None:
    seen: list[str] = []
    registry.subscribe("AuthorizeRemoteTxRequests", lambda k, v: seen.append(v))
    registry.set("AuthorizeRemoteTxRequests", "TRUE")
    registry.set("AuthorizeRemoteTxRequests", "maybe")
    assert seen == ["true"]


def test_every_accepted_write_notifies_even_unchanged(registry: ConfigRegistry) -> None:
    seen: list[str] = []
    registry.subscribe("CalibrateTilt", lambda k, v: seen.append(v))
    registry.set("CalibrateTilt", "1")
    registry.set("CalibrateTilt", "1")
    assert seen == ["1", "1"]


def test_a_failing_subscriber_does_not_break_set(registry: ConfigRegistry) -> None:
    seen: list[str] = []

    def broken(key: str, value: str) -> None:
        raise RuntimeError("boom")

    registry.subscribe("LightIntensity", broken)
    registry.subscribe("LightIntensity", lambda k, v: seen.append(v))
    assert registry.set("LightIntensity", "10") is ChangeStatus.ACCEPTED
    assert seen == ["10"]


def test_subscribe_unknown_key_raises(registry: ConfigRegistry) -> None:
    with pytest.raises(KeyError):
        registry.subscribe("NoSuchKey", lambda k, v: None)


def test_set_internal_bypasses_access_but_validates(registry: ConfigRegistry) -> None:
    seen: list[str] = []
    registry.subscribe("SCN-IsEnabled", lambda k, v: seen.append(v))
    registry.set_internal("SCN-IsEnabled", "True")
    assert registry.get("SCN-IsEnabled") == "true" and seen == ["true"]
    with pytest.raises(ValueError):
        registry.set_internal("NumberOfConnectors", "5")
    with pytest.raises(KeyError):
        registry.set_internal("NoSuchKey", "1")
    # The station may lower the security profile (e.g. a factory reset); the back office may not.
    registry.set_internal("SecurityProfile", "3")
    registry.set_internal("SecurityProfile", "0")
    assert registry.get("SecurityProfile") == "0"


def test_live_values(registry: ConfigRegistry) -> None:
    power = iter(["1.5", "7.4"])
    registry.register_live("Connector1-ActualPower", lambda: next(power))
    assert registry.get("Connector1-ActualPower") == "1.5"
    entries, _ = registry.get_configuration(["Connector1-ActualPower"])
    assert entries == [{"key": "Connector1-ActualPower", "readonly": True, "value": "7.4"}]


def test_broken_live_provider_falls_back_to_stored(registry: ConfigRegistry) -> None:
    def broken() -> str:
        raise RuntimeError("sensor gone")

    registry.register_live("Temperature", broken)
    assert registry.get("Temperature") == "0.0"


def test_get_configuration_asked_keys(registry: ConfigRegistry) -> None:
    entries, unknown = registry.get_configuration(
        ["HeartBeatInterval", "NumberOfConnectors", "NoSuchKey", "HeartbeatInterval", "AuthorizationKey"])
    assert entries == [
        {"key": "HeartBeatInterval", "readonly": False, "value": "900"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "1"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "900"},
        {"key": "AuthorizationKey", "readonly": False},  # write-only: no value
    ]
    assert unknown == ["NoSuchKey"]


def test_aliases_share_one_value(registry: ConfigRegistry) -> None:
    registry.set("HeartBeatInterval", "60")
    assert registry.get("HeartbeatInterval") == registry.get("HeartBeatInterval") == "60"
    entries, _ = registry.get_configuration(None)
    values = {e["key"]: e["value"] for e in entries}
    assert values["HeartbeatInterval"] == values["HeartBeatInterval"] == "60"
    assert values["CertificateSignedMaxChainSize"] == values["CertificateSignedMaxChain"]


def test_full_listing(registry: ConfigRegistry) -> None:
    registry.set("AuthorizationKey", "00112233445566778899aabbccddeeff")
    registry.set("ProxyPassword", "hunter2")
    empties: tuple[list[str] | None, ...] = (None, [])
    for empty in empties:
        entries, unknown = registry.get_configuration(empty)
        assert unknown == []
        keys = [e["key"] for e in entries]
        readable = [n for s in KEYS if s.access is not Access.W for n in s.names]
        assert keys == readable
        assert "AuthorizationKey" not in keys and "PW-SetChargerPassword" not in keys
        assert all("value" in e for e in entries)
        text = repr(entries)
        assert "00112233445566778899aabbccddeeff" not in text and "hunter2" not in text
        for e in entries:
            spec = registry.spec(e["key"])
            assert spec is not None and e["readonly"] is (spec.access is Access.R)
            assert len(e["value"]) <= 500 and len(e["key"]) <= 50


def test_write_only_values_are_never_revealed(registry: ConfigRegistry) -> None:
    registry.set("ProxyPassword", "hunter2")
    registry.set("PW-SetChargerPassword", ",Secret-Pass1")
    write_only = [n for s in KEYS if s.access is Access.W for n in s.names]
    entries, unknown = registry.get_configuration(write_only[:20])
    assert unknown == []
    assert all(set(e) == {"key", "readonly"} and e["readonly"] is False for e in entries)


def test_get_configuration_max_keys(tmp_path: Path) -> None:
    registry = ConfigRegistry(ConfigStore(tmp_path / "c.json"), board_defaults={"GetConfigurationMaxKeys": "3"})
    entries, unknown = registry.get_configuration(
        ["LightIntensity", "Nope1", "HeartbeatInterval", "Nope2", "ZE-ready"])
    assert [e["key"] for e in entries] == ["LightIntensity", "HeartbeatInterval"]
    assert unknown == ["Nope1"]
    default = ConfigRegistry(ConfigStore(tmp_path / "d.json"))
    names = [s.name for s in KEYS if s.access is not Access.W][:40]
    entries, _ = default.get_configuration(names)
    assert len(entries) == 35


def test_values_are_capped_at_500_characters(registry: ConfigRegistry) -> None:
    registry.register_live("NFC-Version1", lambda: "x" * 600)
    entries, _ = registry.get_configuration(["NFC-Version1"])
    assert len(entries[0]["value"]) == 500


async def test_entries_pass_the_ocpp_schema(registry: ConfigRegistry) -> None:
    from ocpp.messages import CallResult, validate_payload

    registry.register_live("NFC-Version1", lambda: "x" * 600)
    for asked in (None, ["HeartbeatInterval", "AuthorizationKey", "NFC-Version1", "Nope"]):
        entries, unknown = registry.get_configuration(asked)
        payload = {"configurationKey": entries, "unknownKey": unknown}
        await validate_payload(CallResult(unique_id="1", payload=payload, action="GetConfiguration"), "1.6")
