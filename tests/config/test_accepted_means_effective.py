"""Accepted means effective, from the back office's side: every writable key, at its boundary values, is written
with ChangeConfiguration over a real websocket (the project's back office, `controller.backoffice`) to one
station on the simulated board (the real registry and owners, the real control process behind the channel).

- A value outside what the key allows is Rejected where it comes in.
- A value inside is Accepted (RebootRequired for the keys that apply after a reboot), and GetConfiguration, over
  the same websocket, then returns it (normalised); the control loop never reports (`Log`) that it refused a
  value the registry accepted (its log reaches `ControlEvents.loop_log`, and any line fails the test).
- Keys that cut the connection are checked for what they do: the back office URL/path and the identity answer
  RebootRequired and keep today's connection; AuthorizationKey, AuthorizationKeyFormat and SecurityProfile
  reconnect at once with the new credentials (the back office then demands that HTTP Basic password).
- Write-only passwords are never read back: their effect is checked (the registry takes the new password, a
  PW-SetChargerPassword change must name the current one) and no answer shows them.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from controller.config.keys import KEYS, PASSWORD_KEYS, Access, KeySpec, KeyType
from controller.ocpp.conn_settings import SECURITY_KEYS
from tests.conftest import Rig, start_rig, stop_rig, until

# Text keys whose shape a pattern decides: (values it must accept, values it must refuse)
PATTERN_VALUES: dict[str, tuple[list[str], list[str]]] = {
    "Phase-Connected": (["L1L2L3", "L3L2L1", "L2"], ["L1L1", "L4", ""]),
    "BackOffice-Path-APN": (["", "/" + "p" * 62], ["no-slash", "/" + "p" * 63]),
    "BackOffice-Path-APN2": (["", "/" + "p" * 62], ["no-slash", "/" + "p" * 63]),
    "BackOffice-Path-wired": (["/ocpp/" + "p" * 57], ["no-slash", "/" + "p" * 63]),
    "BackOffice-Path-wired2": (["", "/" + "p" * 62], ["no-slash", "/" + "p" * 63]),
    "ProxyAddressAndPort": (["", "proxy.example:3128", "[::1]:8080"], ["proxy.example", "x" * 60 + ":3128"]),
    "Pricing-Currency": (["USD", "EUR"], ["usd", "EURO"]),
    "ForceFirmwareRollback": (["4.6.0-3142"], ["4.6.0", "latest"]),
}
URL_VALUES = (["ws://backoffice.example:9090", "wss://backoffice.example/ocpp"],
              ["http://backoffice.example", "ws://" + "b" * 60])
IP_VALUES = (["10.0.0.1", "255.255.255.255"], ["256.0.0.1", "1.2.3", "host.example"])

# Walked apart, in the order their prerequisites need (see test_connection_keys_reconnect_with_what_they_say)
CREDENTIAL_KEYS = set(SECURITY_KEYS)
# Keys that say where and as whom the station connects: applied after a reboot, today's connection stays
REBOOT_CONNECTION_KEYS = {"Identity", "BackOffice-URL-wired", "BackOffice-Path-wired", "BackOffice-Path-wired2",
                          "ProxyAddressAndPort", "ProxyUsername", "ProxyPassword"}


def _fmt(x: float, spec: KeySpec) -> str:
    return str(int(x)) if spec.type is KeyType.INT else repr(float(x))


def boundary_values(spec: KeySpec) -> tuple[list[str], list[str], list[str]]:
    """(values the key must accept, values it must refuse, probes) at the edges of what the key declares; a probe
    may be refused, but if it is accepted it must be applied."""
    ok: list[str] = []
    bad: list[str] = []
    probes: list[str] = []
    if spec.type is KeyType.BOOL:
        ok = ["true", "false", "TRUE"]
        bad = ["yes", ""]
    elif spec.type in (KeyType.INT, KeyType.FLOAT):
        step = 1 if spec.type is KeyType.INT else 0.1
        if spec.minimum is not None:
            ok.append(_fmt(spec.minimum, spec))
            if _fmt(spec.minimum - step, spec) not in spec.special_values:
                bad.append(_fmt(spec.minimum - step, spec))
        if spec.maximum is not None:
            ok.append(_fmt(spec.maximum, spec))
            if _fmt(spec.maximum + step, spec) not in spec.special_values:
                bad.append(_fmt(spec.maximum + step, spec))
        ok += list(spec.special_values)
        ok.append(spec.default)
        bad.append("not a number")
        probes = [_fmt(x, spec) for x in (-1e6, -1, 0, 1e6)]
    elif spec.type is KeyType.ENUM:
        ok = list(spec.options)
        bad = ["no such option"]
    elif spec.type is KeyType.CSL:
        n = spec.max_items or len(spec.options)
        ok = [spec.options[0], ",".join(spec.options[:n])]
        bad = ["NoSuchMeasurand"] + ([",".join(spec.options[: n + 1])] if len(spec.options) > n else [])
    elif spec.type is KeyType.URL:
        ok, bad = list(URL_VALUES[0]), list(URL_VALUES[1])
    elif spec.type is KeyType.IP:
        ok, bad = list(IP_VALUES[0]), list(IP_VALUES[1])
    elif spec.name in PATTERN_VALUES:
        ok, bad = (list(v) for v in PATTERN_VALUES[spec.name])
    elif spec.max_length is not None:
        ok, bad = ["", "k" * spec.max_length], ["k" * (spec.max_length + 1)]
    else:
        ok = ["a value", "x" * 200]
    return ok, bad, probes


def effective(spec: KeySpec, written: str, got: str) -> bool:
    if spec.type is KeyType.BOOL:
        return got == written.lower()
    if spec.type in (KeyType.INT, KeyType.FLOAT) and written not in spec.special_values:
        return math.isclose(float(got), float(written))
    if spec.type is KeyType.ENUM:
        return got.lower() == written.lower()
    return got == written


WRITABLE = [k for k in KEYS if k.access is not Access.R]
WALKED = [k for k in WRITABLE if k.name not in PASSWORD_KEYS and k.name not in CREDENTIAL_KEYS]


def test_every_writable_key_has_values_to_walk() -> None:
    """Nothing is skipped: every writable key is walked here, or by the credential or password tests below."""
    assert {k.name for k in WRITABLE} == {k.name for k in WALKED} | CREDENTIAL_KEYS | PASSWORD_KEYS
    assert [k.name for k in WALKED if not boundary_values(k)[0]] == []
    assert REBOOT_CONNECTION_KEYS <= {k.name for k in WALKED if k.reboot_required}


class Office:
    """The back office's side of one station: ChangeConfiguration and GetConfiguration over the websocket, and
    every websocket upgrade the station asked for (with its Authorization header)."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.upgrades: list[str | None] = []
        rig.bo.request_hook = lambda connection, request: self.upgrades.append(request.headers.get("Authorization"))

    async def change(self, key: str, value: str) -> str:
        return str((await self.rig.bo.call(self.rig.identity, call.ChangeConfiguration(key=key, value=value))).status)

    async def get(self, key: str) -> dict[str, Any]:
        res = await self.rig.bo.call(self.rig.identity, call.GetConfiguration(key=[key]))
        assert not res.unknown_key, res
        (entry,) = res.configuration_key
        return dict(entry)

    async def reconnected(self, before: int) -> None:
        """The station connected again (once) and its boot is accepted on the new connection."""
        link = self.rig.station.link
        await until(lambda: len(self.upgrades) > before and link.online and self.rig.bo.connected(self.rig.identity),
                    10, "reconnected")
        assert len(self.upgrades) == before + 1, self.upgrades[before:]


