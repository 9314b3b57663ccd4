"""Runs every benchmark module's `main()` in name order (`python -m bench [name ...]`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    for name in names:
        t0 = time.monotonic()
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
        print(f"   ({time.monotonic() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
