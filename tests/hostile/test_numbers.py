"""Item 2: decimals and big numbers from the back office. SetChargingProfile and RemoteStartTransaction with
`13.5` or `10.0` are applied, persisted before the answer, survive a restart, and later profile calls still
work; numbers in every other action reach no service as `Decimal`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.office import HostileOffice
from tests.hostile.support import station_at


def profile(pid: int, limit: Any, purpose: str = "TxDefaultProfile", level: int = 0) -> dict[str, Any]:
    return {
        "chargingProfileId": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2020-01-01T00:00:00Z",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
    }


@pytest.mark.parametrize("limit", [13.5, 10.0, 16])
async def test_decimal_limits_in_set_charging_profile(tmp_path: Path, office: HostileOffice, limit: Any) -> None:
    async with station_at(tmp_path, office) as rig:
        res = await office.result("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile(1, limit)})
        assert res == {"status": "Accepted"}
        stored = json.loads((tmp_path / "state" / "charging_profiles.json").read_text())
        assert [p["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] for p in stored] == [limit]
        # the next profile call works too (nothing half-applied)
        res = await office.result("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile(2, 6.1, level=1)})
        assert res == {"status": "Accepted"}
        comp = await office.result("GetCompositeSchedule", {"connectorId": 1, "duration": 60})
        assert comp["status"] == "Accepted"
        assert comp["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == pytest.approx(6.1)
        assert {p.id for p in rig.station.smart.profiles} == {1, 2}
    async with station_at(tmp_path, office) as rig:  # the same state directory after a restart
        assert {p.id for p in rig.station.smart.profiles} == {1, 2}


async def test_remote_start_with_a_decimal_profile(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office) as rig:
        tx_profile = profile(7, 13.5, purpose="TxProfile")
        res = await office.result("RemoteStartTransaction", {"idTag": "DEC", "connectorId": 1,
                                                             "chargingProfile": tx_profile})
        assert res == {"status": "Accepted"}
        await rig.cmd("plug", connector=1)
        start = await office.wait_call("StartTransaction")
        assert start.payload["idTag"] == "DEC"
        await office.wait(lambda: any(p.id == 7 for p in rig.station.smart.profiles), what="TxProfile installed")
        stored = json.loads((tmp_path / "state" / "charging_profiles.json").read_text())
        assert [p["chargingProfileId"] for p in stored] == [7]  # persisted, not only in memory
        office.assert_one_call_outstanding()


@pytest.mark.parametrize(("action", "payload"), [
    ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"}),
    ("GetCompositeSchedule", {"connectorId": 1, "duration": 86400.0}),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "R", "reservationId": 1.0}),
    ("ClearChargingProfile", {"id": 12345678901234567890}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 1.0}),
    ("SendLocalList", {"listVersion": 2.0, "updateType": "Full"}),
])
async def test_decimals_and_big_numbers_never_give_an_internal_error(
    tmp_path: Path, office: HostileOffice, action: str, payload: dict[str, Any]
) -> None:
    async with station_at(tmp_path, office):
        reply = await office.call(action, payload)
        assert reply[0] == 3 or reply[2] != "InternalError", reply
