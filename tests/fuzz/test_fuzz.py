"""A short, deterministic run of every fuzz target (the long one: `make fuzz SECONDS=N`)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.targets import TARGETS, sim_line

SHORT = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


def _sim_api_survives_deep_json() -> bool:
    try:
        sim_line(b"[" * 5000)
    except RecursionError:
        return False
    return True


# The sim control API's 1000-deep JSON defect (issue 11 defect 9) belongs to the issue 8 helper's branch; until
# that fix is merged this target fails on it, and says so here. Once merged, the condition is false and it runs.
SIM_DEFECT = pytest.mark.xfail(not _sim_api_survives_deep_json(), strict=True, raises=RecursionError,
                               reason="sim API: deep JSON raises RecursionError (issue 8 helper fixes it)")


@pytest.mark.parametrize("name", [pytest.param(n, marks=SIM_DEFECT) if n == "sim_line" else n for n in sorted(TARGETS)])
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
