"""The key table against the key document's facts (`docs/reference/alfen-keys.tsv`, shipped with the repo):
every documented and every standard key is there, once, with the documented access, category, default, range
and options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.config.keys import KEYS, OWNERS, PASSWORD_KEYS, STANDARD_OCPP_KEYS, Access, KeySpec, KeyType
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "alfen-keys.tsv"

# Where the document's own text overrides keys-index.tsv, assert the document's value (none differ today;
# the index's "Read" for SupportedFileTransferProtocols/OCPPStackVersion already reads as R).
DOC_OVERRIDES: dict[str, str] = {}

# Keys whose empty default means "not set yet" and that the back office may not set to "" themselves.
UNSET_PLACEHOLDERS = {"AuthorizationKey", "PW-SetTempAccessKey", "PW-SetChargerPassword", "ForceFirmwareRollback"}


@dataclass(frozen=True)
class Documented:
    name: str
    access: str
    category: str
    default: str
    minimum: str
    maximum: str
    options: str


def _documented() -> list[Documented]:
    rows = []
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        rows.append(Documented(*line.split("\t")))
    return rows


def _index_rows() -> list[tuple[str, str, str]]:
    return [(d.name, d.access, d.category) for d in _documented()]


@pytest.fixture
def registry(tmp_path: Path) -> ConfigRegistry:
    return ConfigRegistry(ConfigStore(tmp_path / "config.json"))


def test_index_has_188_keys() -> None:
    assert len(_index_rows()) == 188


@pytest.mark.parametrize(("name", "access", "category"), _index_rows())
def test_every_indexed_key_is_answered_with_its_access(
    registry: ConfigRegistry, name: str, access: str, category: str
) -> None:
    spec = registry.spec(name)
    assert spec is not None, name
    assert spec.access.value == DOC_OVERRIDES.get(name, access)
    assert spec.category == category


@pytest.mark.parametrize("name", STANDARD_OCPP_KEYS)
def test_every_standard_ocpp_key_is_answered(registry: ConfigRegistry, name: str) -> None:
    spec = registry.spec(name)
    assert spec is not None, name
    assert spec.origin == "OCPP"


def test_standard_list_is_complete() -> None:
    # OCPP 1.6 §9: 34 Core + 3 LocalAuthList + 1 Reservation + 5 SmartCharging + 1 Firmware; whitepaper: 6.
    assert len(STANDARD_OCPP_KEYS) == len(set(STANDARD_OCPP_KEYS)) == 50


def test_standard_spelling_is_canonical_alfen_spelling_is_alias(registry: ConfigRegistry) -> None:
    hb = registry.spec("HeartbeatInterval")
    assert hb is registry.spec("HeartBeatInterval")
    assert hb is not None and hb.name == "HeartbeatInterval" and hb.aliases == ("HeartBeatInterval",)
    chain = registry.spec("CertificateSignedMaxChainSize")
    assert chain is registry.spec("CertificateSignedMaxChain")


def test_names_are_case_insensitive(registry: ConfigRegistry) -> None:
    """OCPP 1.6 key names are CiString50Type: any case finds the key, GetConfiguration answers as asked."""
    hb = registry.spec("HeartbeatInterval")
    assert registry.spec("heartbeatinterval") is hb and registry.spec("HEARTBEATINTERVAL") is hb
    assert registry.set("heartbeatINTERVAL", "120") == "Accepted"
    assert registry.get("HeartbeatInterval") == "120"
    (entry,), unknown = registry.get_configuration(["HEARTBEATINTERVAL"])
    assert entry == {"key": "HEARTBEATINTERVAL", "readonly": False, "value": "120"} and unknown == []


def test_counts() -> None:
    # 188 document names, 2 of them aliases of standard keys, plus 5 standard names the document lacks and
    # 1 key of this controller (AuthorizationKeyFormat).
    assert len(KEYS) == 188 - 2 + 5 + 1
    names = [n for k in KEYS for n in k.names]
    assert len(names) == len(set(names)) == 194
    index_names = {row[0] for row in _index_rows()}
    assert set(names) - index_names == {"HeartbeatInterval", "CertificateSignedMaxChainSize", "BlinkRepeat",
                                        "MinimumStatusDuration", "AdditionalRootCertificateCheck",
                                        "AuthorizationKeyFormat"}


@pytest.mark.parametrize("spec", KEYS, ids=lambda s: s.name)
def test_spec_is_well_formed(registry: ConfigRegistry, spec) -> None:
    assert spec.owner in OWNERS
    assert spec.origin in ("OCPP", "Alfen", "Controller")
    assert spec.description and "\n" not in spec.description
    assert len(spec.name) <= 50
    assert (spec.owner == "hardware-absent") == (spec.hardware_note is not None)
    if spec.hardware_note:
        assert spec.hardware_note.startswith("stored; this board has no")
    if spec.type is KeyType.ENUM:
        assert spec.options and spec.default in spec.options
    if spec.type in (KeyType.INT, KeyType.FLOAT) and spec.minimum is not None and spec.maximum is not None:
        assert spec.minimum <= spec.maximum
    if spec.item_pattern:
        re.compile(spec.item_pattern)
    if spec.name not in UNSET_PLACEHOLDERS:
        assert registry.check(spec, spec.default) is None, spec.name
    if spec.type is KeyType.BOOL:
        assert spec.default in ("true", "false")


# Where the key table knowingly departs from the document: (key, field) -> why (said in keys.py too).
DEVIATIONS: dict[tuple[str, str], str] = {
    ("ConnectorPhaseRotationMaxLength", "default"):
        "the document's 0 (not supported) could not hold the documented default 0.RST; connectors 0..2 are",
    ("ProtocolVersion", "options"):
        "this controller speaks only OCPP 1.6J: accepting OCPP1.5/OCPP2.0.1 would promise what it cannot keep",
}


def _spec(doc: Documented) -> KeySpec:
    return next(k for k in KEYS if doc.name in k.names)


def _range(doc: Documented) -> tuple[float | None, float | None]:
    return (float(doc.minimum) if doc.minimum else None, float(doc.maximum) if doc.maximum else None)


def test_the_document_gives_values_for_most_keys() -> None:
    """Every value the document states is transcribed (139 of its 188 keys state one; the others say
    "Determined per order", "n.a.", give an example or nothing)."""
    documented = [d for d in _documented() if d.default or d.minimum or d.maximum or d.options]
    assert len(documented) == 139


def test_every_deviation_is_still_one() -> None:
    """A deviation listed above that the table no longer has is stale: drop it."""
    docs = {d.name: d for d in _documented()}
    for (name, field), _why in DEVIATIONS.items():
        doc, spec = docs[name], _spec(docs[name])
        if field == "default":
            assert doc.default and spec.default != doc.default, name
        elif field == "options":
            assert doc.options and spec.options != tuple(doc.options.split("|")), name


@pytest.mark.parametrize("doc", [d for d in _documented() if d.default and (d.name, "default") not in DEVIATIONS],
                         ids=lambda d: d.name)
def test_documented_defaults(doc: Documented) -> None:
    assert _spec(doc).default == doc.default


@pytest.mark.parametrize("doc", [d for d in _documented() if d.minimum or d.maximum], ids=lambda d: d.name)
def test_documented_ranges(doc: Documented) -> None:
    """The documented bounds (a bound the document leaves open is the table's own, e.g. a physical limit)."""
    spec = _spec(doc)
    low, high = _range(doc)
    assert (spec.minimum if low is not None else None, spec.maximum if high is not None else None) == (low, high)


@pytest.mark.parametrize("doc", [d for d in _documented() if d.options and (d.name, "options") not in DEVIATIONS],
                         ids=lambda d: d.name)
def test_documented_options(doc: Documented) -> None:
    assert _spec(doc).options == tuple(doc.options.split("|"))


WRITE_ONLY = {
    "AuthorizationKey", "PW-SetChargerPassword", "PW-SetTempAccessKey", "ProxyPassword", "CalibrateTilt",
    "OCPP-reply timeout", "OCPP-send timeout", "WS timeout", "NuvveActive", "NuvveInterval", "NuvveTolerance",
    "OfflineAuthorise", "OnlineAuthorise", "ForceFirmwareRollback",
}


def test_write_only_keys() -> None:
    assert {k.name for k in KEYS if k.access is Access.W} == WRITE_ONLY
    assert PASSWORD_KEYS <= WRITE_ONLY


def test_hardware_absent_keys_say_so() -> None:
    notes = {k.name: k.hardware_note for k in KEYS if k.hardware_note}
    assert notes["Language"] == "stored; this board has no display"
    assert "modem" in (notes["APN-Name"] or "")
    assert "SignedDataEnabled" not in notes  # issue 13: bound by controller/metering (a board may have the meter)
