"""Device I/O of the control process: read every power-path input into `LoopInputs`, write `outputs` to the
actuators. Shared by the process runner and the in-process test harness so both exercise the same code.

Every reading passes the HAL boundary's validation (`hal.validate`): a read that raises (any exception, not
only `DeviceError`) or returns an invalid value (NaN, inf, negative current, out of range, wrong type) is a
device fault, and becomes the input that stops charging (`FAIL_SAFE`, one row per device). Nothing unreadable
ever reads as healthy.

Writing opens contactors first, on every socket, before any other write (a phase relay moves after that, and
the loop moves it only while its socket's contacts read open); the residual current self-test the loop asks
for runs before a close in the same tick, and a failed test keeps that contactor open. A close is written only
while `may_close()` holds (the runner passes "the watchdog has not tripped"), checked right before
each close: a watchdog trip in the middle of a write is never followed by a stale close.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from controller.evse.connector import ConnectorInputs, ConnectorOutputs
from controller.evse.faults import Fault
from controller.evse.loop import LoopInputs, StationInputs
from hal import validate
from hal.interfaces import MeterReading, PilotOutput, PilotReading

NAN = math.nan
NAN_VECTOR = (NAN, NAN, NAN)

# What a device that cannot be read (or reads nonsense) counts as, and the fault it raises. The pilot reads as
# an impossible voltage (state E at once), the meter as missing (METER, then METER_LOST), the temperature as
# lost, the tilt as tilted, the PP as no valid cable, protective earth as missing, the suspend input as
# active; a mirror contact, the residual current monitor and the lock raise their own fault (each stops).
FAIL_SAFE: dict[str, tuple[Any, Fault | None]] = {
    "pilot": (PilotReading(NAN, None), None),
    "contactor_feedback": (None, Fault.CONTACTOR_FEEDBACK),
    "meter": (None, None),
    "rcd": (False, Fault.RCD_MONITOR),
    "lock_feedback": (None, Fault.LOCK),
    "phase_feedback": (0, Fault.PHASE_RELAY),  # 0: no position, never the relay's command
    "pp": (NAN, None),
    "temperature": (None, None),
    "tilt_deg": (NAN, None),
    "tilt_vector": (NAN_VECTOR, None),
    "pe": (False, None),
    "suspend": (True, None),
}


def _read(name: str, fn: Callable[[], Any], check: Callable[[Any], Any], faults: set[Fault]) -> Any:
    try:
        return check(fn())
    except Exception:  # noqa: BLE001 - any failure of a device read is a device fault, never a crash
        value, fault = FAIL_SAFE[name]
        if fault is not None:
            faults.add(fault)
        return value


def read_inputs(pp: Any, self_tests: dict[int, bool] | None = None) -> LoopInputs:
    """Read every input. `self_tests`: results of the self-tests run in the previous tick's write."""
    conns: dict[int, ConnectorInputs] = {}
    for cid, s in pp.sockets.items():
        faults: set[Fault] = set()
        meter: MeterReading | None = _read("meter", s.meter.read, validate.meter, faults)
        pilot = _read("pilot", s.pilot.read, validate.pilot, faults)
        fb = _read(
            "contactor_feedback",
            s.contactor.feedback_closed,
            lambda v: validate.optional_flag(v, "mirror contact"),
            faults,
        )
        rcd = _read("rcd", s.rcd.tripped, lambda v: validate.flag(v, "residual current monitor"), faults)
        lock_fb = _read("lock_feedback", s.lock.feedback_locked, lambda v: validate.optional_flag(v, "lock"), faults)
        pp_dev = getattr(s, "pp", None)
        pp_ohms = None if pp_dev is None else _read("pp", pp_dev.read_ohms, validate.pp_ohms, faults)
        relay = getattr(s, "phase_relay", None)
        phase_fb = None if relay is None else _read("phase_feedback", relay.feedback_phases, validate.phases, faults)
        conns[cid] = ConnectorInputs(
            pilot=pilot,
            contactor_feedback=fb,
            meter=meter,
            rcd_tripped=rcd,
            rcd_self_test=(self_tests or {}).get(cid),
            lock_feedback=lock_fb,
            pp_ohms=pp_ohms,
            phase_feedback=phase_fb,
            device_faults=frozenset(faults),
        )
    unused: set[Fault] = set()
    temp = _read("temperature", pp.temperature.read_celsius, validate.temperature, unused)
    tilt_deg: float | None = None
    tilt_vec: tuple[float, float, float] | None = None
    if pp.tilt is not None:
        tilt_deg = _read("tilt_deg", pp.tilt.read_tilt_deg, validate.tilt_deg, unused)
        tilt_vec = _read("tilt_vector", pp.tilt.read_vector, validate.gravity, unused)
    pe_dev = getattr(pp, "pe", None)
    pe = None if pe_dev is None else _read("pe", pe_dev.pe_present, lambda v: validate.flag(v, "PE"), unused)
    sus_dev = getattr(pp, "suspend", None)
    suspend = (
        None if sus_dev is None else _read("suspend", sus_dev.active, lambda v: validate.flag(v, "suspend"), unused)
    )
    station = StationInputs(
        temperature_c=temp, tilt_deg=tilt_deg, tilt_vector=tilt_vec, pe_present=pe, suspend_input=suspend
    )
    return LoopInputs(conns, station)


def write_outputs(
    pp: Any,
    outputs: dict[int, ConnectorOutputs],
    last_pilot: dict[int, PilotOutput],
    may_close: Callable[[], bool] = lambda: True,
) -> dict[int, bool]:
    """Write the loop's outputs; returns the results of the self-tests run (for the next `read_inputs`)."""
    for cid, out in outputs.items():
        if not out.contactor:
            pp.sockets[cid].contactor.set_closed(False)  # a stop never waits on any other write
    results: dict[int, bool] = {}
    for cid, out in outputs.items():
        dev = pp.sockets[cid]
        if out.rcd_self_test:
            try:
                results[cid] = validate.flag(dev.rcd.self_test(), "self-test")
            except Exception:  # noqa: BLE001 - a self-test that cannot run has not passed
                results[cid] = False
        relay = getattr(dev, "phase_relay", None)
        if relay is not None and out.phases is not None:
            relay.set_phases(out.phases)  # the loop moves it only while this socket's contacts read open
        if last_pilot.get(cid) != out.pilot:
            dev.pilot.set_output(out.pilot)
            last_pilot[cid] = out.pilot
        if out.contactor and results.get(cid, True) and may_close():
            dev.contactor.set_closed(True)
        dev.lock.set_locked(out.locked)
    return results


def hold_safe(pp: Any) -> None:
    """The control process stops: contactors open, pilots to +12 V; each lock opens only where its contacts
    read open (a welded contactor keeps the cable locked)."""
    for s in pp.sockets.values():
        s.contactor.to_safe_state()
    for s in pp.sockets.values():
        s.pilot.to_safe_state()
    for s in pp.sockets.values():
        try:
            fb = s.contactor.feedback_closed()
        except Exception:  # noqa: BLE001 - unreadable: keep the lock
            continue
        if fb is False:
            s.lock.to_safe_state()
            if getattr(s, "phase_relay", None) is not None:
                s.phase_relay.to_safe_state()
