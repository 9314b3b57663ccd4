"""`chargepoint keys [--markdown] [--state-dir DIR] [--board FILE]`: print or write the configuration key table.

Owns only the glue between the command line and `table.py`: which registry to show (a state directory's
stored values, a board file's per-order defaults) and where the Markdown goes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.config.table import DOC_PATH, render_markdown, render_text


def keys_command(args: argparse.Namespace) -> int:
    board_defaults: dict[str, str] = {}
    board_path = getattr(args, "board", None)
    if board_path:
        from board.loader import load_board

        board = load_board(board_path)
        board_defaults = dict(board.defaults)
        board_defaults.setdefault("NumberOfConnectors", str(len(board.connectors)))
    state_dir = getattr(args, "state_dir", None)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(state_dir) if state_dir else Path(tmp)
        store = ConfigStore(state / "config.json")
        registry = ConfigRegistry(store, board_defaults=board_defaults)
        for problem in store.problems:
            print(f"config: {problem}", file=sys.stderr)
        if getattr(args, "markdown", False):
            DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
            DOC_PATH.write_text(render_markdown(registry), encoding="utf-8")
            print(f"wrote {DOC_PATH}")
        else:
            sys.stdout.write(render_text(registry))
    return 0
