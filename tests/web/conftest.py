"""A web interface on the injected fake clock, with a real registry, journal and socket mirror, behind
aiohttp's test client (a real HTTP server on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.evse.protocol import MeterValues, Sample, State
from controller.station.sockets import Sockets
from controller.transactions.journal import Journal
from controller.web.server import CSRF_HEADER, WebServer
from controller.web.settings import WebSettings
from controller.web.sources import WebParts

PASSWORD = "Installer-Pass1"


@dataclass
class RegistryWriter:
    """ChangeConfiguration as `station.requests.CoreRequests` does it: the registry answers; afterwards the
    follow-up effects (recorded here)."""

    registry: ConfigRegistry
    after: list[str] = field(default_factory=list)

    def change_configuration(self, key: str, value: str) -> str:
        return str(self.registry.set(key, value))

    async def after_configuration_change(self, key: str) -> None:
        self.after.append(key)


@dataclass
class Link:
    identity: str = "WEB-CP1"
    firmware_version: str = "9.8.7"


@dataclass
class Web:
    client: TestClient  # type: ignore[type-arg]
    server: WebServer
    parts: WebParts
    registry: ConfigRegistry
    writer: RegistryWriter
    clock: FakeClock
    sockets: Sockets
    journal: Journal
    trace: list[str]
    online: bool = True

    async def login(self, password: str = PASSWORD) -> str:
        """Log in; returns the CSRF token."""
        r = await self.client.post("/api/login", json={"password": password})
        assert r.status == 200, await r.text()
        return str((await r.json())["csrf"])

    async def write(self, key: str, value: str, csrf: str | None) -> Any:
        headers = {CSRF_HEADER: csrf} if csrf is not None else {}
        return await self.client.post("/api/config", json={"key": key, "value": value}, headers=headers)


def charging(*faults: str) -> State:
    """A one-phase socket charging at an offer of 16 A (the control loop's `State`)."""
    return State(1, "C", "C2", "pwm", 26.67, 16.0, "closed", faults)


def sample(l1_a: float, power_w: float, energy_wh: float) -> Sample:
    return Sample(1, MeterValues((l1_a, 0.0, 0.0), (230.0, 0.0, 0.0), power_w, energy_wh, 50.0))


def snapshot_of(sockets: Sockets, web: dict[str, Any]) -> dict[str, Any]:
    """The shape of `station.status.snapshot` for one charging socket."""
    v = sockets[1]
    return {
        "connectors": [{"id": 1, "cp_state": v.cp_state, "pwm_duty": v.pwm_duty, "offered_a": v.offered_a,
                        "contactor": v.contactor, "currents": v.currents, "energy_wh": v.energy_wh,
                        "ocpp_status": "Charging", "faults": v.faults, "transaction_id": 7, "id_tag": "04A2B3C4"}],
        "faults": sockets.station_faults,
        "online": web["online"],
        "control_restarts": 0,
        "energy": {"meter": {"house": [4.0, 2.5, 1.0]}},
    }


async def make_web(tmp_path: Path, status_public: bool) -> AsyncIterator[Web]:
    clock = FakeClock()
    registry = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    assert registry.set("PW-SetChargerPassword", f",{PASSWORD}") == "Accepted"  # as over OCPP: stored hashed
    sockets = Sockets([1], clock.monotonic)
    sockets.on_state(charging())
    sockets.on_sample(sample(15.9, 3657.0, 1500.0))
    journal = Journal(tmp_path / "journal.sqlite")
    state = {"online": True}
    trace: list[str] = []
    writer = RegistryWriter(registry)
    parts = WebParts(registry, writer, sockets, lambda: snapshot_of(sockets, state), journal, Link)
    server = WebServer(WebSettings("127.0.0.1", 0, status_public), parts, {1: 1}, clock, trace.append)
    client = TestClient(TestServer(server.app))
    await client.start_server()
    try:
        yield Web(client, server, parts, registry, writer, clock, sockets, journal, trace)
    finally:
        await client.close()
        journal.close()


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    """A station whose status page is public (like the simulated boards)."""
    async for w in make_web(tmp_path, status_public=True):
        yield w


@pytest.fixture
async def private_web(tmp_path: Path) -> AsyncIterator[Web]:
    """A station whose status page needs a login (the default of a real board)."""
    async for w in make_web(tmp_path, status_public=False):
        yield w
