"""Energy meter register maps as data (pure: no I/O, no pymodbus), one table per meter model, and the
decoding and plausibility checks every Modbus meter reading goes through (hal/modbus_meter.py reads them).

A table row (`Reg`) says which quantity a register holds, its address (0-based PDU address), its data type,
its word order, the scale from the raw number to the unit, and the unit. The units are fixed per quantity
(`UNITS`): volts, amperes, watts, hertz, watt-hours, so a table that scales kWh as Wh fails its test. Every
table is read with one function code (3 holding or 4 input registers), in blocks of contiguous registers
(`MeterMap.blocks()`): a meter may answer exception 2 for an address between two it documents.

Word order "hi": the high word in the lower register (Modbus convention; Eastron, ABB, Socomec, Inepro);
"lo": the low word first (Carlo Gavazzi's INT32). Within a word the bytes are big-endian on every meter here.

The models and the manufacturers' documents (each table cites its own): Socomec Countis E2x/E3x/E4x and Diris
A (Socomec's common JBUS table), Eastron SDM630, SDM72D-M V2, SDM120, ABB B23/B24, Carlo Gavazzi EM24 and
EM340, Inepro PRO380. `KEY_MODELS` maps the values of the Alfen keys MBTCPSmart-SlaveMeterModel /
MBTCPCentral-SlaveMeterModel to a table; a board file may pin any table by its name. The manufacturers' PDFs
were not at hand when the tables were written: each was checked against open-source readers that cite them
(volkszaehler/mbmd, Victron's dbus-modbus-client, openWB); a meter on the bench is the final word.

Plausibility (`decode`): a reading with a value that is not finite or outside `PLAUSIBLE` (a broken
frame, a wrong map, a meter reporting "not available") is a meter error, never a reading.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from hal.errors import DeviceError

# quantities a table may map, with their unit
UNITS: dict[str, str] = {
    "voltage_l1": "V", "voltage_l2": "V", "voltage_l3": "V",
    "current_l1": "A", "current_l2": "A", "current_l3": "A",
    "power_l1": "W", "power_l2": "W", "power_l3": "W", "power": "W",
    "frequency": "Hz",
    "import_energy": "Wh", "export_energy": "Wh",
}  # fmt: skip
# what every three-phase table must have (a single-phase one: the L1 part); power may be the sum of the phases
REQUIRED_3P = ("voltage_l1", "voltage_l2", "voltage_l3", "current_l1", "current_l2", "current_l3", "frequency", "import_energy")
REQUIRED_1P = ("voltage_l1", "current_l1", "frequency", "import_energy")

# plausible ranges per unit, at the boundary: a value outside is a meter error
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "V": (0.0, 500.0),  # phase to neutral; 0 V is a phase that is off
    "A": (-6000.0, 6000.0),  # a CT-connected grid meter of a large site
    "W": (-5.0e6, 5.0e6),
    "Hz": (40.0, 70.0),
    "Wh": (0.0, 1.0e13),  # counters never go negative
}

# data type -> (struct format of the whole value, big-endian, registers)
TYPES: dict[str, tuple[str, int]] = {
    "u16": (">H", 1), "s16": (">h", 1),
    "u32": (">I", 2), "s32": (">i", 2),
    "u64": (">Q", 4), "s64": (">q", 4),
    "f32": (">f", 2),
}  # fmt: skip

KWH = 1000.0  # Wh per kWh
KW = 1000.0  # W per kW


@dataclass(frozen=True, slots=True)
class Reg:
    """One register (or register group) of a map: raw value * `scale` = value in `unit`."""

    quantity: str
    address: int
    type: str
    scale: float
    unit: str
    words: str = "hi"  # "hi": high word first; "lo": low word first

    @property
    def count(self) -> int:
        return TYPES[self.type][1]

    def decode(self, regs: list[int]) -> float:
        """The value from its `count` registers, as they came off the wire."""
        words = list(regs[: self.count])
        if self.words == "lo":
            words.reverse()
        raw = struct.unpack(TYPES[self.type][0], struct.pack(f">{self.count}H", *words))[0]
        return float(raw) * self.scale

    def raw_all_ones(self, regs: list[int]) -> bool:
        """All bits set (ABB's "not available") or, signed, the largest value (0x7FFF...)."""
        words = list(regs[: self.count])
        if all(w == 0xFFFF for w in words):
            return True
        if self.type.startswith("s"):
            hi_first = words if self.words == "hi" else words[::-1]
            return hi_first[0] == 0x7FFF and all(w == 0xFFFF for w in hi_first[1:])
        return False


@dataclass(frozen=True)
class MeterMap:
    """The register map of one meter model."""

    name: str
    title: str
    function: int  # 3: read holding registers, 4: read input registers
    phases: int
    registers: tuple[Reg, ...]
    source: str  # the manufacturer's document the table was written from
    not_available_all_ones: bool = False  # the meter marks a value it does not have with all bits set

    def reg(self, quantity: str) -> Reg | None:
        return next((r for r in self.registers if r.quantity == quantity), None)

    def blocks(self) -> tuple[tuple[int, int], ...]:
        """Contiguous (start, count) read requests covering every register of the table (at most 125 each)."""
        out: list[list[int]] = []
        for r in sorted(self.registers, key=lambda r: r.address):
            if out and r.address == out[-1][0] + out[-1][1] and out[-1][1] + r.count <= 125:
                out[-1][1] += r.count
            else:
                out.append([r.address, r.count])
        return tuple((s, c) for s, c in out)


def _phases(prefix: str, first: int, stride: int, type_: str, scale: float, unit: str, words: str = "hi") -> tuple[Reg, ...]:
    return tuple(Reg(f"{prefix}_l{n + 1}", first + n * stride, type_, scale, unit, words) for n in range(3))


# Socomec: "COUNTIS E23/E24 - Communication Modbus / JBUS" (Socomec doc. 540 150 / 549 213) and the Diris A-10/
# A-20 JBUS table: the common metrology table at 0xC550 (50512) and the energy table at 0xC650 (51536), holding
# registers, 32-bit values high word first. V in 1/100 V, I in mA, P in 1/100 kW (signed), F in 1/100 Hz, energy
# in whole kWh.
SOCOMEC_COUNTIS_E2X = MeterMap(
    "socomec_countis_e2x",
    "Socomec Countis E2x/E3x/E4x, Diris A",
    3,
    3,
    (
        *_phases("voltage", 0xC558, 2, "u32", 0.01, "V"),
        Reg("frequency", 0xC55E, "u32", 0.01, "Hz"),
        *_phases("current", 0xC560, 2, "u32", 0.001, "A"),
        Reg("power", 0xC568, "s32", 0.01 * KW, "W"),
        *_phases("power", 0xC570, 2, "s32", 0.01 * KW, "W"),
        Reg("import_energy", 0xC652, "u32", KWH, "Wh"),
        Reg("export_energy", 0xC658, "u32", KWH, "Wh"),
    ),
    "Socomec COUNTIS E23/E24 Modbus/JBUS communication table; Socomec JBUS common table 0xC550/0xC650",
)

# Eastron: "SDM630 Modbus Protocol" V1.x (Eastron Europe), input registers 30001.., IEEE 754 float32 high word
# first; V, A, W, Hz, kWh.
_SDM_3P = (
    *_phases("voltage", 0x0000, 2, "f32", 1.0, "V"),
    *_phases("current", 0x0006, 2, "f32", 1.0, "A"),
    *_phases("power", 0x000C, 2, "f32", 1.0, "W"),
    Reg("power", 0x0034, "f32", 1.0, "W"),
    Reg("frequency", 0x0046, "f32", 1.0, "Hz"),
    Reg("import_energy", 0x0048, "f32", KWH, "Wh"),
    Reg("export_energy", 0x004A, "f32", KWH, "Wh"),
)
EASTRON_SDM630 = MeterMap("eastron_sdm630", "Eastron SDM630", 4, 3, _SDM_3P, "Eastron SDM630 Modbus Protocol V1.x")
# "SDM72D-M-2 (V2) Modbus Protocol" (Eastron): the same input register addresses for these quantities.
EASTRON_SDM72 = MeterMap("eastron_sdm72", "Eastron SDM72D-M V2", 4, 3, _SDM_3P, "Eastron SDM72D-M V2 Modbus Protocol")
# "SDM120-Modbus Protocol" V2.x (Eastron): single phase, input registers, float32 high word first.
EASTRON_SDM120 = MeterMap(
    "eastron_sdm120",
    "Eastron SDM120",
    4,
    1,
    (
        Reg("voltage_l1", 0x0000, "f32", 1.0, "V"),
        Reg("current_l1", 0x0006, "f32", 1.0, "A"),
        Reg("power", 0x000C, "f32", 1.0, "W"),
        Reg("frequency", 0x0046, "f32", 1.0, "Hz"),
        Reg("import_energy", 0x0048, "f32", KWH, "Wh"),
        Reg("export_energy", 0x004A, "f32", KWH, "Wh"),
    ),
    "Eastron SDM120-Modbus Protocol V2.x",
)

# ABB: "B23/B24 User Manual" (2CMC485003M0201), chapter "Communication with Modbus", holding registers:
# voltages U32 0.1 V at 5B00, currents U32 0.01 A at 5B0C, active power S32 0.01 W at 5B14 (total, L1..L3),
# frequency U16 0.01 Hz at 5B2C, active import/export U64 0.01 kWh at 5000/5004. A value the meter does not
# have reads all ones (0xFFFF.., 0x7FFF.. for signed).
ABB_B23 = MeterMap(
    "abb_b23",
    "ABB B23/B24",
    3,
    3,
    (
        *_phases("voltage", 0x5B00, 2, "u32", 0.1, "V"),
        *_phases("current", 0x5B0C, 2, "u32", 0.01, "A"),
        Reg("power", 0x5B14, "s32", 0.01, "W"),
        *_phases("power", 0x5B16, 2, "s32", 0.01, "W"),
        Reg("frequency", 0x5B2C, "u16", 0.01, "Hz"),
        Reg("import_energy", 0x5000, "u64", 0.01 * KWH, "Wh"),
        Reg("export_energy", 0x5004, "u64", 0.01 * KWH, "Wh"),
    ),
    "ABB B23/B24 User Manual 2CMC485003M0201, Modbus register map",
    not_available_all_ones=True,
)

# Carlo Gavazzi: "EM24DIN Communication protocol" and "EM330/EM340/ET330/ET340 Communication protocol" (both
# the same variable table), input registers, INT32 low word first: V 0.1 V, A 0.001 A, W 0.1 W, Hz 0.1 (UINT16),
# kWh 0.1 (kWh(+) TOT at 0034, kWh(-) TOT at 004E).
_CG_TABLE = (
    *_phases("voltage", 0x0000, 2, "s32", 0.1, "V", "lo"),
    *_phases("current", 0x000C, 2, "s32", 0.001, "A", "lo"),
    *_phases("power", 0x0012, 2, "s32", 0.1, "W", "lo"),
    Reg("power", 0x0028, "s32", 0.1, "W", "lo"),
    Reg("frequency", 0x0033, "u16", 0.1, "Hz"),
    Reg("import_energy", 0x0034, "s32", 0.1 * KWH, "Wh", "lo"),
    Reg("export_energy", 0x004E, "s32", 0.1 * KWH, "Wh", "lo"),
)
CARLO_GAVAZZI_EM24 = MeterMap(
    "carlo_gavazzi_em24", "Carlo Gavazzi EM24", 4, 3, _CG_TABLE, "Carlo Gavazzi EM24DIN Communication protocol"
)
CARLO_GAVAZZI_EM340 = MeterMap(
    "carlo_gavazzi_em340", "Carlo Gavazzi EM340", 4, 3, _CG_TABLE,
    "Carlo Gavazzi EM330/EM340/ET330/ET340 Communication protocol",
)  # fmt: skip

# Inepro: "PRO380-Mod User Manual" V2.18, holding registers, float32 high word first: V, Hz, A, kW, kWh.
INEPRO_PRO380 = MeterMap(
    "inepro_pro380",
    "Inepro PRO380",
    3,
    3,
    (
        *_phases("voltage", 0x5002, 2, "f32", 1.0, "V"),
        Reg("frequency", 0x5008, "f32", 1.0, "Hz"),
        *_phases("current", 0x500C, 2, "f32", 1.0, "A"),
        Reg("power", 0x5012, "f32", KW, "W"),
        *_phases("power", 0x5014, 2, "f32", KW, "W"),
        Reg("import_energy", 0x600C, "f32", KWH, "Wh"),
        Reg("export_energy", 0x6018, "f32", KWH, "Wh"),
    ),
    "Inepro PRO380-Mod User Manual V2.18, Modbus register table",
)

MODELS: dict[str, MeterMap] = {
    m.name: m
    for m in (
        SOCOMEC_COUNTIS_E2X, EASTRON_SDM630, EASTRON_SDM72, EASTRON_SDM120, ABB_B23, CARLO_GAVAZZI_EM24,
        CARLO_GAVAZZI_EM340, INEPRO_PRO380,
    )
}  # fmt: skip
MODELS["abb_b24"] = ABB_B23  # the CT-connected B24 has the B23's map

# the values of MBTCPSmart-SlaveMeterModel / MBTCPCentral-SlaveMeterModel -> table ("None": no meter)
KEY_MODELS: dict[str, str] = {"Socomec": SOCOMEC_COUNTIS_E2X.name}


def model_for(name: str) -> MeterMap:
    """The table for a board file's `model` or a key's value; ValueError names the known ones."""
    table = MODELS.get(KEY_MODELS.get(name, name))
    if table is None:
        known = ", ".join(sorted({*MODELS, *KEY_MODELS}))
        raise ValueError(f"unknown meter model {name!r} (known: {known})")
    return table


def decode(table: MeterMap, blocks: Mapping[int, list[int]], what: str) -> dict[str, float]:
    """Every quantity of `table` from the registers read (block start -> registers), checked: a value that is
    not available, not finite or out of its plausible range raises `DeviceError` naming it."""
    values: dict[str, float] = {}
    for reg in table.registers:
        start = max(s for s in blocks if s <= reg.address)
        regs = blocks[start][reg.address - start : reg.address - start + reg.count]
        if table.not_available_all_ones and reg.raw_all_ones(regs):
            raise DeviceError(f"{what}: {reg.quantity} (0x{reg.address:04x}) is not available")
        value = reg.decode(regs)
        low, high = PLAUSIBLE[reg.unit]
        if not math.isfinite(value) or not low <= value <= high:
            raise DeviceError(
                f"{what}: implausible {reg.quantity} {value:g} {reg.unit} at 0x{reg.address:04x} "
                f"(plausible {low:g}..{high:g})"
            )
        values[reg.quantity] = value
    return values


def encode(reg: Reg, value: float) -> list[int]:
    """The registers a meter sends for `value` (in `reg.unit`): tests and bench servers."""
    fmt, count = TYPES[reg.type]
    raw = value / reg.scale
    packed = struct.pack(fmt, raw if reg.type == "f32" else round(raw))
    words = list(struct.unpack(f">{count}H", packed))
    return words[::-1] if reg.words == "lo" else words
