"""The board loader: the shipped boards load; every kind of mistake is an error naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from board.errors import BoardError
from board.loader import builtin_board, load_board

SIM = builtin_board("sim").read_text()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "board.toml"
    p.write_text(text)
    return p


def test_shipped_boards_load() -> None:
    single = load_board(builtin_board("sim"))
    double = load_board(builtin_board("sim-double"))
    assert [c.id for c in single.connectors] == [1]
    assert [c.id for c in double.connectors] == [1, 2]
    assert single.is_simulated
    assert single.defaults["Identity"] == "SIM-0001"
    assert single.pilot_bands["B"] == (7.5, 10.5)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("mutate", "message", "needle"),
    [
        (lambda t: t.replace("[tilt]", "[tilt]\nsensitivity = 3"), "unknown key 'sensitivity'", "sensitivity = 3"),
        (lambda t: t + "\n[display]\ndriver = \"sim\"\n", "unknown section 'display'", "[display]"),
        (lambda t: t.replace('rcd = { driver = "sim" }', 'rcd = { driver = "magic" }'), "unknown driver 'magic'", "rcd = "),
        (lambda t: t.replace("connectors = 1", "connectors = 2"), "but 1 [[connector]] tables", "connectors = 2"),
        (lambda t: t.replace("max_current = 32", "max_current = \"32\""), "must be int or float", "max_current"),
        (lambda t: t.replace("phases = 3", "phases = 2"), "phases must be 1 or 3", "phases = 2"),
        (
            lambda t: t.replace('[tilt]\ndriver = "sim"', '[tilt]\ndriver = "sim"\n\n[pilot_bands]\nB = [10.5, 7.5]'),
            "pilot band B",
            "B = [10.5, 7.5]",
        ),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, mutate, message: str, needle: str) -> None:
    text = mutate(SIM)
    path = write(tmp_path, text)
    with pytest.raises(BoardError) as exc:
        load_board(path)
    assert message in str(exc.value)
    assert str(exc.value).startswith(f"{path}:{line_of(text, needle)}:"), str(exc.value)


def test_missing_device_section(tmp_path: Path) -> None:
    text = SIM.replace('[rfid]\ndriver = "sim"\n', "")
    with pytest.raises(BoardError, match=r"missing \[rfid\] section"):
        load_board(write(tmp_path, text))


def test_missing_connector_device(tmp_path: Path) -> None:
    text = SIM.replace('lock = { driver = "sim" }\n', "")
    with pytest.raises(BoardError, match="connector 1 is missing 'lock'"):
        load_board(write(tmp_path, text))


def test_doubly_used_pin(tmp_path: Path) -> None:
    text = SIM.replace('contactor = { driver = "sim", feedback = true }', 'contactor = { driver = "gpiozero", pin = 17, feedback_pin = 27 }')
    text = text.replace('[suspend_input]\ndriver = "sim"', '[suspend_input]\ndriver = "gpiozero"\npin = 17')
    path = write(tmp_path, text)
    with pytest.raises(BoardError) as exc:
        load_board(path)
    assert "pin 17 is used twice" in str(exc.value)
    second_use = max(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("pin = 17"))
    assert str(exc.value).startswith(f"{path}:{second_use}:")


def test_required_driver_parameter(tmp_path: Path) -> None:
    text = SIM.replace('contactor = { driver = "sim", feedback = true }', 'contactor = { driver = "gpiozero" }')
    with pytest.raises(BoardError, match="contactor \\(gpiozero\\) is missing 'pin'"):
        load_board(write(tmp_path, text))


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BoardError, match="not valid TOML"):
        load_board(write(tmp_path, "[board\nname="))
    with pytest.raises(BoardError, match="cannot read board file"):
        load_board(tmp_path / "nope.toml")
