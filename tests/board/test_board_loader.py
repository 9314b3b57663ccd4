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


# --- real drivers: declared once by the driver, checked at load time ----------------------------------------

CM4 = builtin_board("cm4-rev1").read_text()


def cm4_error(tmp_path: Path, text: str) -> tuple[str, Path]:
    path = write(tmp_path, text)
    with pytest.raises(BoardError) as exc:
        load_board(path)
    return str(exc.value), path


def test_a_parameter_the_driver_ignores_is_refused_with_its_line(tmp_path: Path) -> None:
    """feedback_delay_s belongs to the simulated contactor; the gpiozero driver would ignore it."""
    text = CM4.replace("feedback_active_high = false }", "feedback_active_high = false, feedback_delay_s = 0.05 }")
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'contactor = ')}:")
    assert "contactor (gpiozero): unknown key 'feedback_delay_s'" in msg


def test_every_declared_parameter_reaches_the_driver() -> None:
    """Each real driver is built from exactly its declaration: no driver swallows unknown keyword arguments,
    and every declared parameter is a parameter of the builder's target."""
    import importlib.metadata
    import inspect

    from hal.real_drivers import RealDriver

    eps = importlib.metadata.entry_points(group="chargepoint.board_drivers")
    assert len(eps) >= 15
    for ep in eps:
        decl = ep.load()
        assert isinstance(decl, RealDriver) and f"{decl.kind}.{decl.name}" == ep.name
        assert decl.build is not None
    from hal.gpio import GpioContactor, GpioLock, GpioRcd, GpioRgbLeds, GpioSuspendInput

    for cls in (GpioContactor, GpioLock, GpioRcd, GpioRgbLeds, GpioSuspendInput):
        kinds = [p.kind for p in inspect.signature(cls).parameters.values()]
        assert inspect.Parameter.VAR_KEYWORD not in kinds, cls


def test_every_real_driver_module_declaration_is_registered() -> None:
    import importlib
    import importlib.metadata

    from hal.real_drivers import RealDriver

    registered = {ep.value for ep in importlib.metadata.entry_points(group="chargepoint.board_drivers")}
    for module in (
        "hal.gpio", "hal.pilot_sysfs", "hal.i2c_devices", "hal.modbus_meter", "hal.p1_meter", "hal.serial_rfid",
        "hal.proximity",
    ):  # fmt: skip
        mod = importlib.import_module(module)
        for attr, value in vars(mod).items():
            if isinstance(value, RealDriver):
                assert f"{module}:{attr}" in registered, f"{module}:{attr} is not an entry point in pyproject.toml"


def test_board_imports_nothing_from_hal() -> None:
    import ast

    root = Path(__file__).resolve().parents[2] / "board"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "hal" or n.startswith("hal.") for n in names), path


def test_two_i2c_devices_at_one_address_are_refused(tmp_path: Path) -> None:
    """A TMP102 at its default address 0x48 would read the pilot's ADS1115 (89 °C)."""
    text = CM4.replace('driver = "mcp9808"\ni2c_bus = 1\naddress = 0x18', 'driver = "tmp102"')
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, '[temperature]')}:")
    assert "I2C address 0x48 on bus 1 is used twice: by connector[1].pilot" in msg and "temperature (tmp102" in msg


def test_uart_names_of_kernel_6(tmp_path: Path) -> None:
    """dtoverlay=uart3 is /dev/ttyAMA3 since kernel 6.x; the old name does not exist."""
    text = CM4.replace("/dev/ttyAMA3", "/dev/ttyAMA1")
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'meter = ')}:")
    assert "/dev/ttyAMA1 does not exist with this config.txt: it needs dtoverlay=uart1" in msg
    assert "uart3 is /dev/ttyAMA3" in msg


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('    "dtparam=strict_gpiod",\n', r"needs a config_txt line matching 'dtparam=strict_gpiod\\b'"),
        ('    "dtparam=audio=off",\n', "the analogue audio driver uses the PWM channels"),
    ],
)
def test_system_facts_the_drivers_need(tmp_path: Path, line: str, message: str) -> None:
    assert line in CM4
    msg, path = cm4_error(tmp_path, CM4.replace(line, ""))
    assert message in msg


def test_gpio_power_outputs_need_the_system_section(tmp_path: Path) -> None:
    text = CM4[: CM4.index("\n[system]\n")]
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'contactor = ')}:")
    assert "needs a [system] section" in msg and "coil_watchdog" in msg


