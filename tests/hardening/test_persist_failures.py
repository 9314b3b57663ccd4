"""An OCPP request whose state cannot be stored (full disk) is answered Rejected/Failed/Unknown, never
Accepted, and changes nothing; the same request succeeds once the disk has room again."""

from __future__ import annotations

from ocpp.v16 import call

from controller.ocpp.availability import FILE as AVAILABILITY_FILE
from controller.ocpp.smartcharging import FILE as PROFILES_FILE
from tests.conftest import Rig, until
from tests.hardening.test_statefile import full_disk
from tests.ocpp.profiles.test_smartcharging import profile, set_profile
from tests.ocpp.profiles.test_trigger_security import make_cert, pem


async def test_set_and_clear_charging_profile_on_a_full_disk(rig: Rig) -> None:
    path = rig.station.state_dir / PROFILES_FILE
    assert await set_profile(rig, 0, profile(1, "ChargePointMaxProfile", 0, [(0, 16.0)])) == "Accepted"
    stored = path.read_bytes()
    with full_disk(room=20):
        assert await set_profile(rig, 0, profile(2, "ChargePointMaxProfile", 1, [(0, 10.0)])) == "Rejected"
        res = await rig.bo.call(rig.identity, call.ClearChargingProfile(id=1))
        assert res.status == "Unknown"  # ClearChargingProfile's only refusal
    assert path.read_bytes() == stored
    assert [p.id for p in rig.station.smart.profiles] == [1]
    assert any("cannot write" in line and str(path) in line for line in rig.trace)
    assert await set_profile(rig, 0, profile(2, "ChargePointMaxProfile", 1, [(0, 10.0)])) == "Accepted"


async def test_change_availability_on_a_full_disk(rig: Rig) -> None:
    with full_disk(room=0):
        res = await rig.bo.call(rig.identity, call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert res.status == "Rejected"
    assert not (rig.station.state_dir / AVAILABILITY_FILE).exists()
    assert rig.station.availability.wanted[1] == "Operative"
    assert rig.conn()["ocpp_status"] == "Available"
    res = await rig.bo.call(rig.identity, call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert res.status == "Accepted"
    await rig.wait_status("Unavailable")


async def test_install_and_delete_certificate_on_a_full_disk(rig: Rig) -> None:
    bo, cp = rig.bo, rig.identity
    _, root = make_cert("Test CSMS Root")
    with full_disk(room=0):
        res = await bo.call(cp, call.InstallCertificate(certificate_type="CentralSystemRootCertificate",
                                                        certificate=pem(root)))
    assert res.status == "Failed"
    res = await bo.call(cp, call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"))
    assert res.status == "NotFound"
    res = await bo.call(cp, call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=pem(root)))
    assert res.status == "Accepted"
    ids = (await bo.call(cp, call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate")))
    h = ids.certificate_hash_data[0]
    wire = {"hashAlgorithm": "SHA256", "issuerNameHash": h["issuer_name_hash"],
            "issuerKeyHash": h["issuer_key_hash"], "serialNumber": h["serial_number"]}
    with full_disk(room=0):
        res = await bo.call(cp, call.DeleteCertificate(certificate_hash_data=wire))
    assert res.status == "Failed"
    res = await bo.call(cp, call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"))
    assert res.status == "Accepted"


async def test_a_security_event_on_a_full_disk_is_still_sent(rig: Rig) -> None:
    with full_disk(room=0):
        rig.station.security.event("SettingSystemTime", "full disk test")
        await rig.bo.wait_for("SecurityEventNotification", rig.identity,
                              lambda p: p.get("techInfo") == "full disk test", timeout=5)
    await until(lambda: not rig.station.security.pending, 5, "queue drained")


async def test_a_tilt_calibration_on_a_full_disk_is_said_and_the_old_one_kept(rig: Rig) -> None:
    from controller.evse.protocol import Calibration
    from controller.station.control import TILT_FILE

    events = rig.station.control_events
    events.on_message(Calibration((0.0, 0.0, 1.0)))
    path = rig.station.state_dir / TILT_FILE
    stored = path.read_bytes()
    with full_disk(room=5):
        events.on_message(Calibration((0.1, 0.0, 0.99)))  # raised into the reader before
    assert path.read_bytes() == stored
    assert any("tilt calibration not stored" in line and str(path) in line for line in rig.trace)
