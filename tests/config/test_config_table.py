"""Text and Markdown tables of the keys, and the generated docs/configuration-keys.md being current."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import table
from controller.config.keys import KEYS
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore


@pytest.fixture
def registry(tmp_path: Path) -> ConfigRegistry:
    return ConfigRegistry(ConfigStore(tmp_path / "config.json"))


def _line(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(name + " "))


def test_text_table_lists_every_key(registry: ConfigRegistry) -> None:
    text = table.render_text(registry)
    for spec in KEYS:
        for name in spec.names:
            assert _line(text, name)
    assert "KEY" in text and "CURRENT" in text and "WHAT IT DOES" in text


def test_text_table_content(registry: ConfigRegistry) -> None:
    registry.set("LightIntensity", "40")
    registry.set("AuthorizationKey", "00112233445566778899aabbccddeeff")
    text = table.render_text(registry)
    light = _line(text, "LightIntensity")
    assert "int 0..100" in light and "100" in light and " 40 " in light and "RW" in light
    assert "(write-only)" in _line(text, "AuthorizationKey")
    assert "00112233445566778899aabbccddeeff" not in text
    assert "stored; this board has no display" in _line(text, "Language")
    assert "stored; this board has no modem" in _line(text, "APN-Name")
    assert "alias of HeartbeatInterval" in _line(text, "HeartBeatInterval")
    assert "int 30..2147483647 or 0" in _line(text, "HeartbeatInterval")
    # long option lists are not lost to clipping
    assert "Type-2 fixed cable" in _line(text, "Connector1-Type")


def test_markdown(registry: ConfigRegistry) -> None:
    md = table.render_markdown(registry)
    assert md.startswith("# Configuration keys")
    for spec in KEYS:
        assert f"`{spec.name}`" in md
        for alias in spec.aliases:
            assert f"`{alias}`" in md
    assert "## Price transparency" in md
    assert r"Voltage[.L1-N\|.L2-N\|.L3-N\|.L1-L2\|.L2-L3\|.L3-L1]" in md
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert len(rows) == len(KEYS)
    assert all(row.count(" | ") == 6 for row in rows)  # no unescaped '|' breaking a row


def test_docs_file_is_current(tmp_path: Path) -> None:
    out = tmp_path / "keys.md"
    assert table.main(["--markdown", "--output", str(out)]) == 0
    generated = out.read_text(encoding="utf-8")
    assert table.DOC_PATH.read_text(encoding="utf-8") == generated, (
        "docs/configuration-keys.md is stale: run python -m controller.config.table --markdown")


def test_main_prints_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert table.main([]) == 0
    assert "HeartbeatInterval" in capsys.readouterr().out


def test_keys_command_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from controller.config.cli import keys_command

    state = tmp_path / "state"
    ConfigRegistry(ConfigStore(state / "config.json")).set("LightIntensity", "33")
    args = argparse.Namespace(markdown=False, state_dir=str(state), board=None)
    assert keys_command(args) == 0
    assert " 33 " in _line(capsys.readouterr().out, "LightIntensity")


def test_keys_command_with_board(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    loader = pytest.importorskip("board.loader")
    from controller.config.cli import keys_command

    board = loader.builtin_board("sim")
    assert keys_command(argparse.Namespace(markdown=False, state_dir=None, board=str(board))) == 0
    out = capsys.readouterr().out
    assert "SIM-0001" in _line(out, "Identity")