async def loop_barrier(rig: Rig) -> None:
    """Everything sent to the control process before now has been handled, and what it said back has arrived:
    a stall of 0 s goes down the same ordered channel; its reply leaves with the next tick's messages, and a
    second one can only be answered after that tick."""
    for _ in range(2):
        assert (await rig.station.control.sim("stall", {"seconds": 0, "busy": False}))["ok"]


async def test_every_writable_key_is_rejected_or_applied(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path, board="sim-double")
    office = Office(rig)
    config = rig.station.config
    failures: list[str] = []
    try:
        for spec in WALKED:
            original = config.stored(spec.name)
            ok, bad, probes = boundary_values(spec)
            accepted = "RebootRequired" if spec.reboot_required else "Accepted"
            for value in bad:
                if (status := await office.change(spec.name, value)) != "Rejected":
                    failures.append(f"{spec.name}={value!r}: {status}, outside what the key allows")
            for value in ok + probes:
                status = await office.change(spec.name, value)
                if status != accepted:
                    if value not in probes or status != "Rejected":
                        failures.append(f"{spec.name}={value!r}: {status} (allowed: {accepted} expected)")
                    continue
                entry = await office.get(spec.name)
                if spec.access is Access.W:
                    if value and value in repr(entry):
                        failures.append(f"{spec.name} is write-only, GetConfiguration shows it: {entry}")
                elif not effective(spec, value, entry.get("value", "")):
                    failures.append(f"{spec.name}={value!r} {status}, GetConfiguration says {entry.get('value')!r}")
            if config.check(spec, original) is None:  # (an empty write-only action is no value to go back to)
                config.set_internal(spec.name, original)  # the next key starts from the station as it was
        await loop_barrier(rig)
        refused = [f"the control loop refused: {line}" for line in rig.station.control_events.loop_log]
        assert failures + refused == [], "\n".join(failures + refused)
        # nothing walked here cut the connection: the URL, path, identity and proxy keys wait for the reboot
        assert office.upgrades == [], office.upgrades
    finally:
        await stop_rig(rig)


