"""MQTT commands as setpoints (pure): what is accepted, what is refused and why, validity and safe current."""

from __future__ import annotations

import json
import math

import pytest

from controller.mqtt.commands import RemoteCommands

VALIDITY_S = 60.0
SAFE_A = 8.0


def make() -> RemoteCommands:
    return RemoteCommands({1: 32.0, 2: 16.0}, lambda: VALIDITY_S, lambda: SAFE_A)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [("33", "outside 0..32"), ("-1", "outside"), ("5.9", "below 6"), ("nan", "not a finite"), ("inf", "not a finite"),
     ("ten", "not a number"), ("", "not a number"), ("1e400", "not a finite")],
)
def test_out_of_range_max_current_is_refused_not_clamped(payload: str, reason: str) -> None:
    c = make()
    v = c.command(1, "max_current", payload, now=0.0)
    assert not v.accepted and reason in v.reason
    assert json.loads(v.as_json())["result"] == "refused"
    assert c.cap(1, 0.0) == math.inf  # nothing changed


def test_accepted_values_and_the_socket_rating() -> None:
    c = make()
    assert c.command(1, "max_current", "32", now=0.0).accepted
    assert c.cap(1, 0.0) == 32.0
    assert not c.command(2, "max_current", "20", now=0.0).accepted  # socket 2 is rated 16 A
    assert c.command(2, "max_current", " 0 ", now=0.0).accepted  # 0 pauses
    assert c.cap(2, 0.0) == 0.0
    assert not c.command(3, "max_current", "10", now=0.0).accepted  # no such socket
    assert not c.command(1, "bogus", "10", now=0.0).accepted


def test_a_retained_command_is_stale_and_refused() -> None:
    c = make()
    v = c.command(1, "max_current", "10", now=0.0, retained=True)
    assert not v.accepted and "retained" in v.reason
    assert c.cap(1, 0.0) == math.inf


def test_a_setpoint_counts_for_the_validity_time_then_safe_current() -> None:
    c = make()
    c.command(1, "max_current", "20", now=100.0)
    assert c.next_expiry(100.0) == 160.0
    assert c.cap(1, 159.9) == 20.0 and c.in_force(1, 159.9) == 20.0
    assert c.cap(1, 160.0) == SAFE_A  # a master that stopped writing
    assert c.cap(1, 10_000.0) == SAFE_A
    assert c.next_expiry(160.0) is None
    c.command(1, "max_current", "12", now=200.0)  # a new command counts again
    assert c.cap(1, 200.0) == 12.0


def test_pause_and_resume() -> None:
    c = make()
    c.command(1, "max_current", "20", now=0.0)
    assert c.command(1, "charging", "OFF", now=10.0).accepted
    assert c.cap(1, 10.0) == 0.0 and c.paused(1, 10.0)
    assert c.command(1, "charging", "on", now=20.0).accepted
    assert c.cap(1, 20.0) == 20.0 and not c.paused(1, 20.0)
    c.command(1, "charging", "OFF", now=30.0)
    assert c.cap(1, 89.0) == 0.0
    assert c.cap(1, 90.0) == SAFE_A and not c.paused(1, 90.0)  # an unrefreshed pause ends on the safe current
    assert not c.command(1, "charging", "maybe", now=91.0).accepted
