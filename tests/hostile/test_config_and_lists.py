"""GetConfiguration beyond GetConfigurationMaxKeys (item 5), case-insensitive key names (item 14), the local
list version after an empty Full update (item 10)."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.office import HostileOffice
from tests.hostile.support import station_at


async def test_get_configuration_beyond_max_keys_is_refused_whole(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office) as rig:
        limit = rig.station.config.get_int("GetConfigurationMaxKeys")
        keys = [f"NoSuchKey{i}" for i in range(limit)] + ["HeartbeatInterval"]
        assert await office.error_code("GetConfiguration", {"key": keys}) == "OccurenceConstraintViolation"
        # at the limit: every key answered, known or unknown
        res = await office.result("GetConfiguration", {"key": keys[1:]})
        assert [e["key"] for e in res["configurationKey"]] == ["HeartbeatInterval"]
        assert res["unknownKey"] == keys[1:-1]


async def test_key_names_are_case_insensitive(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office) as rig:
        res = await office.result("ChangeConfiguration", {"key": "heartbeatinterval", "value": "120"})
        assert res == {"status": "Accepted"}
        assert rig.station.config.get("HeartbeatInterval") == "120"
        res = await office.result("GetConfiguration", {"key": ["HEARTBEATINTERVAL"]})
        assert res["configurationKey"][0]["value"] == "120" and "unknownKey" not in res


async def test_local_list_version_after_an_empty_full_update(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office, config={"LocalAuthListEnabled": "true"}):
        full = {"listVersion": 5, "updateType": "Full", "localAuthorizationList": []}
        assert (await office.result("SendLocalList", full))["status"] == "Accepted"
        version = (await office.result("GetLocalListVersion", {}))["listVersion"]
        assert version == 0  # empty list
        diff = {"listVersion": version + 1, "updateType": "Differential",
                "localAuthorizationList": [{"idTag": "D1", "idTagInfo": {"status": "Accepted"}}]}
        assert (await office.result("SendLocalList", diff))["status"] == "Accepted"  # above what was reported
        assert (await office.result("GetLocalListVersion", {}))["listVersion"] == version + 1
