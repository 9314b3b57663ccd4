"""The command line: `chargepoint run | demo | backoffice | keys | safe-outputs | board-setup | board check |
board probe` (also `python -m controller`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

from board.errors import BoardError
from board.loader import builtin_board, load_board


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host or "127.0.0.1", int(port)


async def _run(args: argparse.Namespace) -> int:
    from controller.app import Station, StationOptions
    from controller.firmware.ab import SLOT_RESTART
    from controller.simcontrol.server import SimControlServer

    board = load_board(args.board) if args.board else load_board(builtin_board("sim"))
    t0 = time.monotonic()
    if args.sim_control and not board.is_simulated:
        print("--sim-control needs a simulated board", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    sim = None
    while True:  # a Reset (or a firmware installation) stops the station; a new one starts on the same state
        station = Station(
            board,
            Path(args.state_dir),
            StationOptions(backoffice_url=args.backoffice, identity=args.identity, rt_priority=args.rt_priority,
                           modbus_host=args.modbus_host, modbus_port=args.modbus_port),
            trace=lambda line: print(f"{time.monotonic() - t0:8.2f}s {line}", flush=True),
        )
        for problem in getattr(station.config, "problems", []) or []:
            print(f"config: {problem}", file=sys.stderr)
        await station.start()
        if args.sim_control and sim is None:
            host, port = args.sim_control
            sim = SimControlServer(station, host, port)
            print(f"sim control API on {host}:{await sim.start()}", flush=True)
        elif sim is not None:
            sim.station = station
        stopper = asyncio.ensure_future(stop.wait())
        resetter = asyncio.ensure_future(station.reset_done.wait())
        await asyncio.wait({stopper, resetter}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        resetter.cancel()
        if not station.reset_done.is_set():
            break
        if station.reset_kind == SLOT_RESTART:  # an A/B firmware slot: the service manager starts the new one
            print(f"{time.monotonic() - t0:8.2f}s exiting: the new firmware slot starts next", flush=True)
            if sim:
                await sim.stop()
            return 0
        print(f"{time.monotonic() - t0:8.2f}s restarting after a {station.reset_kind} reset", flush=True)
    if sim:
        await sim.stop()
    await station.stop()
    return 0


def _safe_outputs(args: argparse.Namespace) -> int:
    """Drive the board's outputs to their safe state (the unit's ExecStopPost, after any exit)."""
    from hal.factory import park_outputs

    board = load_board(args.board)
    report = park_outputs(board)
    for line in report.done:
        print(f"safe: {line}", flush=True)
    for line in report.failed:
        print(f"FAILED: {line}", file=sys.stderr, flush=True)
    if board.system is not None:
        print(f"coil watchdog: {board.system.coil_watchdog}", flush=True)
    return 1 if report.failed else 0


def _board_setup(args: argparse.Namespace) -> int:
    """Apply the board's [system] facts to the boot partition: config.txt lines, no serial console."""
    from board import system

    board = load_board(args.board)
    if board.system is None:
        print(f"{board.path}: no [system] section: nothing to set up", flush=True)
        return 0
    boot = Path(args.boot)
    changed = False
    config = boot / "config.txt"
    text = config.read_text() if config.exists() else ""
    new = system.config_txt_with(text, board.system.config_txt, board.name)
    if new != text:
        changed = True
        if not args.dry_run:
            config.write_text(new)
        print(f"{config}: added {len(new.splitlines()) - len(text.splitlines())} lines", flush=True)
    cmdline = boot / "cmdline.txt"
    if cmdline.exists():
        text = cmdline.read_text()
        consoles = system.serial_consoles(text)
        if consoles:
            changed = True
            if not args.dry_run:
                cmdline.write_text(system.cmdline_without_serial_console(text))
            print(f"{cmdline}: removed the serial console ({', '.join(consoles)})", flush=True)
    if changed:
        print("reboot for the changes to take effect" + (" (dry run: nothing written)" if args.dry_run else ""))
    return 0


def _board_command(args: argparse.Namespace) -> int:
    """`board check FILE` (board/check.py) and `board probe FILE` (hal/probe.py): 0 passed, 1 failed."""
    if args.board_command == "check":
        from board.check import check

        return check(args.file)
    from hal.probe import probe_file

    return probe_file(args.file)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chargepoint", description="Open charge point controller")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the controller")
    run.add_argument("--board", help="board file (default: the simulated board)")
    run.add_argument("--state-dir", default="state", help="directory for configuration and journal")
    run.add_argument("--backoffice", help="back office URL (default: BackOffice-URL-wired)")
    run.add_argument("--identity", help="charge point identity (default: the Identity key)")
    run.add_argument("--sim-control", type=_hostport, metavar="HOST:PORT", help="serve the sim control API")
    run.add_argument(
        "--rt-priority", type=int, default=0, metavar="N",
        help="run the control loop SCHED_FIFO at priority N (needs CAP_SYS_NICE; 20 on the real board)",
    )
    run.add_argument("--modbus-host", default="0.0.0.0", help="address of the Modbus TCP slave (MbsSlaveTCPIP)")
    run.add_argument("--modbus-port", type=int, default=502, help="port of the Modbus TCP slave (default 502)")
    run.add_argument("-v", "--verbose", action="store_true")
    sub.add_parser("demo", help="a complete charging session on the simulated board")
    bo = sub.add_parser("backoffice", help="the built-in back office")
    bo.add_argument("--host", default="127.0.0.1")
    bo.add_argument("--port", type=int, default=9000)
    keys = sub.add_parser("keys", help="the configuration key table")
    keys.add_argument("--markdown", action="store_true", help="write docs/configuration-keys.md")
    keys.add_argument("--state-dir", default=None, help="show the values stored in this state directory")
    keys.add_argument("--board", help="board file for per-order defaults")
    safe = sub.add_parser(
        "safe-outputs", help="drive the coil lines off and the pilot PWM to the board's safe state (ExecStopPost)"
    )
    safe.add_argument("--board", required=True, help="board file")
    setup = sub.add_parser("board-setup", help="apply the board's [system] facts to config.txt and cmdline.txt")
    setup.add_argument("--board", required=True, help="board file")
    setup.add_argument("--boot", default="/boot/firmware", help="the boot partition (default /boot/firmware)")
    setup.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    commission = sub.add_parser("board", help="commissioning: check a board file, probe the board's devices")
    board_sub = commission.add_subparsers(dest="board_command", required=True)
    board_sub.add_parser("check", help="validate a board file and print its devices").add_argument("file")
    board_sub.add_parser("probe", help="talk to every device of the board once (on the board)").add_argument("file")
    args = ap.parse_args(argv)

    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    try:
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "demo":
            from controller.demo import main as demo_main

            return demo_main()
        if args.command == "backoffice":
            from controller.backoffice.server import run_forever

            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_forever(args.host, args.port))
            return 0
        if args.command == "keys":
            from controller.config.cli import keys_command

            return keys_command(args)
        if args.command == "safe-outputs":
            return _safe_outputs(args)
        if args.command == "board-setup":
            return _board_setup(args)
        if args.command == "board":
            return _board_command(args)
    except BoardError as exc:
        print(f"board error: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
