"""The board file's [scn] section: checked strictly at load time, read into `ScnBoard`; and `SCN-IsEnabled`
reports whether the station takes part in a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from board.errors import BoardError
from board.loader import builtin_board, load_board
from controller.clock import FakeClock
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
from controller.scn.service import ScnService
from controller.scn.settings import MemberSpec, ScnBoard


def board_with(tmp_path: Path, section: str) -> Path:
    p = tmp_path / "board.toml"
    p.write_text(builtin_board("sim").read_text() + "\n[scn]\n" + section)
    return p


def test_a_coordinator_with_its_members(tmp_path: Path) -> None:
    b = load_board(board_with(tmp_path, 'role = "coordinator"\nmembers = [{ address = "10.0.0.7:502", '
                              'phase_mapping = 8 }, { address = "10.0.0.8:5020" }]\ncar_follow_s = 2\n'))
    scn = ScnBoard.of(b.scn)
    assert scn.coordinator and scn.car_follow_s == 2.0
    assert scn.members == (MemberSpec("10.0.0.7", 502, 8, 32.0), MemberSpec("10.0.0.8", 5020, 4, 32.0))
    assert ScnBoard.of(load_board(builtin_board("sim")).scn).role is None


@pytest.mark.parametrize(
    "section, message",
    [
        ('role = "leader"\n', "role"),
        ('role = "coordinator"\nmembers = [{ address = "10.0.0.7" }]\n', "host:port"),
        ('role = "coordinator"\nmembers = [{ address = "10.0.0.7:502", phase_mapping = 12 }]\n', "phase_mapping"),
        ('role = "member"\nelection = true\n', "unknown key 'election'"),
    ],
)
def test_a_bad_scn_section_is_refused_with_its_line(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(BoardError, match=message) as err:
        load_board(board_with(tmp_path, section))
    assert "board.toml:" in str(err.value)


class NoSlave:
    coordinator = False
    running = False
    port = 0


@pytest.mark.parametrize("section, enabled", [({}, "false"), ({"role": "member"}, "true"),
                                              ({"role": "coordinator"}, "true")])
def test_scn_is_enabled_reports_whether_the_station_is_in_a_network(tmp_path: Path, section: dict[str, str],
                                                                   enabled: str) -> None:
    config = ConfigRegistry(ConfigStore(tmp_path / "config.json"))
    ScnService(config, FakeClock(), {}, {1: 3}, None, NoSlave(), section, "127.0.0.1", lambda s: None)  # type: ignore[arg-type]
    assert config.get("SCN-IsEnabled") == enabled
    assert config.owner("SCN-TotalStaticCurrent") == "scn"
