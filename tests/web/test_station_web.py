"""The web interface of a whole station (the composition root's): a key written from the page takes the path of
ChangeConfiguration, so a changed security key is reported to the back office as OCPP would report it."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from ocpp.v16 import call

from tests.conftest import start_rig, stop_rig, until

PASSWORD = "Installer-Pass1"


async def test_a_security_key_changed_on_the_page_is_reported_to_the_back_office(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path)
    try:
        await until(lambda: rig.station.web.port is not None, 10, "the web interface")
        res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key="PW-SetChargerPassword", value=f",{PASSWORD}"))
        assert res.status == "Accepted"
        before = len(rig.bo.records)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            base = rig.station.web.url
            async with http.post(base + "api/login", json={"password": PASSWORD}) as r:
                assert r.status == 200
                csrf = (await r.json())["csrf"]
            async with http.post(base + "api/config", json={"key": "AuthorizationKeyFormat", "value": "DecodedBytes"},
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert (await r.json())["status"] == "Accepted"
        event = await rig.bo.wait_for("SecurityEventNotification", rig.identity, after=before,
                                      predicate=lambda p: p["type"] == "ReconfigurationOfSecurityParameters")
        assert event.payload["techInfo"] == "AuthorizationKeyFormat"
        assert rig.station.config.get("AuthorizationKeyFormat") == "DecodedBytes"
        assert any("web (installer at 127.0.0.1): ChangeConfiguration AuthorizationKeyFormat" in line for line in rig.trace)
    finally:
        await stop_rig(rig)
