"""The durable journal on its own: order, placeholder mapping, drops, Power Outage Recovery, the status queue,
and that what was committed survives reopening (a power cut)."""

from __future__ import annotations

from pathlib import Path

from controller.timefmt import format_time, parse_time_or_none
from controller.transactions.journal import Journal

T0 = parse_time_or_none("2026-01-01T12:00:00Z") or 0.0


def _start(j: Journal, cid: int = 1, tag: str = "TAG", meter: int = 100, at: float = T0) -> int:
    return j.start_transaction(cid, tag, meter, format_time(at))


def test_messages_leave_in_order_with_the_mapped_transaction_id(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    local = _start(j)
    j.add_meter_values(local, 1, [{"timestamp": format_time(T0 + 60), "sampledValue": [{"value": "150"}]}], energy_wh=150)
    j.stop_transaction(local, 200, format_time(T0 + 120), "Local", "TAG")
    actions = [i.action for i in j.pending()]
    assert actions == ["StartTransaction", "MeterValues", "StopTransaction"]
    start = j.next_pending()
    assert start is not None and j.resolve(start) == {
        "connectorId": 1, "idTag": "TAG", "meterStart": 100, "timestamp": format_time(T0),
    }
    j.ack(start, {"transactionId": 42, "idTagInfo": {"status": "Accepted"}})
    mv = j.next_pending()
    assert mv is not None and mv.action == "MeterValues"
    assert j.resolve(mv)["transactionId"] == 42  # type: ignore[index]
    j.ack(mv, {})
    stop = j.next_pending()
    assert stop is not None and j.resolve(stop)["transactionId"] == 42  # type: ignore[index]
    j.ack(stop, {})
    assert j.next_pending() is None
    rec = j.transaction(local)
    assert rec is not None and (rec.remote_id, rec.state, rec.meter_stop) == (42, "done", 200)


def test_committed_messages_survive_reopening(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    local = _start(j)
    j.stop_transaction(local, 300, format_time(T0 + 10), "EVDisconnected")
    del j  # no close: like a power cut right after the commit
    j2 = Journal(tmp_path / "j.sqlite")
    assert [i.action for i in j2.pending()] == ["StartTransaction", "StopTransaction"]
    assert j2.last_seq() == 2 and j2.head_seq() == 1


def test_a_second_stop_is_never_journalled(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    local = _start(j)
    j.stop_transaction(local, 300, format_time(T0 + 10), "Local")
    j.stop_transaction(local, 310, format_time(T0 + 11), "PowerLoss")
    assert [i.action for i in j.pending()] == ["StartTransaction", "StopTransaction"]


def test_a_dropped_start_drops_the_rest_of_its_transaction(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    local = _start(j)
    j.add_meter_values(local, 1, [{"timestamp": format_time(T0 + 1), "sampledValue": [{"value": "1"}]}])
    start = j.next_pending()
    assert start is not None
    j.drop(start)
    mv = j.next_pending()
    assert mv is not None and j.resolve(mv) is None  # no transactionId: cannot be sent


def test_power_loss_stop_uses_last_alive_and_last_meter(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    local = _start(j, meter=1000)
    j.touch_alive(T0 + 50, {local: 1500.4})
    j.touch_alive(T0 + 60, {local: 1400})  # a meter never goes back: keep the highest
    d = j.recover_after_outage("Idle", 0, T0 + 3600)
    assert d.stopped == [local] and d.resumed == [] and d.outage_s == 3540
    stop = j.pending()[-1]
    assert stop.action == "StopTransaction"
    assert stop.payload["reason"] == "PowerLoss"
    assert stop.payload["meterStop"] == 1500
    assert stop.payload["timestamp"] == format_time(T0 + 60)


def test_resume_within_the_allowed_outage_only(tmp_path: Path) -> None:
    j = Journal(tmp_path / "a.sqlite")
    local = _start(j)
    j.touch_alive(T0 + 10)
    assert j.recover_after_outage("Resume", 120, T0 + 100).resumed == [local]
    assert j.recover_after_outage("Resume", 0, T0 + 10**6).resumed == [local]  # 0: always resume
    d = j.recover_after_outage("Resume", 60, T0 + 100)  # 90 s > 60 s
    assert d.stopped == [local] and "longer" in d.reason
    assert j.active_transactions() == []


def test_status_queue_is_durable_and_ordered(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.push_status(1, "Preparing", "NoError", None, format_time(T0), 0)
    j.push_status(1, "Charging", "NoError", None, format_time(T0 + 5), 1)
    j2 = Journal(tmp_path / "j.sqlite")
    q = j2.queued_statuses()
    assert [(s.status, s.after_seq) for s in q] == [("Preparing", 0), ("Charging", 1)]
    j2.remove_status(q[0].seq)
    assert [s.status for s in j2.queued_statuses()] == ["Charging"]


def test_transaction_data_goes_with_the_stop(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    local = _start(j)
    j.add_transaction_data(local, {"timestamp": format_time(T0), "sampledValue": [{"value": "100", "context": "Transaction.Begin"}]})
    j.stop_transaction(local, 250, format_time(T0 + 30), "Local")
    data = j.pending()[-1].payload["transactionData"]
    assert [mv["sampledValue"][0]["context"] for mv in data] == ["Transaction.Begin", "Transaction.End"]
    assert data[-1]["sampledValue"][0]["value"] == "250"


def test_old_done_transactions_are_pruned(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import controller.transactions.journal as jm

    monkeypatch.setattr(jm, "KEEP_DONE_TRANSACTIONS", 3)
    j = Journal(tmp_path / "j.sqlite")
    for n in range(6):
        local = _start(j, meter=n)
        j.stop_transaction(local, n + 1, format_time(T0 + n), "Local")
        while (item := j.next_pending()) is not None:
            j.ack(item, {"transactionId": 100 + n})
    assert len(j.transactions()) == 3
