"""A RebootRequired connection key takes effect after the reboot, as answered (issue 9 item 15); a SecurityProfile
change applies the pending ones together with it (TC_083); an AuthorizationKey change does not. The rule is the
table `controller.ocpp.conn_keys.WHEN`; here it is checked against the key table and on the wire."""

from __future__ import annotations

import base64
from pathlib import Path

from controller.config.keys import KEYS
from controller.ocpp import conn_settings
from controller.ocpp.conn_keys import WHEN, Applies
from tests.hostile.office import HostileOffice
from tests.hostile.support import station_at

KEY = "00112233445566778899AABBCCDDEEFF"


def test_the_table_covers_every_connection_key_and_agrees_with_the_reboot_flags() -> None:
    assert set(WHEN) == set(conn_settings.KEYS)
    reboot = {k.name for k in KEYS if k.reboot_required}
    for name, when in WHEN.items():
        assert (when is Applies.AFTER_REBOOT) == (name in reboot), name


async def change(office: HostileOffice, key: str, value: str) -> str:
    return str((await office.result("ChangeConfiguration", {"key": key, "value": value}))["status"])


async def test_a_reboot_required_path_waits_for_the_reboot(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office) as rig:
        assert office.requests[-1][0] == "/CP1"
        assert await change(office, "BackOffice-Path-wired", "/ocpp16") == "RebootRequired"
        assert rig.station.connection_config.pending() == {"BackOffice-Path-wired": "/ocpp16"}
        await office.drop()  # a dropped connection is not a reboot
        await office.wait(lambda: rig.station.link.online and office.connections == 2, 15, "reconnected")
        assert [p for p, _ in office.requests] == ["/CP1", "/CP1"]
        office.assert_one_call_outstanding()
    async with station_at(tmp_path, office) as rig:  # the reboot: the same state directory
        assert office.requests[-1][0] == "/ocpp16/CP1"
        assert rig.station.connection_config.pending() == {}


async def test_an_authorization_key_change_leaves_the_pending_path_pending(tmp_path: Path, office: HostileOffice) -> None:
    async with station_at(tmp_path, office, config={"AuthorizationKey": KEY, "SecurityProfile": "1"}) as rig:
        assert office.requests[-1] == ("/CP1", basic(KEY))
        assert await change(office, "BackOffice-Path-wired", "/later") == "RebootRequired"
        new_key = "FFEEDDCCBBAA99887766554433221100"
        assert await change(office, "AuthorizationKey", new_key) == "Accepted"  # reconnects at once
        await office.wait(lambda: len(office.requests) == 2 and rig.station.link.online, 15, "reconnected")
        assert office.requests[-1] == ("/CP1", basic(new_key))
        assert rig.station.connection_config.pending() == {"BackOffice-Path-wired": "/later"}


async def test_a_security_profile_change_applies_the_pending_connection_keys_with_it(
    tmp_path: Path, office: HostileOffice
) -> None:
    async with station_at(tmp_path, office, config={"AuthorizationKey": KEY}) as rig:
        assert office.requests[-1] == ("/CP1", None)  # profile 0: no Basic auth
        assert await change(office, "BackOffice-Path-wired", "/secure") == "RebootRequired"
        assert await change(office, "BackOffice-Path-wired2", "/fallback") == "RebootRequired"
        assert len(rig.station.connection_config.pending()) == 2
        assert await change(office, "SecurityProfile", "1") == "Accepted"
        await office.wait(lambda: len(office.requests) == 2 and rig.station.link.online, 15, "reconnected")
        assert office.requests[-1] == ("/secure/CP1", basic(KEY))
        assert rig.station.connection_config.pending() == {}
        office.assert_one_call_outstanding()


def basic(key: str, cp: str = "CP1") -> str:
    return "Basic " + base64.b64encode(f"{cp}:{key}".encode()).decode()
