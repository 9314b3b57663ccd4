"""Fast reconnects for the security scenarios (the real backoff, 1 s doubling to 60 s, is tested on a fake
clock in tests/ocpp/link); a throw-away PKI per test."""

from __future__ import annotations

from pathlib import Path

import pytest

import controller.ocpp.conn_settings as conn_settings
from tests.security.pki import Pki


@pytest.fixture(autouse=True)
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conn_settings, "BACKOFF_INITIAL_S", 0.1)
    monkeypatch.setattr(conn_settings, "BACKOFF_MAX_S", 0.4)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")
