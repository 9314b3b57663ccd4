"""Table-driven validation: accepted and rejected values for every key type, using real keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config.registry import ChangeStatus, ConfigRegistry
from controller.config.store import ConfigStore


@pytest.fixture
def registry(tmp_path: Path) -> ConfigRegistry:
    return ConfigRegistry(ConfigStore(tmp_path / "config.json"))


ACCEPTED = [
    # BOOL
    ("ZE-ready", "true", "true"),
    ("ZE-ready", "False", "false"),
    ("AuthorizeRemoteTxRequests", "TRUE", "true"),
    ("LocalPreAuthorize", "false", "false"),
    ("HeartBeatSendAllways", "True", "true"),
    # INT
    ("TimeZoneMinutes", "-720", "-720"),
    ("TimeZoneMinutes", "720", "720"),
    ("TimeZoneMinutes", "0", "0"),
    ("LightIntensity", "0", "0"),
    ("LightIntensity", "100", "100"),
    ("ContactorProtect", "32767", "32767"),
    ("ConnectionTimeOut", "0", "0"),
    ("HeartbeatInterval", "30", "30"),
    ("HeartbeatInterval", "0", "0"),  # documented: 0 disables
    ("HeartbeatInterval", "2147483647", "2147483647"),
    ("WebSocketPingInterval", "0", "0"),
    ("TimeUnlockWhenNotCharging", "0", "0"),
    ("TimeUnlockWhenNotCharging", "60", "60"),
    ("MaxEnergyOnInvalidId", "4294967296", "4294967296"),
    ("SCN-PhaseMapping-1", "9", "9"),
    ("MeterValueSampleInterval", "060", "60"),
    # FLOAT
    ("Station-MaxCurrent", "32.0", "32.0"),
    ("Station-MaxCurrent", "16", "16"),
    ("Connector1.2-MaxCurrent", "0.0", "0.0"),
    ("Connector1.2-MaxCurrent", "16.0", "16.0"),
    ("TemperatureLow", "-25.5", "-25.5"),
    ("Latitude", "-89.99", "-89.99"),
    ("Pricing-EnergyPrice", "0.45", "0.45"),
    # STRING
    ("SCN-NetworkName", "SCN1234", "SCN1234"),
    ("MasterKey-Id", "A" * 21, "A" * 21),
    ("PlugAndChargeIdentifier", "", ""),
    ("Phase-Connected", "L3L2L1", "L3L2L1"),
    ("Phase-Connected", "L2", "L2"),
    ("Pricing-Currency", "CHF", "CHF"),
    ("ProxyAddressAndPort", "10.0.0.1:3128", "10.0.0.1:3128"),
    ("CpoName", "Example CPO B.V.", "Example CPO B.V."),
    ("AuthorizationKey", "00112233445566778899aabbccddeeff", "00112233445566778899aabbccddeeff"),
    ("AuthorizationKey", "0011223344556677889900112233445566778899", "0011223344556677889900112233445566778899"),
    ("CalibrateTilt", "anything", "anything"),
    ("ForceFirmwareRollback", "4.6.0-3142", "4.6.0-3142"),
    # ENUM (case-insensitive, stored in the documented spelling)
    ("Power Outage Recovery", "Resume", "Resume"),
    ("Power Outage Recovery", "resume", "Resume"),
    ("DisconnectAction", "UnlockWhenOffline", "UnlockWhenOffline"),
    ("6mADetectResponse", "Smart", "Smart"),
    ("Connector1-Type", "Type-2 fixed cable", "Type-2 fixed cable"),
    ("CentralMeterValueAlignment", "boot", "Boot"),
    ("Static-LoadBalancing", "On", "On"),
    ("MaxAllowedPhases", "1", "1"),
    ("Language", "nl_NL", "nl_NL"),
    # CSL
    ("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage.L1-N,Current.Import.L1",
     "Energy.Active.Import.Register,Voltage.L1-N,Current.Import.L1"),
    ("MeterValuesSampledData", "Voltage.L3-L1, Power.Factor.L2", "Voltage.L3-L1,Power.Factor.L2"),
    ("MeterValuesSampledData", "", ""),
    ("MeterValuesSampledData",
     "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Temperature,Current.Offered,"
     "Frequency,Power.Factor,Current.Import.L3",
     "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Temperature,Current.Offered,"
     "Frequency,Power.Factor,Current.Import.L3"),
    ("MeterValuesAlignedData", "Energy.Active.Import.Register,Frequency", "Energy.Active.Import.Register,Frequency"),
    # IP
    ("MBTCPSmart-IPAddress", "192.168.1.50", "192.168.1.50"),
    ("MBTCPCentral-IPAddress", "192.168.000.004", "192.168.000.004"),
    ("DNS-1", "2001:db8::1", "2001:db8::1"),
    # URL
    ("BackOffice-URL-wired", "ws://backoffice.example.com:9090", "ws://backoffice.example.com:9090"),
    ("BackOffice-URL-wired", "wss://bo.example.com/ocpp", "wss://bo.example.com/ocpp"),
    ("BackOffice-URL-APN", "ws://10.0.0.1", "ws://10.0.0.1"),
    ("BackOffice-Path-wired", "/chargingstations/OCPPWS16", "/chargingstations/OCPPWS16"),
]


@pytest.mark.parametrize(("name", "value", "stored"), ACCEPTED)
def test_accepted(registry: ConfigRegistry, name: str, value: str, stored: str) -> None:
    assert registry.validate(name, value) is None
    assert registry.set(name, value) in (ChangeStatus.ACCEPTED, ChangeStatus.REBOOT_REQUIRED)
    if registry.spec(name).access.value != "W":  # type: ignore[union-attr]
        assert registry.get(name) == stored
    else:
        assert registry.stored(name) == stored


REJECTED = [
    # BOOL
    ("ZE-ready", "yes"),
    ("ZE-ready", "1"),
    ("AuthorizeRemoteTxRequests", ""),
    ("LocalPreAuthorize", "truee"),
    # INT: below, above, float, garbage
    ("TimeZoneMinutes", "-721"),
    ("TimeZoneMinutes", "721"),
    ("TimeZoneMinutes", "60.5"),
    ("LightIntensity", "101"),
    ("LightIntensity", "-1"),
    ("LightIntensity", "50%"),
    ("ContactorProtect", "32768"),
    ("ContactorProtect", "1e3"),
    ("ConnectionTimeOut", ""),
    ("ConnectionTimeOut", "12_0"),
    ("ConnectionTimeOut", "0x10"),
    ("HeartbeatInterval", "29"),
    ("HeartbeatInterval", "2147483648"),
    ("WebSocketPingInterval", "10"),
    ("TimeUnlockWhenNotCharging", "59"),
    ("SCN-AlternatingPeriod", "899"),
    ("SecurityProfile", "4"),
    ("MeterValueSampleInterval", "1"),
    ("Max Allowed Outage Duration (s)", "3601"),
    # FLOAT
    ("Connector1.2-MaxCurrent", "16.1"),
    ("Connector1.2-MaxCurrent", "-0.1"),
    ("Station-MaxCurrent", "nan"),
    ("Station-MaxCurrent", "inf"),
    ("Station-MaxCurrent", "32A"),
    ("TemperatureHigh", ""),
    ("Latitude", "91"),
    # STRING
    ("SCN-NetworkName", "SCN12345"),
    ("Identity", "X" * 21),
    ("MasterKey-Id", "A" * 22),
    ("Phase-Connected", "L1L1"),
    ("Phase-Connected", "L4"),
    ("Phase-Connected", "L1L2L3L1"),
    ("Phase-Connected", ""),
    ("Pricing-Currency", "eur"),
    ("ProxyAddressAndPort", "10.0.0.1"),
    ("CpoName", "x" * 501),
    ("CpoName", "line\nbreak"),
    ("AuthorizationKey", ""),
    ("AuthorizationKey", "0011223344556677889900aabbccdd"),  # 15 bytes
    ("AuthorizationKey", "00112233445566778899001122334455667788990"),  # 41 chars
    ("AuthorizationKey", "zz112233445566778899aabbccddeeff"),
    ("AuthorizationKey", "00112233445566778899aabbccddeeff0"),  # odd length
    ("ForceFirmwareRollback", "latest"),
    ("BackOffice-Path-wired", "no-leading-slash"),
    # ENUM
    ("Power Outage Recovery", "Restart"),
    ("DisconnectAction", "Stop"),
    ("6mADetectResponse", "Delayed"),
    ("Connector1-Type", "Type 3 socket"),
    ("MaxAllowedPhases", "2"),
    ("Language", "en_US"),
    ("ProtocolVersion", "OCPP2.0.1"),
    # CSL: bad measurand, bad phase, too many, duplicates, empty items
    ("MeterValuesSampledData", "Energy.Active.Export.Register"),
    ("MeterValuesSampledData", "SoC"),
    ("MeterValuesSampledData", "energy.active.import.register"),
    ("MeterValuesSampledData", "Voltage.L1"),
    ("MeterValuesSampledData", "Current.Import.L1-N"),
    ("MeterValuesSampledData", "Current.Import.N"),
    ("MeterValuesSampledData", "Energy.Active.Import.Register.L1"),
    ("MeterValuesSampledData", "Voltage.L4-N"),
    ("MeterValuesSampledData", "Energy.Active.Import.Register,,Voltage"),
    ("MeterValuesSampledData", "Voltage,Voltage"),
    ("MeterValuesSampledData",
     "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Temperature,Current.Offered,"
     "Frequency,Power.Factor,Current.Import.L3,Current.Import.L2"),  # 10 > 9
    ("MeterValuesAlignedData", "Current.Import.L5"),
    # IP
    ("MBTCPSmart-IPAddress", "192.168.1.256"),
    ("MBTCPSmart-IPAddress", "meter.local"),
    ("DNS-2", ""),
    ("DNS-2", "1.2.3"),
    # URL
    ("BackOffice-URL-wired", "http://backoffice.example.com"),
    ("BackOffice-URL-wired", "ftp://x"),
    ("BackOffice-URL-wired", "ws://"),
    ("BackOffice-URL-wired", "ws://host:99999"),
    ("BackOffice-URL-wired", "ws://host name"),
    ("BackOffice-URL-wired", "wss://" + "a" * 60 + ".nl"),  # longer than String[63]
    ("BackOffice-URL-APN", "backoffice.example.com"),
]


@pytest.mark.parametrize(("name", "value"), REJECTED)
def test_rejected(registry: ConfigRegistry, name: str, value: str) -> None:
    before = registry.stored(name)
    reason = registry.validate(name, value)
    assert isinstance(reason, str) and reason
    assert registry.set(name, value) is ChangeStatus.REJECTED
    assert registry.stored(name) == before


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("Voltage.L1", "phase 'L1' is not supported for Voltage"),
        ("Energy.Active.Import.Register.L1", "not supported for Energy.Active.Import.Register"),
        ("SoC", "not a supported measurand"),
    ],
)
def test_measurand_reasons_are_readable(registry: ConfigRegistry, value: str, fragment: str) -> None:
    assert fragment in (registry.validate("MeterValuesSampledData", value) or "")


READ_ONLY = ["NumberOfConnectors", "GetConfigurationMaxKeys", "SupportedFeatureProfiles", "Temperature",
             "ConnectorPhaseRotation", "StopTxnSampledData", "SCN-IsEnabled", "CertificateSignedMaxChain"]


@pytest.mark.parametrize("name", READ_ONLY)
def test_read_only_keys_are_rejected(registry: ConfigRegistry, name: str) -> None:
    assert registry.set(name, registry.get(name)) is ChangeStatus.REJECTED


@pytest.mark.parametrize("name", ["NoSuchKey", "", "HeartbeatInterval "])
def test_unknown_keys_are_not_supported(registry: ConfigRegistry, name: str) -> None:
    assert registry.set(name, "1") is ChangeStatus.NOT_SUPPORTED
    assert registry.validate(name, "1") is not None


def test_reboot_required_keys(registry: ConfigRegistry) -> None:
    assert registry.set("Identity", "CP-0001") is ChangeStatus.REBOOT_REQUIRED
    assert registry.set("LightIntensity", "50") is ChangeStatus.ACCEPTED


def test_csl_limit_follows_the_maxlength_key(registry: ConfigRegistry) -> None:
    # StopTxnAlignedDataMaxLength is 0 (not supported): only the empty list is valid.
    registry.set_internal("StopTxnAlignedData", "")
    with pytest.raises(ValueError):
        registry.set_internal("StopTxnAlignedData", "Energy.Active.Import.Register")
    # ConnectorPhaseRotation: items like 0.RST, up to ConnectorPhaseRotationMaxLength.
    registry.set_internal("ConnectorPhaseRotation", "0.RST, 1.RST, 2.RTS")
    assert registry.get("ConnectorPhaseRotation") == "0.RST,1.RST,2.RTS"
    assert registry.get_list("ConnectorPhaseRotation") == ["0.RST", "1.RST", "2.RTS"]
    for bad in ("0.RST,1.RST,2.RTS,3.RST", "1.XYZ", "RST", "0.rst"):
        with pytest.raises(ValueError):
            registry.set_internal("ConnectorPhaseRotation", bad)


def test_security_profile_can_only_be_raised(registry: ConfigRegistry) -> None:
    assert registry.set("SecurityProfile", "1") is ChangeStatus.REJECTED  # no AuthorizationKey yet
    assert registry.set("AuthorizationKey", "00112233445566778899aabbccddeeff") is ChangeStatus.ACCEPTED
    assert registry.set("SecurityProfile", "2") is ChangeStatus.ACCEPTED
    assert registry.set("SecurityProfile", "2") is ChangeStatus.ACCEPTED  # equal is not lower
    assert registry.set("SecurityProfile", "1") is ChangeStatus.REJECTED
    assert registry.set("SecurityProfile", "0") is ChangeStatus.REJECTED
    assert "only be raised" in (registry.validate("SecurityProfile", "1") or "")
    assert registry.set("SecurityProfile", "3") is ChangeStatus.ACCEPTED
    assert registry.get_int("SecurityProfile") == 3


def test_extra_validator_from_the_owning_module(registry: ConfigRegistry) -> None:
    registry.register_validator("SecurityProfile", lambda v: "no client certificate" if v == "3" else None)
    assert registry.set("SecurityProfile", "3") is ChangeStatus.REJECTED
    assert registry.validate("SecurityProfile", "3") == "no client certificate"


def test_charger_password(registry: ConfigRegistry) -> None:
    # No password yet: existing is empty.
    assert registry.set("PW-SetChargerPassword", ",Secret-Pass1") is ChangeStatus.ACCEPTED
    assert registry.check_password("PW-SetChargerPassword", "Secret-Pass1")
    assert not registry.check_password("PW-SetChargerPassword", "wrong-password")
    assert "Secret-Pass1" not in registry.stored("PW-SetChargerPassword")  # stored hashed
    for bad in (
        "wrong-password,Another-Pass2",  # existing does not match
        "Secret-Pass1,short",  # < 10
        "Secret-Pass1," + "x" * 41,  # > 40
        'Secret-Pass1,has"quote12',
        "Secret-Pass1,has\\backslash",
        "Secret-Pass1,a,b,c,d,e,f,g,h,i,j",  # commas
        "Secret-Pass1",  # no new password
    ):
        assert registry.set("PW-SetChargerPassword", bad) is ChangeStatus.REJECTED, bad
    assert registry.set("PW-SetChargerPassword", "Secret-Pass1,Another-Pass2") is ChangeStatus.ACCEPTED
    assert registry.check_password("PW-SetChargerPassword", "Another-Pass2")
    assert not registry.check_password("PW-SetChargerPassword", "Secret-Pass1")


def test_charger_password_from_board_default(tmp_path: Path) -> None:
    registry = ConfigRegistry(ConfigStore(tmp_path / "c.json"),
                              board_defaults={"PW-SetChargerPassword": "Factory-0001"})
    assert registry.set("PW-SetChargerPassword", ",New-Password-1") is ChangeStatus.REJECTED
    assert registry.set("PW-SetChargerPassword", "Factory-0001,New-Password-1") is ChangeStatus.ACCEPTED
    # survives a restart
    again = ConfigRegistry(ConfigStore(tmp_path / "c.json"), board_defaults={"PW-SetChargerPassword": "Factory-0001"})
    assert again.check_password("PW-SetChargerPassword", "New-Password-1")


def test_temp_access_key(registry: ConfigRegistry) -> None:
    assert registry.set("PW-SetTempAccessKey", "short") is ChangeStatus.REJECTED
    assert registry.set("PW-SetTempAccessKey", "Temporary-123") is ChangeStatus.ACCEPTED
    assert registry.check_password("PW-SetTempAccessKey", "Temporary-123")


def test_typed_getters(registry: ConfigRegistry) -> None:
    assert registry.get_int("HeartBeatInterval") == 900
    assert registry.get_float("TemperatureLow") == -25.0
    assert registry.get_bool("AuthorizationCacheEnabled") is True
    assert registry.get_bool("Static-LoadBalancing") is False  # On/Off reads as a bool too
    assert registry.get_list("MeterValuesSampledData") == ["Energy.Active.Import.Register"]
    assert registry.get_list("MeterValuesAlignedData") == []
    with pytest.raises(ValueError):
        registry.get_int("Identity")
    with pytest.raises(ValueError):
        registry.get_bool("LightIntensity")
    with pytest.raises(KeyError):
        registry.get("NoSuchKey")
