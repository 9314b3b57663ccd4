"""The relay of signed meter values into the durable journal, key by key (SignedDataEnabled,
SignedStartStopMeterValue, SignedMeterValueUpdates, PublicKey-EnergyMeter1/2): the real session manager,
journal, configuration registry and simulated meter on the fake clock; every relayed record is checked by the
independent verifier (pyocmf)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.metering.signed import SignedMeterValues, signed_meter_values
from controller.transactions.journal import Journal
from controller.transactions.sessions import SessionManager
from tests.ocmf.verify import pair_is_valid, parse, signed_values, tampered, verifies

UID = "04A1B2C3"


async def _accept(tag: str) -> str:
    return "Accepted"


@dataclass
class Bench:
    state: Path
    clock: FakeClock
    config: ConfigRegistry
    journal: Journal
    sessions: SessionManager
    signed: SignedMeterValues
    energy: list[float]
    trace: list[str] = field(default_factory=list)

    def charge(self, wh: float, seconds: float = 600) -> None:
        self.energy[0] += wh
        self.clock.jump(seconds)

    def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        return [(item.action, item.payload) for item in self.journal.pending()]

    def key(self) -> str:
        return self.config.get("PublicKey-EnergyMeter1")


def bench(state: Path, section: dict[str, Any] | None = None, energy: list[float] | None = None,
          clock: FakeClock | None = None) -> Bench:
    clock = clock or FakeClock()
    config = ConfigRegistry(ConfigStore(state / "config.json"), board_defaults={})
    journal = Journal(state / "journal.sqlite", 4096)
    meter_energy = energy if energy is not None else [1000.0]
    trace: list[str] = []
    sessions = SessionManager([1], journal, clock, config, _accept, lambda cid: meter_energy[0], lambda: None)
    signed = signed_meter_values(
        {"driver": "sim"} if section is None else section, [1], state, "CP-OCMF", lambda cid: meter_energy[0],
        lambda cid: sessions.sessions[cid].local_tx, config, clock, journal, lambda: None, trace.append,
    )
    sessions.on_started, sessions.before_stop = signed.begin, signed.end
    return Bench(state, clock, config, journal, sessions, signed, meter_energy, trace)


@pytest.fixture
def b(tmp_path: Path) -> Iterator[Bench]:
    out = bench(tmp_path)
    yield out
    out.journal.close()


def run_transaction(b: Bench, wh: float = 7250.0) -> None:
    assert b.sessions.authorize_on(1, UID)
    b.sessions.on_cp_state(1, "C")
    assert b.sessions.sessions[1].in_transaction
    b.charge(wh)
    b.sessions.stop(1, "Local", UID)


def stop_data(b: Bench) -> list[dict[str, Any]]:
    (stop,) = [p for a, p in b.outbox() if a == "StopTransaction"]
    return list(stop.get("transactionData", []))


def test_off_by_default_nothing_is_signed(b: Bench) -> None:
    run_transaction(b)
    assert "SignedData" not in json.dumps(b.outbox())
    assert not (b.state / "eichrecht-meter-1.pg").exists()  # the meter was not even asked


def test_signed_data_enabled_puts_begin_and_end_into_the_stop_transaction(b: Bench) -> None:
    assert b.config.set("SignedDataEnabled", "true") == "Accepted"
    run_transaction(b, 7250.0)
    begin, end = signed_values(stop_data(b))
    assert (begin["context"], end["context"]) == ("Transaction.Begin", "Transaction.End")
    assert begin["measurand"] == "Energy.Active.Import.Register" and begin["format"] == "SignedData"
    assert verifies(begin["value"], b.key()) and verifies(end["value"], b.key())
    assert pair_is_valid(begin["value"], end["value"])
    assert float(parse(end["value"]).payload.RD[0].RV or 0) == pytest.approx(8.25)
    assert parse(begin["value"]).payload.ID == UID
    assert not verifies(tampered(end["value"]), b.key())
    assert "SignedData" not in json.dumps([p for a, p in b.outbox() if a == "MeterValues"])  # no extra messages


def test_signed_start_stop_meter_value_sends_each_in_a_meter_values_of_its_own(b: Bench) -> None:
    b.config.set("SignedDataEnabled", "true")
    assert b.config.set("SignedStartStopMeterValue", "true") == "Accepted"
    run_transaction(b)
    actions = [a for a, _ in b.outbox()]
    assert actions == ["StartTransaction", "MeterValues", "MeterValues", "StopTransaction"]
    mv_begin, mv_end = (signed_values(p["meterValue"]) for a, p in b.outbox() if a == "MeterValues")
    assert [v["context"] for v in mv_begin + mv_end] == ["Transaction.Begin", "Transaction.End"]
    assert pair_is_valid(mv_begin[0]["value"], mv_end[0]["value"])
    assert all(verifies(v["value"], b.key()) for v in mv_begin + mv_end + signed_values(stop_data(b)))


def test_start_stop_and_updates_need_signed_data_enabled(b: Bench) -> None:
    b.config.set("SignedStartStopMeterValue", "true")
    b.config.set("SignedMeterValueUpdates", "true")
    assert b.sessions.authorize_on(1, UID)
    b.sessions.on_cp_state(1, "C")
    assert b.signed.update(1) == []
    b.sessions.stop(1, "Local", UID)
    assert "SignedData" not in json.dumps(b.outbox())


def test_signed_meter_value_updates_sign_each_periodic_value(b: Bench) -> None:
    b.config.set("SignedDataEnabled", "true")
    assert b.signed.update(1) == []  # no transaction
    assert b.sessions.authorize_on(1, UID)
    b.sessions.on_cp_state(1, "C")
    assert b.signed.update(1) == []  # SignedMeterValueUpdates is off
    b.config.set("SignedMeterValueUpdates", "true")
    b.charge(500.0)
    (value,) = b.signed.update(1)
    assert value["context"] == "Sample.Periodic" and verifies(value["value"], b.key())
    assert str(parse(value["value"]).payload.RD[0].TX) == "T"


def test_public_keys_are_reported_and_read_only(b: Bench) -> None:
    key = b.key()
    assert len(key) == 182 and key.startswith("3059301306072A8648CE3D0201")  # DER SPKI, id-ecPublicKey
    assert b.config.get("PublicKey-EnergyMeter2") == ""  # this board has one connector
    assert b.config.set("PublicKey-EnergyMeter1", "00") == "Rejected"
    entries, _ = b.config.get_configuration(["PublicKey-EnergyMeter1"])
    assert entries == [{"key": "PublicKey-EnergyMeter1", "readonly": True, "value": key}]


def test_without_a_signing_meter_the_keys_cannot_be_switched_on(tmp_path: Path) -> None:
    b = bench(tmp_path, section={})
    for name in ("SignedDataEnabled", "SignedMeterValueUpdates", "SignedStartStopMeterValue"):
        assert b.config.set(name, "true") == "Rejected"
        assert b.config.set(name, "false") == "Accepted"
    assert b.key() == ""
    b.journal.close()


def test_a_meter_that_fails_costs_the_signed_value_not_the_transaction(b: Bench) -> None:
    b.config.set("SignedDataEnabled", "true")
    assert b.sessions.authorize_on(1, UID)
    b.sessions.on_cp_state(1, "C")
    b.signed.meters[1].offline = True  # type: ignore[attr-defined]
    b.sessions.stop(1, "Local", UID)
    (begin,) = signed_values(stop_data(b))  # the begin that was signed; no end
    assert begin["context"] == "Transaction.Begin"
    assert any("no signed Transaction.End value" in line for line in b.trace)


def test_the_signed_begin_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    energy = [2000.0]
    first = bench(tmp_path, energy=energy, clock=clock)
    first.config.set("SignedDataEnabled", "true")
    assert first.sessions.authorize_on(1, UID)
    first.sessions.on_cp_state(1, "C")
    key = first.key()
    first.journal.close()  # the controller goes down mid-transaction
    energy[0] += 3000.0
    clock.jump(900)
    again = bench(tmp_path, energy=energy, clock=clock)
    assert again.sessions.sessions[1].in_transaction and again.key() == key
    again.sessions.stop(1, "Local", UID)
    begin, end = signed_values(stop_data(again))
    assert pair_is_valid(begin["value"], end["value"])
    assert verifies(begin["value"], key) and verifies(end["value"], key)
    again.journal.close()


def test_signed_meter_values_are_never_shed_by_the_outbox_cap(b: Bench) -> None:
    b.config.set("SignedDataEnabled", "true")
    b.config.set("SignedStartStopMeterValue", "true")
    assert b.sessions.authorize_on(1, UID)
    b.sessions.on_cp_state(1, "C")
    sampled = [{"value": "1", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register"}] * 4
    local = b.sessions.sessions[1].local_tx
    assert local is not None
    for _ in range(60):  # far more periodic values than the 4 KiB cap holds
        b.journal.add_meter_values(local, 1, [{"timestamp": "2026-01-01T12:00:00Z", "sampledValue": sampled}])
    assert b.journal.dropped_meter_values() > 0
    kept = [p for a, p in b.outbox() if a == "MeterValues" and signed_values(p["meterValue"])]
    assert len(kept) == 1 and verifies(signed_values(kept[0]["meterValue"])[0]["value"], b.key())


def test_a_faulty_meter_reports_no_key_and_the_transaction_goes_on(tmp_path: Path) -> None:
    bench(tmp_path).journal.close()  # the meter made its key
    (tmp_path / "eichrecht-meter-1.pem").write_text("not a key")
    b = bench(tmp_path)
    assert b.key() == ""
    b.config.set("SignedDataEnabled", "true")
    run_transaction(b)
    assert [a for a, _ in b.outbox()] == ["StartTransaction", "StopTransaction"]
    assert signed_values(stop_data(b)) == []
    assert sum("the Eichrecht meter failed" in line for line in b.trace) == 2  # begin and end
    b.journal.close()


def test_a_driver_bug_costs_the_signed_value_not_the_stop(b: Bench) -> None:
    class Buggy:
        def public_key(self) -> str:
            return "00"

        def signed_reading(self, reason: str, who: object) -> str:
            raise ZeroDivisionError("driver bug")

    b.signed.meters[1] = Buggy()
    b.config.set("SignedDataEnabled", "true")
    run_transaction(b)
    assert [a for a, _ in b.outbox()] == ["StartTransaction", "StopTransaction"]
    assert any("driver failed" in line for line in b.trace)
