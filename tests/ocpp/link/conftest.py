"""Fast reconnects for the link and scenario tests: the real backoff (1 s doubling to 60 s) would make
back-office outages take minutes of real time; the backoff rule itself is tested on a fake clock."""

from __future__ import annotations

import pytest

import controller.ocpp.conn_settings as conn_settings


@pytest.fixture(autouse=True)
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conn_settings, "BACKOFF_INITIAL_S", 0.1)
    monkeypatch.setattr(conn_settings, "BACKOFF_MAX_S", 0.4)
