"""`chargepoint board check`: the shipped boards pass; a bad board file fails with exit 1 and file:line for
each cross-check (and for the loader's own checks, which come first)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from board.check import check
from board.loader import builtin_board
from controller.__main__ import main

CM4 = builtin_board("cm4-rev1").read_text()
GRID_P1 = '[grid_meter]\ndriver = "p1"\nport = "/dev/ttyAMA0"\nspec = "v5"'


def run_check(tmp_path: Path, text: str) -> tuple[int, str, str, Path]:
    path = tmp_path / "board.toml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    return check(path, out, err), out.getvalue(), err.getvalue(), path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("name", ["cm4-rev1", "cm4-rev1-double", "sim", "sim-double"])
def test_shipped_boards_pass(tmp_path: Path, name: str) -> None:
    rc, out, err, _ = run_check(tmp_path, builtin_board(name).read_text())
    assert (rc, err) == (0, "")
    assert "board check passed" in out
    assert "connector 1 pilot" in out and "rfid" in out


def test_the_table_names_each_device_and_its_driver(tmp_path: Path) -> None:
    _, out, _, _ = run_check(tmp_path, CM4)
    rows = {line.split("  ")[0].strip(): line.split()[-1] for line in out.splitlines()}
    assert "connector 1 meter" in rows
    table = {line[:23].strip(): line[23:38].strip() for line in out.splitlines()[3:]}
    assert table["connector 1 pilot"] == "sysfs_ads1115"
    assert table["rfid"] == "pn532_hsu"
    assert table["connector 1 pp"] == "ads1115"


Mutation = Callable[[str], str]
BAD: dict[str, tuple[Mutation, str, str]] = {
    # the loader's checks (the first error stops it)
    "pin used twice": (lambda t: t.replace("pin = 22, feedback_pin = 23", "pin = 17, feedback_pin = 23"),
                       "pin 17 is used twice", "lock = "),
    "i2c address twice": (lambda t: t.replace("address = 0x49", "address = 0x48"),
                          "I2C address 0x48 on bus 1 is used twice", "pp = "),
    "driver parameter out of bounds": (lambda t: t.replace("unit = 1,", "unit = 300,"), "at most 247", "meter = "),
    "driver parameter unknown": (lambda t: t.replace("spec = \"v5\"", "spec = \"v5\"\nspeed = 3"),
                                 "unknown key 'speed'", "speed = 3"),
    "uart not enabled": (lambda t: t.replace('"/dev/ttyAMA4"', '"/dev/ttyAMA5"'), "needs dtoverlay=uart5",
                         "/dev/ttyAMA5"),
    # the cross-checks
    "device pin on a uart": (lambda t: t.replace("pin = 6\n", "pin = 4\n"), "pin = 4 is a pin of the UART /dev/ttyAMA3",
                             "[suspend_input]"),
    "device pin on i2c": (lambda t: t.replace("nfc_pin = 20", "nfc_pin = 3"), "nfc_pin = 3 is a pin of I2C bus i2c-1",
                          "[leds]"),
    "pilot pwm pin not the overlay's": (lambda t: t.replace("pwm_pin = 12", "pwm_pin = 18"),
                                        "pwm_pin = 18, but the PWM overlay routes the channel to GPIO 12", "pilot = "),
    "i2c bus not enabled": (lambda t: t.replace('driver = "mcp9808"\ni2c_bus = 1', 'driver = "mcp9808"\ni2c_bus = 3'),
                            "i2c-3, which config_txt does not enable (it needs dtoverlay=i2c3)", "[temperature]"),
    "serial port twice": (lambda t: t.replace('port = "/dev/ttyAMA4"', 'port = "/dev/ttyAMA3"'),
                          "rfid and connector 1 meter both use the serial port /dev/ttyAMA3", "[rfid]"),
    "rs485 unit twice": (lambda t: t.replace(GRID_P1, '[grid_meter]\ndriver = "sdm_rtu"\nport = "/dev/ttyAMA3"\nunit = 1'),
                         "are both unit 1 on /dev/ttyAMA3", "[grid_meter]"),
    "rs485 baud rates differ": (
        lambda t: t.replace(GRID_P1, '[grid_meter]\ndriver = "sdm_rtu"\nport = "/dev/ttyAMA3"\nunit = 2\nbaudrate = 19200'),
        "share the bus /dev/ttyAMA3 at different baud rates", "[grid_meter]"),
    "tcp meter twice": (
        lambda t: t.replace('meter = { driver = "modbus_rtu", model = "eastron_sdm630", port = "/dev/ttyAMA3", '
                            'baudrate = 9600, parity = "N", ',
                            'meter = { driver = "modbus_tcp", model = "eastron_sdm630", host = "10.0.0.5", ')
        .replace(GRID_P1, '[grid_meter]\ndriver = "sdm_tcp"\nhost = "10.0.0.5"'),
        "are both unit 1 at 10.0.0.5:502", "[grid_meter]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_board_fails_with_file_and_line(tmp_path: Path, case: str) -> None:
    mutate, message, needle = BAD[case]
    text = mutate(CM4)
    assert text != CM4, "the mutation must apply"
    rc, _, err, path = run_check(tmp_path, text)
    assert rc == 1
    assert message in err, err
    assert f"{path}:{line_of(text, needle)}: " in err, err


def test_two_meters_on_one_rs485_bus_with_their_own_units_pass(tmp_path: Path) -> None:
    text = CM4.replace(GRID_P1, '[grid_meter]\ndriver = "sdm_rtu"\nport = "/dev/ttyAMA3"\nunit = 2')
    rc, _, err, _ = run_check(tmp_path, text)
    assert (rc, err) == (0, "")


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = CM4.replace("nfc_pin = 20", "nfc_pin = 3").replace("pin = 6\n", "pin = 4\n")
    rc, _, err, _ = run_check(tmp_path, text)
    assert rc == 1
    assert "nfc_pin = 3" in err and "pin = 4" in err and "2 problem(s)" in err


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(CM4)
    assert main(["board", "check", str(good)]) == 0
    assert "board check passed" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(CM4.replace("pwm_pin = 12", "pwm_pin = 18"))
    assert main(["board", "check", str(bad)]) == 1
    assert f"{bad}:{line_of(CM4, 'pilot = ')}: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[firmware]\nmethod = "ab"\ninstall_command = "true"\n', "install_command does not apply to method = 'ab'"),
        ('[firmware]\nslots_dir = "/tmp/x"\n', "slots_dir does not apply to method = 'command'"),
        ('[firmware]\nmethod = "ab"\nmax_starts = 0\n', "max_starts must be at least 1"),
        ('[firmware]\nmethod = "abc"\n', "method must be 'command' or 'ab'"),
    ],
)
def test_firmware_section_is_checked(tmp_path: Path, section: str, message: str) -> None:
    sim = builtin_board("sim").read_text()
    text = sim[: sim.index("[firmware]")] + section + sim[sim.index("[defaults]") :]
    rc, _, err, _ = run_check(tmp_path, text)
    assert rc == 1 and message in err, err


def test_real_boards_install_firmware_a_b() -> None:
    from board.loader import load_board

    for name in ("cm4-rev1", "cm4-rev1-double"):
        board = load_board(builtin_board(name))
        assert board.firmware["method"] == "ab"
        assert board.firmware["slots_dir"] == "/opt/chargepoint/slots"
        assert all(c.devices["pp"].driver == "ads1115" for c in board.connectors)
        assert all(c.devices["meter"].params["model"] == "eastron_sdm630" for c in board.connectors)
        assert board.station["rfid"].driver == "pn532_hsu"
    assert len(load_board(builtin_board("cm4-rev1-double")).connectors) == 2
