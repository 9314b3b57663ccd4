"""What is published per socket (pure): absurd readings are left out, never published as numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.mqtt.report import socket_values
from controller.mqtt.topics import Topics


@dataclass
class View:
    cp_state: str = "C"
    offered_a: float = 16.0
    meter: dict[str, Any] | None = field(default_factory=lambda: {"power_w": 11040.0})
    currents: list[float] = field(default_factory=lambda: [16.0, 16.04, 15.96])
    energy_wh: float = 12345.6


@dataclass
class Session:
    in_transaction: bool = True
    meter_start_wh: int = 10000


def test_a_charging_socket() -> None:
    got = socket_values(View(), "Charging", Session(), 16.0, False)  # type: ignore[arg-type]
    assert got == {"iec_state": "C", "ocpp_status": "Charging", "offered_current": "16.0", "max_current": "16.0",
                   "charging": "ON", "current_l1": "16.0", "current_l2": "16.0", "current_l3": "16.0",
                   "power": "11040", "total_energy": "12346", "session_energy": "2346"}


def test_absurd_and_missing_values_are_left_out() -> None:
    v = View(cp_state="?", offered_a=float("nan"), meter={"power_w": float("inf")}, currents=[1.0, float("nan")])
    got = socket_values(v, "Bogus", None, 32.0, True)  # type: ignore[arg-type]
    assert got == {"iec_state": "F", "max_current": "32.0", "charging": "OFF", "current_l1": "1.0",
                   "total_energy": "12346"}
    assert "offered_current" not in socket_values(View(meter=None, offered_a=float("nan")), "Available", None,
                                                  32.0, False)  # type: ignore[arg-type]


def test_session_energy_outside_a_session_is_zero() -> None:
    got = socket_values(View(), "Available", Session(in_transaction=False), 32.0, False)  # type: ignore[arg-type]
    assert got["session_energy"] == "0"


def test_command_topics_parse_back() -> None:
    t = Topics("chargepoint", "homeassistant", "CP1")
    assert t.parse_command(t.command(2, "max_current")) == (2, "max_current")
    for topic in ["chargepoint/CP1/socket/x/max_current/set", "chargepoint/CP1/socket/1/max_current",
                  "chargepoint/CP2/socket/1/max_current/set", "chargepoint/CP1/socket/1/a/b/set"]:
        assert t.parse_command(topic) is None
    assert Topics("", "homeassistant", "CP1").availability == "CP1/status"