def test_rcd_self_test_timeout_is_bounded_well_below_the_dead_man(tmp_path: Path) -> None:
    """The self-test blocks a control tick under the dead-man lock: a timeout above the bound is refused."""
    from controller.evse.process import WATCHDOG_S
    from hal.gpio import RCD

    bound = RCD.params["test_timeout_s"].max
    assert bound is not None and bound <= WATCHDOG_S / 2
    text = CM4.replace("reset_pin = 26 }", "reset_pin = 26, test_timeout_s = 0.3 }")
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'rcd = ')}:")
    assert "rcd.test_timeout_s must be at most 0.1, not 0.3" in msg and "dead-man" in msg


# --- the proximity pilot: required on a socket outlet, refused on a fixed cable ------------------------------

SIM_PP = 'pp = { driver = "sim" }\n'
FIXED = "connectors = 1\nfixed_cable = true\n"


def test_a_socket_without_a_pp_is_refused_at_its_connector(tmp_path: Path) -> None:
    text = SIM.replace(SIM_PP, "")
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, '[[connector]]')}:"), msg
    assert "connector 1 is a socket outlet" in msg and "needs a pp device" in msg


def test_a_socket_whose_pp_is_none_is_refused_at_its_line(tmp_path: Path) -> None:
    text = SIM.replace(SIM_PP, 'pp = { driver = "none" }\n')
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'pp = ')}:") and "needs a pp device" in msg, msg


def test_the_real_socket_board_without_its_pp_is_refused(tmp_path: Path) -> None:
    text = "\n".join(line for line in CM4.splitlines() if not line.startswith("pp = ")) + "\n"
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, '[[connector]]')}:") and "needs a pp device" in msg


def test_the_second_connector_of_a_double_socket_board_needs_its_own_pp(tmp_path: Path) -> None:
    text = builtin_board("sim-double").read_text()
    at = text.rindex(SIM_PP)
    text = text[:at] + text[at + len(SIM_PP) :]
    msg, path = cm4_error(tmp_path, text)
    second = [i for i, line in enumerate(text.splitlines(), 1) if line.startswith("[[connector]]")][1]
    assert msg.startswith(f"{path}:{second}:") and "connector 2 is a socket outlet" in msg, msg


def test_a_fixed_cable_with_a_pp_is_refused_at_its_line(tmp_path: Path) -> None:
    text = SIM.replace("connectors = 1\n", FIXED)
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'pp = ')}:") and "fixed cable" in msg and "remove pp" in msg, msg


@pytest.mark.parametrize("pp", ["", 'pp = { driver = "none" }\n'])
def test_a_fixed_cable_board_loads_without_a_pp(tmp_path: Path, pp: str) -> None:
    board = load_board(write(tmp_path, SIM.replace("connectors = 1\n", FIXED).replace(SIM_PP, pp)))
    spec = board.connectors[0].devices.get("pp")
    assert board.fixed_cable and (spec is None or spec.driver == "none")


def test_every_shipped_socket_board_names_a_pp_on_each_connector() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in (builtin_board("sim"), builtin_board("sim-double"), builtin_board("cm4-rev1"), root / "bench/latency-board.toml"):
        board = load_board(path)
        assert not board.fixed_cable
        assert all(c.devices["pp"].driver != "none" for c in board.connectors), path
    cm4 = load_board(builtin_board("cm4-rev1"))
    assert cm4.connectors[0].devices["pp"].driver == "ads1115"


def test_the_pp_adc_must_not_share_the_pilot_adc_address(tmp_path: Path) -> None:
    text = CM4.replace("address = 0x49, channel = 0", "address = 0x48, channel = 0")
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'pp = ')}:")
    assert "I2C address 0x48 on bus 1 is used twice: by connector[1].pilot" in msg and "connector[1].pp (ads1115" in msg


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (" channel = 0", " channel = 4", "pp.channel must be at most 3"),
        ("pullup_ohms = 1000", "pullup_ohms = 0", "pp.pullup_ohms must be at least 100"),
        ("reference_v = 3.3", "reference_v = 12", "pp.reference_v must be at most 5.5"),
        ("reference_v = 3.3", "reference_v = 3.3, divider = 2", "pp (ads1115): unknown key 'divider'"),
    ],
)
def test_pp_parameters_are_checked_against_the_declaration(tmp_path: Path, old: str, new: str, message: str) -> None:
    lines = CM4.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("pp = "))
    assert old in lines[at]
    lines[at] = lines[at].replace(old, new)  # the pp entry only
    text = "".join(lines)
    msg, path = cm4_error(tmp_path, text)
    assert msg.startswith(f"{path}:{line_of(text, 'pp = ')}:") and message in msg, msg
