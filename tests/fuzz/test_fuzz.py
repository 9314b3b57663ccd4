"""A short, deterministic run of every fuzz target (the long one: `make fuzz SECONDS=N`)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.targets import TARGETS

SHORT = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_short(name: str) -> None:
    target, strategy = TARGETS[name]
    logging.disable(logging.CRITICAL)  # the targets provoke warnings by design
    try:
        given(strategy)(SHORT(target))()
    finally:
        logging.disable(logging.NOTSET)


def test_deeply_nested_ocpp_frame_is_dropped_not_raised() -> None:
    from tests.fuzz.targets import ocpp_frame

    ocpp_frame("[" * 100_000)  # raised RecursionError out of route_message (ending the receive loop) before


def test_sim_api_refuses_deeply_nested_json() -> None:
    from controller.simcontrol.server import SimControlServer
    from tests.fuzz.targets import _SimStation, run

    reply = run(SimControlServer(_SimStation()).handle_line(b"[" * 5000))  # RecursionError before (issue 11 #9)
    assert reply == {"ok": False, "error": "not JSON (nested too deeply)"}
