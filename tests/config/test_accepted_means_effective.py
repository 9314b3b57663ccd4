"""Accepted means effective: every writable key, at its boundary values, is either Rejected where it comes in
or applied by its owner. Written to a real station on the simulated board (the real registry, the real
control process behind the channel): what GetConfiguration then returns is what was written (normalised), and
the control loop never reports (`log`) that it refused a value the registry accepted."""

from __future__ import annotations

import math
from pathlib import Path

from controller.config.keys import KEYS, PASSWORD_KEYS, Access, KeySpec, KeyType
from controller.station.keys import loop_keys
from tests.conftest import start_rig, stop_rig, until

# values that change who we are or how we connect would take the station off its back office mid-test;
# they are covered by the link tests (tests/link)
CONNECTION_KEYS = {"SecurityProfile", "AuthorizationKey", "Identity", "BackOffice-URL-wired", "BackOffice-Path-wired",
                   "BackOffice-Path-wired2"}


def _fmt(x: float, spec: KeySpec) -> str:
    return str(int(x)) if spec.type is KeyType.INT else repr(float(x))


def boundary_values(spec: KeySpec) -> tuple[list[str], list[str], list[str]]:
    """(values the registry must accept, values it must refuse, probes) at the edges of the key's declared range;
    a probe may be refused, but if it is accepted it must be applied."""
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
    elif spec.default:  # an empty default of a text key means "not set yet", not a value one may write
        ok = [spec.default]
    return ok, bad, probes


def effective(spec: KeySpec, written: str, got: str) -> bool:
    if spec.type is KeyType.BOOL:
        return got == written.lower()
    if spec.type in (KeyType.INT, KeyType.FLOAT) and written not in spec.special_values:
        return math.isclose(float(got), float(written))
    if spec.type is KeyType.ENUM:
        return got.lower() == written.lower()
    return got == written


WRITABLE = [k for k in KEYS if k.access is not Access.R and k.name not in PASSWORD_KEYS and k.name not in CONNECTION_KEYS]


async def test_every_writable_key_is_rejected_or_applied(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path, board="sim-double")
    config = rig.station.config
    loop = set(loop_keys(config))
    failures: list[str] = []
    try:
        for spec in WRITABLE:
            ok, bad, probes = boundary_values(spec)
            for value in bad:
                if config.set(spec.name, value) not in ("Rejected",):
                    failures.append(f"{spec.name}={value!r} accepted, outside what the key allows")
            for value in ok + probes:
                status = config.set(spec.name, value)
                if status not in ("Accepted", "RebootRequired"):
                    if value not in probes:
                        failures.append(f"{spec.name}={value!r}: {status} (documented as allowed)")
                    continue
                if spec.access is Access.W:
                    continue  # write-only: nothing to read back
                (entry,), _ = config.get_configuration([spec.name])
                if not effective(spec, value, entry.get("value", "")):
                    failures.append(f"{spec.name}={value!r} accepted, GetConfiguration says {entry.get('value')!r}")
            if spec.name in loop:
                config.set_internal(spec.name, spec.default)  # leave the loop as it was for the next key
        # the loop has every value it was sent once it answers a command sent after them (one ordered channel)
        await rig.cmd("contactor_log", connector=1)
        await until(lambda: True, 1, "")
        refused = list(rig.station.control_events.loop_log)
        assert failures + refused == [], "\n".join(failures + refused)
    finally:
        await stop_rig(rig)
