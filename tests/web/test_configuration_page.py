"""The configuration page: every key but the write-only ones, grouped by the key document's categories; writes
answered exactly as ChangeConfiguration is (Accepted, RebootRequired, Rejected, NotSupported), traced, with
their follow-up effects run."""

from __future__ import annotations

from controller.config.keys import KEYS, Access
from controller.redact import MASK
from tests.web.conftest import PASSWORD, Web


async def test_every_readable_key_is_listed_by_category_and_no_write_only_one(web: Web) -> None:
    await web.login()
    groups = (await (await web.client.get("/api/config")).json())["groups"]
    listed = [k["name"] for g in groups for k in g["keys"]]
    assert listed == [s.name for s in KEYS if s.access is not Access.W]
    categories = [g["category"] for g in groups]
    assert categories == list(dict.fromkeys(s.category for s in KEYS if s.access is not Access.W))
    body = await (await web.client.get("/api/config")).text()
    for spec in KEYS:
        if spec.access is Access.W:
            assert f'"{spec.name}"' not in body, spec.name
    by_name = {k["name"]: k for g in groups for k in g["keys"]}
    light = by_name["LightIntensity"]
    assert (light["access"], light["value"], light["default"]) == ("RW", "100", "100")
    assert light["range"].startswith("int 0..100")
    assert by_name["HeartbeatInterval"]["aliases"] == ["HeartBeatInterval"]
    assert any(k["hardware_note"] for k in by_name.values())  # absent hardware is said


async def test_a_write_goes_the_change_configuration_way(web: Web) -> None:
    csrf = await web.login()

    async def write(key: str, value: str) -> str:
        r = await web.write(key, value, csrf)
        assert r.status == 200
        return str((await r.json())["status"])

    assert await write("LightIntensity", "50") == "Accepted"
    assert web.registry.get("LightIntensity") == "50"
    assert await write("LightIntensity", "101") == "Rejected"  # out of range, as over OCPP
    assert await write("NumberOfConnectors", "2") == "Rejected"  # read-only
    assert web.registry.get("NumberOfConnectors") == "1"
    assert await write("NoSuchKey", "1") == "NotSupported"
    assert await write("Identity", "NEW-ID") == "RebootRequired"
    assert web.writer.after == ["LightIntensity", "Identity"]  # follow-ups only for what was applied
    lines = [line for line in web.trace if "ChangeConfiguration" in line]
    assert "LightIntensity='50' -> Accepted" in lines[0] and "installer at 127.0.0.1" in lines[0]
    assert lines[2].endswith("NumberOfConnectors='2' -> Rejected")


async def test_a_secret_written_from_the_page_never_reaches_the_trace(web: Web) -> None:
    csrf = await web.login()
    r = await web.write("AuthorizationKey", "00112233445566778899aabbccddeeff", csrf)
    assert (await r.json())["status"] == "Accepted"
    assert not any("00112233445566778899aabbccddeeff" in line for line in web.trace)
    assert any(f"AuthorizationKey={MASK!r}" in line for line in web.trace)


async def test_bad_bodies_are_refused(web: Web) -> None:
    csrf = await web.login()
    headers = {"X-CSRF-Token": csrf}
    r = await web.client.post("/api/config", data=b"not json", headers=headers)
    assert r.status == 400
    r = await web.client.post("/api/config", json={"key": "LightIntensity", "value": 5}, headers=headers)
    assert r.status == 400
    r = await web.client.post("/api/config", json=["LightIntensity"], headers=headers)
    assert r.status == 400
    assert web.registry.get("LightIntensity") == "100"


async def test_the_service_password_is_changed_from_the_page_as_over_ocpp(web: Web) -> None:
    csrf = await web.login()
    r = await web.write("PW-SetChargerPassword", "wrong-existing,New-Password-2", csrf)
    assert (await r.json())["status"] == "Rejected"
    r = await web.write("PW-SetChargerPassword", f"{PASSWORD},New-Password-2", csrf)
    assert (await r.json())["status"] == "Accepted"
    assert "New-Password-2" not in web.registry.stored("PW-SetChargerPassword")  # a salted hash
    assert not any("New-Password-2" in line or PASSWORD in line for line in web.trace)
    assert (await web.client.post("/api/login", json={"password": PASSWORD})).status == 401
    assert (await web.client.post("/api/login", json={"password": "New-Password-2"})).status == 200
