"""A board declares its Eichrecht meters in a [signing_meter] section, checked strictly like the rest of the
board file (errors name the file and line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from board.errors import BoardError
from board.loader import builtin_board, load_board

SIM = builtin_board("sim").read_text()
SECTION = '[signing_meter]\ndriver = "sim"\n'


def board_with(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "board.toml"
    path.write_text(SIM.replace(SECTION, "") + "\n" + section)
    return path


def test_the_simulated_boards_have_one_and_a_board_without_the_section_has_none(tmp_path: Path) -> None:
    assert load_board(builtin_board("sim")).signing_meter == {"driver": "sim"}
    assert load_board(builtin_board("sim-double")).signing_meter == {"driver": "sim"}
    assert load_board(board_with(tmp_path, "")).signing_meter == {}
    assert load_board(builtin_board("cm4-rev1")).signing_meter == {}


@pytest.mark.parametrize(("section", "needle"), [
    ('[signing_meter]\ndriver = "acme"\n', "driver"),
    ('[signing_meter]\ndriver = "sim"\nconnectors = [2]\n', "no connector 2"),
    ('[signing_meter]\ndriver = "sim"\nkey_file = "x"\n', "unknown key 'key_file'"),
    ("[signing_meter]\nconnectors = [1]\n", "missing 'driver'"),
])
def test_a_wrong_section_is_refused_with_its_line(tmp_path: Path, section: str, needle: str) -> None:
    path = board_with(tmp_path, section)
    with pytest.raises(BoardError, match=needle) as exc:
        load_board(path)
    assert str(path) in str(exc.value)
