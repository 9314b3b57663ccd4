"""`chargepoint board probe FILE` (on the board, with the controller stopped): builds each device of the board
with its own driver, talks to it once and closes it again, and says pass or fail per device with the reason.

What "talks once" means per kind is a table (`TALKS`): the serial ports open, the I2C chips answer (the
driver's reads), the GPIO lines can be claimed (the driver claims them; outputs at their safe, off level), the
meters answer a reading, the pilot reads +12 V (state A: no car), the contactor's mirror contact reads open with
the coil off, the RCD's self-test trips and clears, the card reader answers its initialisation. Nothing is
switched on beyond the RCD's test current: every output is built at its safe state, released, and parked as
`chargepoint safe-outputs` leaves it (the pilot PWM at the board's `on_exit` state).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from board.errors import BoardError
from board.loader import Board, DeviceSpec, load_board
from hal.real_drivers import BuildContext, build, close_all, declaration, park

WAIT_S = 3.0  # how long a device may take to give its first answer (a meter's first poll, a reader's init)
STEP_S = 0.01


class ProbeFailed(Exception):
    """The device answered, but not as it must."""


@dataclass(frozen=True)
class ProbeResult:
    device: str
    driver: str
    ok: bool
    detail: str


def _until(ctx: BuildContext, attempt: Callable[[], Any], what: str) -> Any:
    """`attempt()` until it returns without raising, at most WAIT_S on the context's clock."""
    end = ctx.now() + WAIT_S
    while True:
        try:
            return attempt()
        except Exception as exc:
            if ctx.now() >= end:
                raise ProbeFailed(f"{what}: {type(exc).__name__}: {exc}") from exc
        ctx.sleep(STEP_S)


def _pilot(dev: Any, board: Board, ctx: BuildContext) -> str:
    low, high = board.pilot_bands["A"]
    end = ctx.now() + max(WAIT_S / 10, 0.1)
    reading = dev.read()
    while ctx.now() < end:  # conversions after the stage settled at +12 V
        reading = dev.read()
        ctx.sleep(STEP_S)
    if not low <= reading.high_v <= high:
        raise ProbeFailed(f"reads {reading.high_v:+.1f} V, not +12 V ({low}..{high} V) with no car")
    return f"reads {reading.high_v:+.1f} V with no car (state A)"


def _contactor(dev: Any, board: Board, ctx: BuildContext) -> str:
    closed = dev.feedback_closed()
    if closed:
        raise ProbeFailed("the mirror contact reads closed with the coil off: welded or miswired")
    return "coil line claimed (off)" + ("" if closed is None else ", mirror contact reads open")


def _lock(dev: Any, board: Board, ctx: BuildContext) -> str:
    locked = dev.feedback_locked()
    return "lock line claimed (off)" + ("" if locked is None else f", feedback reads {'locked' if locked else 'unlocked'}")


def _meter(dev: Any, board: Board, ctx: BuildContext) -> str:
    r = _until(ctx, dev.read, "no reading")
    volts = "/".join(f"{v:.0f}" for v in r.voltages_v)
    return f"answers: {volts} V, {r.energy_wh:.0f} Wh"


def _rcd(dev: Any, board: Board, ctx: BuildContext) -> str:
    if dev.tripped():
        dev.reset()
        if dev.tripped():
            raise ProbeFailed("the fault line is active before the test (a latched trip that does not reset)")
    if not dev.self_test():
        raise ProbeFailed("self-test failed: the module did not trip on the test current, or did not clear")
    return "self-test tripped and cleared"


def _pp(dev: Any, board: Board, ctx: BuildContext) -> str:
    ohms = dev.read_ohms()
    return "reads no cable" if ohms == float("inf") else f"reads a cable coding of {ohms:.0f} ohm"


def _rfid(dev: Any, board: Board, ctx: BuildContext) -> str:
    if not hasattr(dev, "online"):
        dev.poll()
        return f"{dev.version()} (passive reader)"

    def answered() -> None:
        dev.poll()
        if not dev.online:
            raise ProbeFailed(getattr(dev, "last_error", None) or "no answer")

    _until(ctx, answered, "the reader does not answer its initialisation")
    return str(dev.version())