async def test_a_value_the_loop_refuses_would_fail_the_walk(tmp_path: Path) -> None:
    """The walk's check has teeth: a value the control loop refuses (sent past the registry) reaches loop_log."""
    rig = await start_rig(tmp_path)
    try:
        rig.station.control.send_config({"TemperatureHigh": "hot"})
        await loop_barrier(rig)
        assert any("TemperatureHigh" in line for line in rig.station.control_events.loop_log)
    finally:
        await stop_rig(rig)


def _basic(identity: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


async def test_connection_keys_reconnect_with_what_they_say(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path)
    office = Office(rig)
    cp = rig.identity
    key16 = b"0123456789abcdef".hex()  # 16 bytes, as hex text (the shortest key)
    key20 = b"ABCDEFGHIJKLMNOPQRST".hex()  # 20 bytes (the longest)
    try:
        # SecurityProfile: only raised, and only with its prerequisites; outside 0..3 never
        for value in ("-1", "4", "x", "0", "1", "2", "3"):  # 0: not a raise; 1: no AuthorizationKey; 2, 3: no root
            assert await office.change("SecurityProfile", value) == "Rejected", value
        # AuthorizationKey: 16..20 bytes of hex; write-only
        for value in (key16[:-2], key20 + "00", "zz" * 16, ""):
            assert await office.change("AuthorizationKey", value) == "Rejected", value
        assert await office.change("AuthorizationKeyFormat", "NoSuchFormat") == "Rejected"
        assert office.upgrades == []  # nothing refused touched the connection
        for key in (key16, key20):  # profile 0 sends no credentials: the key waits for profile 1 (no reconnect)
            assert await office.change("AuthorizationKey", key) == "Accepted"
            assert key not in repr(await office.get("AuthorizationKey"))  # never read back
        assert await office.change("AuthorizationKeyFormat", "HexText") == "Accepted"
        assert office.upgrades == []
        # profile 1: the back office now demands the key as the HTTP Basic password; the reconnect must carry it
        rig.bo.basic_auth[cp] = key20
        n = len(office.upgrades)
        assert await office.change("SecurityProfile", "1") == "Accepted"
        await office.reconnected(n)
        assert office.upgrades[-1] == _basic(cp, key20)
        assert (await office.get("SecurityProfile"))["value"] == "1"
        assert await office.change("SecurityProfile", "0") == "Rejected"  # never lowered
        # AuthorizationKeyFormat: DecodedBytes sends the 20 bytes themselves (HexText sent the hex text above)
        rig.bo.basic_auth[cp] = "ABCDEFGHIJKLMNOPQRST"
        n = len(office.upgrades)
        assert await office.change("AuthorizationKeyFormat", "DecodedBytes") == "Accepted"
        await office.reconnected(n)
        assert office.upgrades[-1] == _basic(cp, "ABCDEFGHIJKLMNOPQRST")
        assert (await office.get("AuthorizationKeyFormat"))["value"] == "DecodedBytes"
        # a new key at profile 1: the back office learns it first, the station reconnects with it
        rig.bo.basic_auth[cp] = "0123456789abcdef"
        n = len(office.upgrades)
        assert await office.change("AuthorizationKey", key16) == "Accepted"
        await office.reconnected(n)
        assert office.upgrades[-1] == _basic(cp, "0123456789abcdef")
    finally:
        await stop_rig(rig)


async def test_passwords_take_effect_and_are_never_read_back(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path)
    office = Office(rig)
    config = rig.station.config
    first, second = "first-pass1", "second-pass22"
    try:
        for value in ("short", "x" * 41, "has,a,comma1", 'quote"inside1'):
            assert await office.change("PW-SetTempAccessKey", value) == "Rejected", value
        for value in ("0123456789", "y" * 40):  # 10 and 40 characters
            assert await office.change("PW-SetTempAccessKey", value) == "Accepted", value
            assert config.check_password("PW-SetTempAccessKey", value)
            assert value not in repr(await office.get("PW-SetTempAccessKey"))
        # PW-SetChargerPassword is '{existing},{new}': the existing one must match (none set yet: empty)
        for value in ("no-comma-at-all", ",short", "wrong-existing," + first, f",{first},x"):
            assert await office.change("PW-SetChargerPassword", value) == "Rejected", value
        assert await office.change("PW-SetChargerPassword", "," + first) == "Accepted"
        assert config.check_password("PW-SetChargerPassword", first)
        assert await office.change("PW-SetChargerPassword", "," + second) == "Rejected"  # it is set now
        assert await office.change("PW-SetChargerPassword", f"{first},{second}") == "Accepted"
        assert config.check_password("PW-SetChargerPassword", second)
        assert not config.check_password("PW-SetChargerPassword", first)
        entry = await office.get("PW-SetChargerPassword")
        assert first not in repr(entry) and second not in repr(entry)
        assert not any(first in line or second in line for line in rig.trace)
    finally:
        await stop_rig(rig)
