"""The station's parts and the services, each constructed directly with fakes of exactly the ports it names
(no Station, no processes): the seams are real seams."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.auth.authorizer import Authorizer
from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.evse.protocol import State
from controller.ocpp.availability import Availability
from controller.ocpp.status import Status
from controller.ocpp.trigger import Triggers
from controller.ports import NotConnected
from controller.station.changes import Changes
from controller.station.lifecycle import Lifecycle
from controller.station.limits import LimitArbiter
from controller.station.sockets import Sockets
from controller.station.status import StationStatus
from controller.transactions.sessions import Session


@dataclass
class FakeControl:
    restarts: int = 0
    limits: list[dict[int, dict[str, Any]]] = field(default_factory=list)
    config: list[dict[str, Any]] = field(default_factory=list)

    def set_limits(self, connectors: dict[int, dict[str, Any]]) -> None:
        self.limits.append(connectors)

    def send_config(self, values: dict[str, Any]) -> None:
        self.config.append(values)

    def clear_faults(self) -> None:
        pass

    def sim_nowait(self, cmd: str, args: dict[str, Any]) -> None:
        pass

    async def sim(self, cmd: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        return {}


@dataclass
class FakeSessions:
    sessions: dict[int, Session]
    stopped: list[tuple[int, str | None]] = field(default_factory=list)

    def authorized(self, cid: int) -> bool:
        return self.sessions[cid].in_transaction

    def remote_id(self, s: Session) -> int | None:
        return 100 + s.connector_id if s.in_transaction else None

    def stop(self, cid: int, reason: str | None) -> None:
        self.stopped.append((cid, reason))
        self.sessions[cid].local_tx = None


@dataclass
class FakeLink:
    online: bool = False
    accepted: bool = True
    calls: list[Any] = field(default_factory=list)

    async def call(self, request: Any) -> Any:
        if not self.online:
            raise NotConnected("offline")
        self.calls.append(request)
        return None

    def trigger_boot(self) -> None:
        pass


class Caps:
    def __init__(self, station: float, per: dict[int, float]) -> None:
        self.value = (station, per)

    def caps(self) -> tuple[float, dict[int, float]]:
        return self.value


class Allocation:
    external_suspend = False

    def offers(
        self, socket_max: dict[int, float], active: set[int], station_cap: float | None = None,
        held: set[int] | frozenset[int] = frozenset(),
    ) -> dict[int, float]:
        cap = math.inf if station_cap is None else station_cap
        self.held = set(held)
        return {cid: min(a, cap) for cid, a in socket_max.items()}

    def phases_for(self, cid: int) -> int:
        return 0  # no phase relay


def registry(tmp_path: Path) -> ConfigRegistry:
    return ConfigRegistry(ConfigStore(tmp_path / "config.json"))


def sessions(*cids: int) -> FakeSessions:
    return FakeSessions({cid: Session(cid) for cid in cids})


def test_limits_take_the_least_of_socket_board_schedules_and_availability(tmp_path: Path) -> None:
    config, control, sockets, s = registry(tmp_path), FakeControl(), Sockets([1, 2], lambda: 0.0), sessions(1, 2)
    config.set("Connector1-MaxCurrent", "20")
    s.sessions[1].local_tx = 7
    s.sessions[2].local_tx = 8
    sockets.set_unavailable(2, True)
    allocation = Allocation()
    arbiter = LimitArbiter({1: 32.0, 2: 16.0}, config, sockets, control, s, lambda: Caps(math.inf, {1: 10.0}),
                           allocation)
    arbiter.publish()
    assert allocation.held == {2}  # held by the station: its share goes to socket 1
    assert control.limits[-1] == {
        1: {"max_current": 10.0, "authorized": True, "suspended": False, "phases": 0},  # the schedule's 10 A
        2: {"max_current": 16.0, "authorized": False, "suspended": False, "phases": 0},  # unavailable: not authorised
    }
    assert arbiter.commanded == control.limits[-1] and arbiter.socket_max(1) == 20.0


def test_the_change_bus_publishes_limits_before_the_status() -> None:
    bus, seen = Changes(), []
    bus.on_limits(lambda: seen.append("limits"))
    bus.on_status(lambda: seen.append("status"))
    bus.limits_changed()
    bus.status_changed()
    assert seen == ["limits", "status", "status"]


class Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, bool]] = []

    def update(self, cid: int, st: Status, force: bool = False) -> None:
        self.sent.append((cid, st.status, force))


class NotReserved:
    def shows_reserved(self, cid: int) -> bool:
        return False


class Operative:
    station_unavailable = False


def state(cid: int, cp_state: str, contactor: str = "open", offered_a: float = 0.0, locked: bool = False) -> State:
    """A socket's `State` as the control loop sends it."""
    return State(cid, cp_state, f"{cp_state}1", "high", None, offered_a, contactor, locked=locked)


