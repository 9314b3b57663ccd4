"""The boot guard: `python -m controller.firmware.guard ROOT` (the launcher runs it with the previous slot's
Python before each `run` while a version is on trial: it counts the start and restores the previous slot when
the trial has failed), and `python -m controller.firmware.guard --write-launcher PATH ROOT` (install.sh: the
launcher script at PATH for the slots under ROOT)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from controller.firmware.slots import Slots, launcher_text


def write_launcher(path: Path, root: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(launcher_text(root))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m controller.firmware.guard")
    ap.add_argument("--write-launcher", metavar="PATH", help="write the launcher script for ROOT to PATH")
    ap.add_argument("root", help="the slots directory")
    args = ap.parse_args(argv)
    root = Path(args.root)
    if args.write_launcher:
        write_launcher(Path(args.write_launcher), root)
        print(f"launcher {args.write_launcher} starts {root}/current")
        return 0
    print(f"chargepoint boot guard: {Slots(root).on_start()}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
