"""The simulated Eichrecht meter signs OCMF records that an independent verifier (pyocmf) accepts, and it
behaves like hardware: its key and page counter outlive a restart, a changed value is caught."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hal.errors import DeviceError, DeviceOffline
from hal.ocmf import Gateway, identification_for
from hal.signing_meter import SigningMeter, build_signing_meters
from hal.sim.eichrecht import SimEichrechtMeter
from tests.ocmf.verify import pair_is_valid, parse, tampered, verifies

GATEWAY = Gateway("SIM-0001", "SIM-0001", "0.1.0")
WALL = datetime(2026, 11, 30, 7, 10, 0, 123000, tzinfo=UTC)


def meter(state: Path, energy: list[float], cid: int = 1) -> SimEichrechtMeter:
    return SimEichrechtMeter(state, cid, lambda: energy[0], lambda: WALL, GATEWAY)


def test_records_verify_and_carry_the_fields(tmp_path: Path) -> None:
    energy = [1234.4]
    m = meter(tmp_path, energy)
    assert isinstance(m, SigningMeter)
    record = m.signed_reading("B", identification_for("04A1B2C3"))
    assert record.startswith("OCMF|{") and verifies(record, m.public_key())
    payload = parse(record).payload
    assert (payload.FV, payload.GI, payload.PG, payload.MS, payload.IS) == ("1.0", "SIM-0001", "T1", "SIM00001", True)
    assert (str(payload.IT), payload.ID) == ("ISO14443", "04A1B2C3")
    (reading,) = payload.RD
    assert (str(reading.TX), float(reading.RV or 0), str(reading.RU), str(reading.ST)) == ("B", 1.234, "kWh", "G")
    assert '"TM":"2026-11-30T07:10:00,123+0000 S"' in record
    assert '"SA":"ECDSA-secp256r1-SHA256"' in record


def test_a_changed_value_or_another_key_is_rejected(tmp_path: Path) -> None:
    m = meter(tmp_path, [5000.0])
    other = meter(tmp_path / "other", [5000.0])
    record = m.signed_reading("E", identification_for("TAG-1"))
    assert verifies(record, m.public_key())
    assert not verifies(tampered(record), m.public_key())
    assert not verifies(record.replace('"ID":"TAG-1"', '"ID":"TAG-2"'), m.public_key())
    assert not verifies(record, other.public_key())


def test_begin_and_end_make_a_valid_transaction(tmp_path: Path) -> None:
    energy = [1000.0]
    m = meter(tmp_path, energy)
    who = identification_for("04A1B2C3")
    begin = m.signed_reading("B", who)
    energy[0] = 8250.0
    end = m.signed_reading("E", who)
    assert pair_is_valid(begin, end)
    energy[0] = 999.0  # the verifier does look: a register that went backwards is refused
    assert not pair_is_valid(begin, m.signed_reading("E", who))


def test_key_and_page_counter_outlive_a_restart(tmp_path: Path) -> None:
    m = meter(tmp_path, [1.0])
    key = m.public_key()
    assert len(key) == 182  # hex DER SubjectPublicKeyInfo of a secp256r1 key
    m.signed_reading("B", identification_for(None))
    again = meter(tmp_path, [1.0])  # the controller restarted; the meter (hardware) did not forget
    assert again.public_key() == key
    record = again.signed_reading("E", identification_for(None))
    assert parse(record).payload.PG == "T2" and verifies(record, key)
    assert (tmp_path / "eichrecht-meter-1.pem").stat().st_mode & 0o777 == 0o600
    assert meter(tmp_path, [1.0], cid=2).public_key() != key  # each meter its own pair


def test_an_offline_meter_raises_a_device_error(tmp_path: Path) -> None:
    m = meter(tmp_path, [1.0])
    m.offline = True
    with pytest.raises(DeviceOffline):
        m.signed_reading("B", identification_for("X"))
    with pytest.raises(ValueError, match="reading reason"):
        m.signed_reading("Q", identification_for("X"))


def test_the_board_section_decides_which_connectors_have_one(tmp_path: Path) -> None:
    def build(section: dict[str, object]) -> dict[int, SigningMeter]:
        return build_signing_meters(section, [1, 2], tmp_path, lambda cid: 0.0, lambda: WALL, GATEWAY)

    assert build({}) == {}
    assert sorted(build({"driver": "sim"})) == [1, 2]
    assert sorted(build({"driver": "sim", "connectors": [2]})) == [2]


def test_a_corrupt_key_file_makes_the_meter_faulty_never_a_new_key(tmp_path: Path) -> None:
    meter(tmp_path, [1.0])
    key_file = tmp_path / "eichrecht-meter-1.pem"
    key_file.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n")
    broken = meter(tmp_path, [1.0])  # does not raise: the station starts
    assert broken.fault is not None and str(tmp_path) in broken.fault
    with pytest.raises(DeviceError):
        broken.public_key()
    with pytest.raises(DeviceError):
        broken.signed_reading("B", identification_for("X"))
    assert key_file.read_bytes().endswith(b"garbage\n")  # kept as it was (for diagnostics)


def test_a_page_counter_that_cannot_be_written_is_a_device_error(tmp_path: Path) -> None:
    m = meter(tmp_path, [1.0])
    (tmp_path / "eichrecht-meter-1.pg.tmp").mkdir()  # the atomic write's temporary cannot be created
    with pytest.raises(DeviceError, match="cannot count its page"):
        m.signed_reading("B", identification_for("X"))


@pytest.mark.parametrize(("id_tag", "it", "shown"), [
    ("04a1b2c3", "ISO14443", "04a1b2c3"),  # an RFID UID, as the idTag spells it
    ("04A1B2C3D4E5F6", "ISO14443", "04A1B2C3D4E5F6"),
    ("REMOTE-USER-7", "CENTRAL", "REMOTE-USER-7"),  # an id the back office gave
    (None, "NONE", None),
])
def test_the_identification_follows_the_id_tag(tmp_path: Path, id_tag: str | None, it: str, shown: str | None) -> None:
    m = meter(tmp_path, [1.0])
    payload = parse(m.signed_reading("B", identification_for(id_tag))).payload
    assert (str(payload.IT), payload.ID, payload.IS) == (it, shown, id_tag is not None)