TALKS: dict[str, Callable[[Any, Board, BuildContext], str]] = {
    "pilot": _pilot,
    "contactor": _contactor,
    "lock": _lock,
    "meter": _meter,
    "grid_meter": _meter,
    "rcd": _rcd,
    "pp": _pp,
    "temperature": lambda dev, board, ctx: f"reads {dev.read_celsius():.1f} °C",
    "tilt": lambda dev, board, ctx: f"reads {dev.read_tilt_deg():.1f}° from upright",
    "rfid": _rfid,
    "leds": lambda dev, board, ctx: "lines claimed (off)",
    "suspend_input": lambda dev, board, ctx: f"reads {'active' if dev.active() else 'inactive'}",
}


def _serial_ports(spec: DeviceSpec) -> list[str]:
    decl = declaration(spec)
    resolved = decl.resolve(spec.params)
    return [resolved[k] for k, p in decl.params.items() if getattr(p, "role", "") == "serial_port" and k in resolved]


def _open_port(url: str) -> None:
    import serial

    try:
        serial.serial_for_url(url, timeout=0).close()
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ProbeFailed(f"serial port {url} does not open: {exc}") from exc


def _release(dev: Any, spec: DeviceSpec, ctx: BuildContext) -> str | None:
    """Outputs to their safe state, the device closed, then parked as `chargepoint safe-outputs` leaves it (the
    pilot PWM at the board's `on_exit` state): the board is left as the probe found it. Why not, or None."""
    problem = None
    safe = getattr(dev, "to_safe_state", None)
    if safe is not None:
        try:
            safe()
        except Exception as exc:  # noqa: BLE001 - close and park still run
            problem = f"safe state: {type(exc).__name__}: {exc}"
    close_all([dev])
    try:
        park(spec, ctx)
    except Exception as exc:  # noqa: BLE001 - reported as this device's failure
        problem = problem or f"park: {type(exc).__name__}: {exc}"
    return problem


def probe_device(name: str, spec: DeviceSpec, board: Board, ctx: BuildContext) -> ProbeResult:
    """Build one device, talk to it once, leave it as it was; pass or fail with the reason."""
    if spec.driver in ("sim", "none"):
        return ProbeResult(name, spec.driver, True, "simulated" if spec.driver == "sim" else "not fitted")
    dev = None
    try:
        for port in _serial_ports(spec):
            _open_port(port)
        dev = build(spec.kind, spec, ctx, name)
        ok, detail = True, TALKS[spec.kind](dev, board, ctx)
    except ProbeFailed as exc:
        ok, detail = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - any driver error is this device's failure, with its reason
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    if dev is not None:
        problem = _release(dev, spec, ctx)
        if problem is not None:
            ok, detail = False, f"{detail}; then {problem}"
    return ProbeResult(name, spec.driver, ok, detail)


def probe(board: Board, ctx: BuildContext | None = None) -> list[ProbeResult]:
    """Every device of the board, in the board's order (connector devices first)."""
    ctx = ctx or BuildContext()
    try:
        return [probe_device(name, spec, board, ctx) for name, spec in board.devices()]
    finally:
        close_all(list(ctx.buses.values()))
        ctx.buses.clear()


def report(results: list[ProbeResult], out: TextIO) -> int:
    width = max(len(r.device) for r in results)
    for r in results:
        print(f"{'pass' if r.ok else 'FAIL'}  {r.device:<{width}}  {r.driver:<14}  {r.detail}", file=out)
    failed = [r.device for r in results if not r.ok]
    print(f"probe: {len(results) - len(failed)} passed, {len(failed)} failed"
          + (f" ({', '.join(failed)})" if failed else ""), file=out)
    return 1 if failed else 0


def probe_file(path: str | Path, ctx: BuildContext | None = None, out: TextIO | None = None) -> int:
    """`chargepoint board probe FILE`: 0 when every device passed, 1 otherwise (and when the file is invalid)."""
    out = out or sys.stdout
    try:
        board = load_board(path)
    except BoardError as exc:
        print(f"board error: {exc}", file=out)
        return 1
    return report(probe(board, ctx), out)
