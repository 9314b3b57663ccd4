"""Modbus meter maps: what one poll of each model costs over Modbus TCP on loopback against pymodbus's own
server (requests per poll, milliseconds per blocking read in the poll thread) and the decode + plausibility
check alone (microseconds). The control loop never waits for either: it reads the last reading from memory."""

from __future__ import annotations

import time

from hal.meter_maps import MODELS, MeterMap, decode, encode
from hal.modbus_meter import RegisterServer, modbus_tcp, to_reading

TYPICAL = {"V": 230.0, "A": 16.0, "W": 3680.0, "Hz": 50.0, "Wh": 1.0e6}


def wire(table: MeterMap) -> dict[int, int]:
    words: dict[int, int] = {}
    for reg in table.registers:
        for i, w in enumerate(encode(reg, TYPICAL[reg.unit])):
            words[reg.address + i] = w
    return words


def main() -> None:
    for name, table in sorted(MODELS.items()):
        if name != table.name:
            continue  # an alias (abb_b24)
        words = wire(table)
        srv = RegisterServer(table.function, words)
        srv.start()
        meter = modbus_tcp("127.0.0.1", srv.port, model=name, start=False)  # this thread is the poll thread
        try:
            meter.reader.read()  # connected
            n = 50
            t0 = time.perf_counter()
            for _ in range(n):
                meter.reader.read()
            read_ms = (time.perf_counter() - t0) / n * 1e3
            blocks = {s: [words[a] for a in range(s, s + c)] for s, c in table.blocks()}
            m = 2000
            t0 = time.perf_counter()
            for _ in range(m):
                to_reading(decode(table, blocks, name), table, True)
            decode_us = (time.perf_counter() - t0) / m * 1e6
            print(
                f"   {name:22s} {len(table.blocks())} requests/poll, {read_ms:5.2f} ms per poll over TCP loopback, "
                f"decode+check {decode_us:4.0f} us"
            )
        finally:
            meter.close()
            srv.stop()
