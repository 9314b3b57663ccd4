"""Device I/O of the control process: read every power-path input into `LoopInputs`, write `outputs` to the
actuators. Shared by the process runner and the in-process test harness so both exercise the same code.

Reading never raises for a device that fails: a failed input becomes the value that stops charging (pilot:
an impossible voltage -> state E; residual current monitor: tripped; temperature: lost; a calibrated tilt
sensor: NaN -> tilted; socket meter: None -> METER reported). Writing opens contactors first, on every
socket, before any other write; the residual current self-test the loop asks for runs before a close in the
same tick, and a failed test keeps that contactor open.
"""

from __future__ import annotations

import math
from typing import Any

from controller.evse.connector import ConnectorInputs, ConnectorOutputs
from controller.evse.loop import LoopInputs, StationInputs
from hal.errors import DeviceError
from hal.interfaces import MeterReading, PilotOutput, PilotReading

NAN = math.nan


def pe_monitor(pp: Any) -> Any:
    """The protective earth monitor of a power path, if the board has one (the simulator does)."""
    dev = getattr(pp, "pe", None)
    if dev is None and getattr(pp, "world", None) is not None:
        dev = getattr(pp.world, "pe", None)
    return dev


def read_inputs(pp: Any, self_tests: dict[int, bool] | None = None) -> LoopInputs:
    """Read every input. `self_tests`: results of the self-tests run in the previous tick's write."""
    conns: dict[int, ConnectorInputs] = {}
    for cid, s in pp.sockets.items():
        meter: MeterReading | None
        try:
            meter = s.meter.read()
        except DeviceError:
            meter = None
        try:
            pilot = s.pilot.read()
        except DeviceError:
            pilot = PilotReading(NAN, None)
        try:
            fb = s.contactor.feedback_closed()
        except DeviceError:
            fb = None
        try:
            rcd = bool(s.rcd.tripped())
        except DeviceError:
            rcd = True
        try:
            lock_fb = s.lock.feedback_locked()
        except DeviceError:
            lock_fb = None
        conns[cid] = ConnectorInputs(
            pilot=pilot,
            contactor_feedback=fb,
            meter=meter,
            rcd_tripped=rcd,
            rcd_self_test=(self_tests or {}).get(cid),
            lock_feedback=lock_fb,
        )
    try:
        temp: float | None = pp.temperature.read_celsius()
    except DeviceError:
        temp = None
    tilt: float | None = None
    if pp.tilt is not None:
        try:
            tilt = float(pp.tilt.read_tilt_deg())
        except DeviceError:
            tilt = NAN
    pe_dev = pe_monitor(pp)
    pe: bool | None = None
    if pe_dev is not None:
        try:
            pe = bool(pe_dev.pe_present())
        except DeviceError:
            pe = False
    suspend: bool | None = None
    if getattr(pp, "suspend", None) is not None:
        try:
            suspend = bool(pp.suspend.active())
        except DeviceError:
            suspend = None
    return LoopInputs(conns, StationInputs(temperature_c=temp, tilt_deg=tilt, pe_present=pe, suspend_input=suspend))


def write_outputs(
    pp: Any, outputs: dict[int, ConnectorOutputs], last_pilot: dict[int, PilotOutput]
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
                results[cid] = bool(dev.rcd.self_test())
            except DeviceError:
                results[cid] = False
        if last_pilot.get(cid) != out.pilot:
            dev.pilot.set_output(out.pilot)
            last_pilot[cid] = out.pilot
        if out.contactor and results.get(cid, True):
            dev.contactor.set_closed(True)
        dev.lock.set_locked(out.locked)
    return results
