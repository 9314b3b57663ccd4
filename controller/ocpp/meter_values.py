"""Builds OCPP sampledValue lists from a socket meter sample (pure), for the measurands configured in
MeterValuesSampledData. Unknown or unavailable measurands are skipped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PHASES = ("L1", "L2", "L3")


def sampled_values(
    sample: dict[str, Any], measurands: Sequence[str], context: str = "Sample.Periodic", include_phases: bool = True
) -> list[dict[str, Any]]:
    """One sampledValue entry per measurand (per phase where the measurand names one or phases are on)."""
    out: list[dict[str, Any]] = []
    currents = sample.get("currents") or [0.0, 0.0, 0.0]
    voltages = sample.get("voltages") or [230.0, 230.0, 230.0]

    def add(measurand: str, value: float, unit: str | None, phase: str | None = None, fmt: str = "{:.1f}") -> None:
        sv: dict[str, Any] = {"value": fmt.format(value), "context": context, "measurand": measurand}
        if unit:
            sv["unit"] = unit
        if phase:
            sv["phase"] = phase
        sv["location"] = "Outlet"
        out.append(sv)

    for item in measurands:
        head, _, tail = item.rpartition(".")
        if head and (tail.startswith("L") or tail == "N"):
            name, phase = head, tail[1:]
        else:
            name, phase = item, ""
        phase_name = f"L{phase}" if phase and phase[0].isdigit() and "-" not in phase else None
        if name == "Energy.Active.Import.Register":
            add(name, float(sample.get("energy_wh", 0.0)), "Wh", fmt="{:.0f}")
        elif name == "Power.Active.Import":
            add(name, float(sample.get("power_w", 0.0)), "W")
        elif name == "Current.Import":
            if phase_name:
                add(name, float(currents[int(phase) - 1]), "A", phase_name)
            elif phase:
                continue  # neutral current is not measured
            elif include_phases:
                for i, p in enumerate(PHASES):
                    add(name, float(currents[i]), "A", p)
            else:
                add(name, max(float(c) for c in currents), "A")
        elif name == "Voltage":
            ph = phase.split("-")[0] if phase and phase[0].isdigit() else None
            if ph:
                add(name, float(voltages[int(ph) - 1]), "V", f"L{ph}-N")
            elif include_phases:
                for i, p in enumerate(PHASES):
                    add(name, float(voltages[i]), "V", f"{p}-N")
            else:
                add(name, float(voltages[0]), "V")
        elif name == "Current.Offered":
            add(name, float(sample.get("offered_a", 0.0)), "A")
        elif name == "Frequency":
            add(name, float(sample.get("frequency_hz", 50.0)), None, fmt="{:.2f}")  # OCPP 1.6 has no Hz unit
    return out
