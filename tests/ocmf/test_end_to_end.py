"""Signed meter values end to end: the controller as a real process on the simulated board (with its
simulated Eichrecht meter) against the strict, independent back office (ocpp-rpc in strict schema mode).
Every OCMF record in the frames the back office received is verified by the independent verifier (pyocmf)
with the public key the back office read with GetConfiguration; a changed value fails; the keys switch it
on and off; and no frame breaks the OCPP schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hil.rig import VirtualRig
from hil.scenarios import until
from tests.interop.strict import StrictBackOffice, strict_session, unavailable_reason
from tests.ocmf.verify import pair_is_valid, parse, signed_values, tampered, verifies

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))

UID = "04A1B2C3"


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[tuple[StrictBackOffice, VirtualRig]]:
    async with strict_session(tmp_path / "state", "OCMF1") as session:
        yield session


def frames_signed(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every signed sampledValue in the MeterValues and StopTransaction frames the back office received."""
    out: list[dict[str, Any]] = []
    for m in frames:
        if m.get("dir") != "in":
            continue
        if m["action"] == "MeterValues":
            out += signed_values(m["params"]["meterValue"])
        elif m["action"] == "StopTransaction":
            out += signed_values(m["params"].get("transactionData", []))
    return out


async def one_transaction(bo: StrictBackOffice, rig: VirtualRig, periodic: bool) -> tuple[int, dict[str, Any]]:
    """Plug, present the card, (wait for a signed periodic value), present it again, unplug. Returns the index of
    the first frame of the transaction and its StopTransaction frame."""
    first = len(bo.lines)
    assert (await rig.command("plug", connector=1, ev={"max_current": 16}))["ok"]
    assert (await rig.command("tag", uid=UID))["ok"]
    await bo.wait_in("StartTransaction", 10, after=first)
    await bo.wait_in("StatusNotification", 10, lambda p: p["status"] == "Charging", after=first)
    if periodic:
        await bo.wait_in("MeterValues", 10, lambda p: any(
            sv["context"] == "Sample.Periodic" for sv in signed_values(p["meterValue"])), after=first)
    assert (await rig.command("tag", uid=UID))["ok"]
    stop = await bo.wait_in("StopTransaction", 10, after=first)
    await until(rig, lambda c: c["contactor"] == "open", 8, "contactor open")
    assert (await rig.command("unplug", connector=1))["ok"]
    await bo.wait_in("StatusNotification", 10, lambda p: p["status"] == "Available", after=bo.lines.index(stop))
    return first, stop


async def test_every_relayed_ocmf_record_verifies(strict: tuple[StrictBackOffice, VirtualRig]) -> None:
    bo, rig = strict
    await bo.wait_in("StatusNotification", 15, lambda p: p["connectorId"] == 1 and p["status"] == "Available")
    conf = await bo.call("GetConfiguration", {"key": ["PublicKey-EnergyMeter1", "SignedDataEnabled"]})
    values = {e["key"]: e for e in conf["configurationKey"]}
    key = values["PublicKey-EnergyMeter1"]["value"]
    assert values["PublicKey-EnergyMeter1"]["readonly"] and len(key) == 182
    assert values["SignedDataEnabled"]["value"] == "false"
    assert (await bo.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "2"}))["status"] == "Accepted"

    # off (the default): no signed value in any frame
    first, stop = await one_transaction(bo, rig, periodic=False)
    assert frames_signed(bo.lines[first:bo.lines.index(stop) + 1]) == []

    # on: begin and end in their own MeterValues and in the StopTransaction, and every periodic value signed
    for name in ("SignedDataEnabled", "SignedStartStopMeterValue", "SignedMeterValueUpdates"):
        assert (await bo.call("ChangeConfiguration", {"key": name, "value": "true"}))["status"] == "Accepted"
    first, stop = await one_transaction(bo, rig, periodic=True)
    await bo.wait_in("MeterValues", 10, lambda p: any(
        sv["context"] == "Transaction.End" for sv in signed_values(p["meterValue"])), after=first)
    relayed = frames_signed(bo.lines[first:])
    contexts = [sv["context"] for sv in relayed]
    assert contexts.count("Transaction.Begin") == 2 and contexts.count("Transaction.End") == 2  # MeterValues + Stop
    assert "Sample.Periodic" in contexts
    for sv in relayed:
        assert verifies(sv["value"], key), sv["value"]
        assert not verifies(tampered(sv["value"]), key)
    in_stop = signed_values(stop["params"]["transactionData"])
    begin, end = (sv["value"] for sv in in_stop if sv["context"] in ("Transaction.Begin", "Transaction.End"))
    assert pair_is_valid(begin, end)
    assert parse(begin).payload.ID == UID and parse(begin).payload.GI == "OCMF1"
    signed_stop_wh = float(parse(end).payload.RD[0].RV or 0) * 1000
    assert signed_stop_wh == pytest.approx(stop["params"]["meterStop"], abs=1)  # the register the station reports


async def test_the_signed_begin_outlives_a_controller_restart(tmp_path: Path) -> None:
    """The controller goes down mid-transaction (Power Outage Recovery: Resume) and comes back: the
    StopTransaction carries the begin signed before the restart and the end signed after it, both verified."""
    bo = StrictBackOffice()
    await bo.start()
    state = tmp_path / "state"
    rig = VirtualRig(bo.url, identity="OCMF2", state_dir=state)
    try:
        await rig.start()
        await bo.wait_in("StatusNotification", 15, lambda p: p["status"] == "Available")
        for name, value in (("SignedDataEnabled", "true"), ("Power Outage Recovery", "Resume")):
            assert (await bo.call("ChangeConfiguration", {"key": name, "value": value}))["status"] == "Accepted"
        conf = await bo.call("GetConfiguration", {"key": ["PublicKey-EnergyMeter1"]})
        key = conf["configurationKey"][0]["value"]
        assert (await rig.command("plug", connector=1, ev={"max_current": 16}))["ok"]
        assert (await rig.command("tag", uid=UID))["ok"]
        await bo.wait_in("StatusNotification", 10, lambda p: p["status"] == "Charging")
        await rig.close()  # the controller goes down (its signed begin is only in its journal)
        rig = VirtualRig(bo.url, identity="OCMF2", state_dir=state)
        mark = len(bo.lines)
        await rig.start()
        resumed = await bo.wait_in("BootNotification", 20, after=mark)
        assert (await rig.command("tag", uid=UID))["ok"]  # the same card again: the resumed transaction stops
        stop = await bo.wait_in("StopTransaction", 15, after=bo.lines.index(resumed))
        begin, end = (sv["value"] for sv in signed_values(stop["params"]["transactionData"]))
        assert verifies(begin, key) and verifies(end, key) and pair_is_valid(begin, end)
        assert bo.violations() == []
    finally:
        await rig.close()
        await bo.stop()
