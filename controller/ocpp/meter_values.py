"""Builds OCPP sampledValue lists from a meter sample (pure), for the measurands of MeterValuesSampledData,
MeterValuesAlignedData, StopTxnSampledData/StopTxnAlignedData and the central (grid) meter.

A sample is the dict the control loop reports (`currents` [A] and `voltages` [V] per phase, `power_w`,
`energy_wh`, optionally `frequency_hz`), plus what the main process knows: `offered_a` (the current it commands)
and `temperature_c`. Every documented measurand and phase is understood:

- Energy.Active.Import.Register (Wh, the register; no phases)
- Power.Active.Import (W): without a phase the total; .L1/.L2/.L3 per phase. The meter reports the total only,
  so a phase's share is the total split by each phase's apparent power (V x I).
- Current.Import (A): without a phase the highest phase current (comparable with Current.Offered, which is
  per phase); .L1/.L2/.L3 per phase.
- Voltage (V): without a phase the mean phase-to-neutral voltage; .L1-N/.L2-N/.L3-N, and the line-to-line
  .L1-L2/.L2-L3/.L3-L1 (from two phase voltages 120° apart: sqrt(Va² + Vb² + Va·Vb)).
- Power.Factor: total P / total S (per phase the same, given the split above).
- Current.Offered (A), Temperature (Celsius, location Body), Frequency (no unit: OCPP 1.6 has no Hz).
A measurand whose source is not available in the sample (no temperature sensor, a meter without frequency) is
left out rather than invented.

RegisterMeterValuesIncludePhases (`include_phases`): a measurand configured without a phase also gets one
entry per phase after its total (Current.Import, Voltage, Power.Active.Import, Power.Factor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

PHASES = ("L1", "L2", "L3")
PHASED = ("Current.Import", "Voltage", "Power.Active.Import", "Power.Factor")
LINE_TO_LINE = {"L1-L2": (0, 1), "L2-L3": (1, 2), "L3-L1": (2, 0)}


def split_measurand(item: str) -> tuple[str, str | None]:
    """"Voltage.L1-N" -> ("Voltage", "L1-N"); "Current.Import" -> ("Current.Import", None)."""
    head, _, tail = item.rpartition(".")
    if head and (tail in PHASES or tail == "N" or tail in LINE_TO_LINE or tail.endswith("-N")):
        return head, tail
    return item, None


def _three(values: Any, default: float) -> list[float]:
    out = [float(v) for v in (values or [])][:3]
    while len(out) < 3:
        out.append(default)
    return out


def sampled_values(
    sample: dict[str, Any],
    measurands: Sequence[str],
    context: str = "Sample.Periodic",
    include_phases: bool = False,
    location: str = "Outlet",
) -> list[dict[str, Any]]:
    """One sampledValue entry per measurand (per phase where the measurand names one or phases are included)."""
    out: list[dict[str, Any]] = []
    currents = _three(sample.get("currents"), 0.0)
    voltages = _three(sample.get("voltages"), 230.0)
    power = float(sample.get("power_w", 0.0) or 0.0)
    apparent = [voltages[i] * currents[i] for i in range(3)]
    s_total = sum(apparent)
    pf_total = max(0.0, min(1.0, power / s_total)) if s_total > 0 else 1.0

    def add(measurand: str, value: float, unit: str | None, phase: str | None = None, fmt: str = "{:.1f}",
            loc: str | None = None) -> None:
        sv: dict[str, Any] = {"value": fmt.format(value), "context": context, "measurand": measurand}
        if phase:
            sv["phase"] = phase
        sv["location"] = loc or location
        if unit:
            sv["unit"] = unit
        out.append(sv)

    def phase_power(i: int) -> float:
        return power * apparent[i] / s_total if s_total > 0 else 0.0

    for item in measurands:
        name, phase = split_measurand(item)
        idx = PHASES.index(phase) if phase in PHASES else None
        with_phases = include_phases and phase is None and name in PHASED
        if name == "Energy.Active.Import.Register":
            if phase is None:
                add(name, float(sample.get("energy_wh", 0.0) or 0.0), "Wh", fmt="{:.0f}")
        elif name == "Power.Active.Import":
            if idx is not None:
                add(name, phase_power(idx), "W", phase)
            elif phase is None:
                add(name, power, "W")
                if with_phases:
                    for i, p in enumerate(PHASES):
                        add(name, phase_power(i), "W", p)
        elif name == "Current.Import":
            if idx is not None:
                add(name, currents[idx], "A", phase)
            elif phase is None:
                add(name, max(currents), "A")
                if with_phases:
                    for i, p in enumerate(PHASES):
                        add(name, currents[i], "A", p)
        elif name == "Voltage":
            if phase in LINE_TO_LINE:
                a, b = LINE_TO_LINE[phase]
                va, vb = voltages[a], voltages[b]
                add(name, math.sqrt(va * va + vb * vb + va * vb), "V", phase)
            elif phase is not None and phase.endswith("-N") and phase[:-2] in PHASES:
                add(name, voltages[PHASES.index(phase[:-2])], "V", phase)
            elif phase is None:
                add(name, sum(voltages) / 3.0, "V")
                if with_phases:
                    for i, p in enumerate(PHASES):
                        add(name, voltages[i], "V", f"{p}-N")
        elif name == "Power.Factor":
            if idx is not None or phase is None:
                add(name, pf_total, None, phase, fmt="{:.2f}")
                if with_phases:
                    for p in PHASES:
                        add(name, pf_total, None, p, fmt="{:.2f}")
        elif name == "Current.Offered" and phase is None:
            add(name, float(sample.get("offered_a", 0.0) or 0.0), "A")
        elif name == "Temperature" and phase is None:
            t = sample.get("temperature_c")
            if t is not None:
                add(name, float(t), "Celsius", loc="Body")
        elif name == "Frequency" and phase is None:
            f = sample.get("frequency_hz")
            if f is not None:
                add(name, float(f), None, fmt="{:.2f}")
    return out


def energy_of(sampled: Sequence[dict[str, Any]]) -> float | None:
    """The Energy.Active.Import.Register value in a sampledValue list, if there is one."""
    for sv in sampled:
        if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
            try:
                return float(sv["value"])
            except (KeyError, ValueError):
                return None
    return None