def test_status_is_reported_once_per_change_and_again_when_forced() -> None:
    sockets, sink, traced = Sockets([1], lambda: 0.0), Sink(), []
    status = StationStatus(sockets, sessions(1), lambda: {}, NotReserved(), Operative(), sink, traced.append)
    status.report_all()
    status.report_all()
    assert sink.sent == [(0, "Available", False), (1, "Available", False)]
    sockets.on_state(state(1, "B"))
    status.report(1)
    status.report(1, force=True)
    assert sink.sent[2:] == [(1, "Preparing", False), (1, "Preparing", True)]
    assert traced == ["connector 0: Available", "connector 1: Available", "connector 1: Preparing"]


def test_the_commanded_offer_decides_suspended_evse_not_the_loops_old_report() -> None:
    sockets, s = Sockets([1], lambda: 0.0), sessions(1)
    s.sessions[1].local_tx = 1
    sockets.on_state(state(1, "C"))
    commanded = {1: {"max_current": 16.0, "authorized": True, "suspended": False}}
    status = StationStatus(sockets, s, lambda: commanded, NotReserved(), Operative(), Sink(), lambda line: None)
    assert status.derive(1).status == "Charging"


async def test_unlock_waits_on_the_injected_clock_and_fails_when_the_lock_stays_shut(tmp_path: Path) -> None:
    clock, sockets, s, published = FakeClock(), Sockets([1], lambda: 0.0), sessions(1), []
    s.sessions[1].local_tx = 3
    sockets.on_state(state(1, "C", "closed", locked=True))

    class NoEvents:
        pending = 0

        def event(self, kind: str, tech_info: str | None = None) -> None:
            pass

    async def stop_station() -> None:
        pass

    life = Lifecycle(clock, registry(tmp_path), None, s, sockets, FakeLink(), NoEvents, lambda: None,  # type: ignore[arg-type]
                     lambda: published.append(1), stop_station, lambda cid: True, [], lambda line: None)
    task = asyncio.ensure_future(life.unlock(1))
    await asyncio.sleep(0)  # it starts: the transaction stops, the limits go out, the wait begins
    await clock.advance(1.0)
    assert not task.done() and s.stopped == [(1, "UnlockCommand")] and published == [1]
    await clock.advance(7.5)  # 8 s: the lock never reported open
    assert await task == "UnlockFailed"
    task = asyncio.ensure_future(life.unlock(1))
    await asyncio.sleep(0)
    sockets.on_state(state(1, "B"))
    await clock.advance(0.1)
    assert await task == "Unlocked"
    assert await life.unlock(9) == "NotSupported"


def test_inoperative_while_charging_is_scheduled_until_the_transaction_ends(tmp_path: Path) -> None:
    sockets, s, bus, traced = Sockets([1, 2], lambda: 0.0), sessions(1, 2), Changes(), []
    s.sessions[1].local_tx = 5
    av = Availability(tmp_path, [1, 2], sockets, s, bus, traced.append)
    assert av.change(1, "Inoperative") == "Scheduled" and not sockets[1].unavailable
    assert av.change(2, "Inoperative") == "Accepted" and sockets[2].unavailable
    av.on_transaction_end(1)
    assert sockets[1].unavailable
    again = Availability(tmp_path, [1, 2], Sockets([1, 2], lambda: 0.0), sessions(1, 2), bus, traced.append)
    assert again.apply() == [] and again.wanted == {1: "Inoperative", 2: "Inoperative"}  # persisted


def test_triggers_refuse_unknown_connectors_and_messages(tmp_path: Path) -> None:
    class FakeSigning:
        problem: str | None = None

        def sign_problem(self) -> str | None:
            return self.problem

        async def sign_certificate(self) -> None:
            pass

    signing = FakeSigning()
    t = Triggers(Sockets([1], lambda: 0.0), registry(tmp_path), FakeClock(), FakeLink(), sessions(1),  # type: ignore[arg-type]
                 None, lambda: None, None, None, signing)  # type: ignore[arg-type]
    assert t.trigger_status("Heartbeat", None) == "Accepted"
    assert t.trigger_status("StatusNotification", 2) == "Rejected"
    assert t.trigger_status("SignChargePointCertificate", None) == "NotImplemented"
    assert t.trigger_status("SignChargePointCertificate", None, extended=True) == "Accepted"
    signing.problem = "no CpoName"
    assert t.trigger_status("SignChargePointCertificate", None, extended=True) == "Rejected"


@pytest.mark.parametrize(("offline_rule", "expected"), [("true", "Accepted"), ("false", "Invalid")])
async def test_the_authoriser_decides_offline_when_the_link_is_down(
    tmp_path: Path, offline_rule: str, expected: str
) -> None:
    config = registry(tmp_path)
    config.set("AllowOfflineTxForUnknownId", offline_rule)
    auth = Authorizer(tmp_path, config, FakeClock(), FakeLink(online=False), sessions(1), Sockets([1], lambda: 0.0),
                      lambda: None, Changes(), lambda line: None)
    try:
        assert await auth.authorize("UNKNOWN") == expected
    finally:
        auth.close()
