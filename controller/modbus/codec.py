"""Register encodings of the Alfen Modbus map (pure): big-endian, high word first.

A value that is missing reads 0xFFFF in every register (a float then decodes as NaN). Strings are ASCII, two
characters per register, high byte first, NUL-padded (never 0xFFFF: clients decode strings as UTF-8).
"""

from __future__ import annotations

import math
import struct

MISSING = 0xFFFF


def missing(regs: int) -> list[int]:
    return [MISSING] * regs


def string(text: str, regs: int) -> list[int]:
    raw = text.encode("ascii", "replace")[: 2 * regs].ljust(2 * regs, b"\x00")
    return [raw[i] << 8 | raw[i + 1] for i in range(0, 2 * regs, 2)]


def decode_string(regs: list[int]) -> str:
    raw = b"".join(struct.pack(">H", r) for r in regs)
    return raw.rstrip(b"\x00").decode("ascii", "replace")


def uint(value: int | None, regs: int) -> list[int]:
    if value is None:
        return missing(regs)
    value = max(0, min(int(value), (1 << (16 * regs)) - 1))
    return [(value >> (16 * (regs - 1 - i))) & 0xFFFF for i in range(regs)]


def int16(value: int | None) -> list[int]:
    if value is None:
        return missing(1)
    value = max(-32768, min(int(value), 32767))
    return [value & 0xFFFF]


def float32(value: float | None) -> list[int]:
    if value is None or not math.isfinite(value):
        return missing(2)
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def float64(value: float | None) -> list[int]:
    if value is None or not math.isfinite(value):
        return missing(4)
    return list(struct.unpack(">HHHH", struct.pack(">d", value)))


def decode_float32(regs: list[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", regs[0], regs[1]))[0])


def decode_uint(regs: list[int]) -> int:
    out = 0
    for r in regs:
        out = out << 16 | r
    return out
