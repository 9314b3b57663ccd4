"""More services built directly with fakes of the ports they name: smart charging, reservations, security
events, diagnostics, firmware, the control events and the Core requests."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.auth.reservations import Reservations
from controller.auth.store import AuthStore
from controller.clock import FakeClock
from controller.evse.protocol import (
    PROTOCOL_VERSION,
    ControlDied,
    Hello,
    Log,
    MeterValues,
    Sample,
    State,
    StationSample,
    StationState,
    Stats,
)
from controller.ocpp.diagnostics import ArchiveSources, Diagnostics, build_archive
from controller.ocpp.firmware import Firmware
from controller.ocpp.security import Security
from controller.ocpp.smartcharging import SmartCharging
from controller.station.changes import Changes
from controller.station.control import ControlEvents
from controller.station.sockets import Sockets
from controller.timefmt import format_time
from tests.station.test_parts import FakeControl, FakeLink, registry, sessions


@dataclass
class Bus:
    limits: int = 0
    status: int = 0

    def limits_changed(self) -> None:
        self.limits += 1

    def status_changed(self) -> None:
        self.status += 1


class NoJournal:
    def transaction(self, local_id: int) -> None:
        return None


PROFILE = {
    "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-01-01T00:00:00Z",
                         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}]},
}


def test_smart_charging_caps_and_tells_the_bus(tmp_path: Path) -> None:
    bus = Bus()
    smart = SmartCharging(tmp_path, registry(tmp_path), FakeClock(), {1: 3}, sessions(1), NoJournal(),
                          lambda cid: 32.0, bus, lambda line: None)
    assert smart.set_profile(1, PROFILE) == "Accepted" and bus.limits == 1
    assert smart.caps()[1] == {1: 8.0}
    assert smart.set_profile(2, PROFILE) == "Rejected"  # no such connector
    assert smart.clear(profile_id=1) == "Accepted" and bus.limits == 2


class Parents:
    def parent_of(self, id_tag: str) -> str | None:
        return "GROUP" if id_tag.startswith("G") else None


async def test_reservations_keep_a_connector_and_expire_on_the_injected_clock(tmp_path: Path) -> None:
    clock, bus, store = FakeClock(), Bus(), AuthStore(tmp_path / "auth.sqlite")
    try:
        r = Reservations(store, Parents(), registry(tmp_path), clock, Sockets([1], lambda: 0.0), sessions(1),
                         lambda cid: "Available", bus, lambda line: None)
        expiry = format_time(clock.now().timestamp() + 60)
        assert r.reserve(7, 1, expiry, "G1", "GROUP") == "Accepted" and bus.limits == 1
        assert not r.may_use(1, "OTHER") and r.may_use(1, "G2")  # same parentIdTag
        assert r.consume_for(1, "G2") == 7 and r.items == {}
        assert r.reserve(8, 1, format_time(clock.now().timestamp() - 1), "G1", None) == "Rejected"  # expired
    finally:
        store.close()


async def test_security_events_wait_for_the_link(tmp_path: Path) -> None:
    link = FakeLink(online=False)
    sec = Security(tmp_path, registry(tmp_path), FakeClock(), link, lambda: "CP9", lambda line: None)
    sec.event("StartupOfTheDevice")
    await sec.flush()
    assert sec.pending == 1 and link.calls == []
    link.online = True
    await sec.flush()
    assert sec.pending == 0 and [c.type for c in link.calls] == ["StartupOfTheDevice"]
    assert sec.events[0]["timestamp"] == "2026-01-01T12:00:00Z"


class Journal:
    def pending_count(self) -> int:
        return 2

    def active_transactions(self) -> list[Any]:
        return []


def test_the_archive_holds_what_its_sources_give(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("a log line\n")
    src = ArchiveSources(tmp_path, lambda: [(0.0, "old"), (100.0, "new")], lambda: [{"key": "K", "value": "V"}],
                         Journal(), lambda: {"online": True}, lambda: [{"type": "E"}])
    with tarfile.open(fileobj=io.BytesIO(build_archive(src, 50.0, None)), mode="r:gz") as tar:
        names = set(tar.getnames())
        trace = tar.extractfile("trace.log").read().decode()  # type: ignore[union-attr]
    assert names == {"trace.log", "logs/x.log", "config.json", "journal-summary.json", "status.json",
                     "security-events.json"}
    assert "new" in trace and "old" not in trace
    diag = Diagnostics(FakeClock(), FakeLink(), lambda: "CP9", src, lambda line: None)
    assert diag.get_diagnostics("ftp://h/", None, None, None, None) == "diagnostics-CP9-20260101T120000Z.tar.gz"
    assert diag.busy  # accepted; the upload starts in the handler's @after hook (start_accepted)


@dataclass
class NoSigning:
    events: list[str] = field(default_factory=list)

    def event(self, kind: str, tech_info: str | None = None) -> None:
        self.events.append(kind)

    def signing_certificate_ok(self, pem: str) -> Any:
        self.event("InvalidFirmwareSigningCertificate", "unknown signer")  # what the security service does
        return None

    def firmware_signature_ok(self, cert: Any, signature_b64: str, image: Path) -> bool:
        return False


async def test_a_signed_update_with_an_unknown_certificate_is_refused(tmp_path: Path) -> None:
    security = NoSigning()

    async def restart(kind: str) -> None:
        raise AssertionError("no reboot")

    fw = Firmware(tmp_path, FakeClock(), FakeLink(), security, sessions(1), restart, {}, lambda line: None)
    status = fw.signed_update(1, {"location": "http://h/f", "retrieve_date_time": "2026-01-01T00:00:00Z",
                                  "signing_certificate": "junk", "signature": ""}, None, None)
    assert status == "InvalidCertificate" and security.events == ["InvalidFirmwareSigningCertificate"]
    assert not fw.busy


class Notifier:
    def __init__(self) -> None:
        self.restarts = 0
        self.ticks: list[int] = []

    def control_ticks(self, ticks: int) -> None:
        self.ticks.append(ticks)

    def control_restarted(self) -> None:
        self.restarts += 1


class Suspend:
    def __init__(self) -> None:
        self.inputs: list[Any] = []
        self.samples = 0

    def note_suspend_input(self, closed: Any) -> None:
        self.inputs.append(closed)

    def note_samples(self) -> None:
        self.samples += 1


class PlugSessions:
    """What the control events tell the sessions."""

    def __init__(self) -> None:
        self.sessions = sessions(1).sessions
        self.states: list[tuple[int, str]] = []
        self.authorized: list[tuple[int, str]] = []

    def on_cp_state(self, cid: int, state: str) -> None:
        self.states.append((cid, state))

    def authorize_on(self, cid: int, id_tag: str) -> bool:
        self.authorized.append((cid, id_tag))
        return True


def test_control_events_update_the_mirror_and_tell_who_reacts(tmp_path: Path) -> None:
    sockets, s, control, bus, notifier, suspend = Sockets([1], lambda: 5.0), PlugSessions(), FakeControl(), Bus(), Notifier(), Suspend()
    published: list[int] = []
    traced: list[str] = []
    events = ControlEvents(sockets, s, lambda: control, suspend, None, notifier, tmp_path, False,  # type: ignore[arg-type]
                           lambda: {"TemperatureHigh": "70.0"}, lambda: "PNC", lambda: None,
                           lambda: published.append(1), bus, traced.append)
    events.on_message(State(1, "B", "B1", "high", None, 0.0, "open"))
    assert s.states == [(1, "B")] and s.authorized == [(1, "PNC")] and bus.limits == 1
    events.on_message(StationSample(temperature_c=31.0, suspend_input=True))
    assert sockets.temperature_c == 31.0 and suspend.inputs == [True] and bus.status == 0  # not a socket sample
    events.on_message(Log("warning", "control loop ignored config X='1'"))
    assert events.loop_log == ["control loop ignored config X='1'"]
    events.on_message(Hello(PROTOCOL_VERSION, 1234, (1,)))
    assert control.config == [{"TemperatureHigh": "70.0"}] and published == [1]
    events.on_message(ControlDied(-9))
    assert events.deaths == 1 and notifier.restarts == 1
    events.on_message(Stats(ticks=7, overruns=0, max_tick_ms=1.0, channel_errors=0, watchdog_trips=0))
    assert notifier.ticks == [7]
    events.on_message(Sample(1, MeterValues((6.0, 6.0, 6.0), (230.0, 230.0, 230.0), 4140.0, 12.5, 50.0)))
    assert sockets[1].currents == [6.0, 6.0, 6.0] and sockets[1].energy_wh == 12.5 and bus.status == 1
    assert suspend.samples == 1
    events.on_message(StationState(("tilt",)))
    assert list(sockets.station_faults) == ["tilt"] and bus.limits == 2
    events.on_message(State(9, "B", "B1", "high", None, 0.0, "open"))  # a socket this station does not have
    assert bus.limits == 2


def test_changes_fan_out_in_order() -> None:
    bus, seen = Changes(), []
    bus.on_status(lambda: seen.append("leds"))
    bus.status_changed()
    assert seen == ["leds"]
