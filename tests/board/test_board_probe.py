"""`chargepoint board probe`: every device of board/cm4-rev1.toml built by its own driver against fakes that
behave like the hardware (gpiozero MockFactory pins wired like the contactor and the RCD module, a fake SMBus
with the chips, a sysfs-shaped PWM class, a PN532 emulator on a pty, a P1 port on a pty, a real pymodbus
server for the meter); each talked to once; pass/fail with the reason; no output left on."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from board_bench import BoardBench as Rig  # noqa: E402

from board.loader import builtin_board, load_board  # noqa: E402
from hal.probe import probe, probe_file  # noqa: E402
from hal.real_drivers import BuildContext  # noqa: E402


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setattr("hal.probe.WAIT_S", 1.0)  # the fakes answer at once; a silent device fails sooner
    r = Rig(tmp_path)
    yield r
    r.close()


def results(rig: Rig) -> dict[str, tuple[bool, str]]:
    return {r.device: (r.ok, r.detail) for r in probe(load_board(rig.path), rig.ctx)}


def test_every_device_passes_on_a_healthy_board(rig: Rig) -> None:
    res = results(rig)
    assert all(ok for ok, _ in res.values()), res
    assert "+12.0 V" in res["connector 1 pilot"][1]
    assert res["connector 1 rcd"][1] == "self-test tripped and cleared"
    assert "mirror contact reads open" in res["connector 1 contactor"][1]
    assert "12500 Wh" in res["connector 1 meter"][1]
    assert "PN532" in res["rfid"][1] and "firmware" in res["rfid"][1]
    assert "24.0 °C" in res["temperature"][1]
    assert len(res) == 12


def test_the_probe_changes_no_output_beyond_the_self_test(rig: Rig) -> None:
    results(rig)
    assert not rig.coil.state  # the coil was claimed off and released off
    assert [s for _, s in rig.coil.states if s] == []  # never switched on
    assert any(s for _, s in rig.rcd_test.states)  # the one output it switches: the RCD's test current
    assert not rig.rcd_test.state
    assert (rig.pwm_dir / "enable").read_text().strip() == "0"  # parked as safe-outputs leaves it (on_exit)


@pytest.mark.parametrize(
    ("fault", "device", "reason"),
    [
        ("car plugged", "connector 1 pilot", "reads +9.0 V, not +12 V"),
        ("dead rcd", "connector 1 rcd", "self-test failed"),
        ("welded contactor", "connector 1 contactor", "mirror contact reads closed"),
        ("meter server gone", "connector 1 meter", "does not open"),
        ("meter silent", "connector 1 meter", "no reading"),
        ("thermometer gone", "temperature", "DeviceOffline"),
        ("reader port gone", "rfid", "does not open"),
    ],
)
def test_a_failing_device_fails_with_its_reason(rig: Rig, fault: str, device: str, reason: str) -> None:
    if fault == "car plugged":
        rig.ev.state = "B"
    elif fault == "dead rcd":
        rig.rcd_test.dead = True
    elif fault == "welded contactor":
        rig.coil.welded = True  # the last session closed it and the contacts stuck
        rig.coil.function = "output"
        rig.coil.state = True
        rig.coil.function = "input"
    elif fault == "meter server gone":
        rig.meter.stop()
    elif fault == "meter silent":  # the bus opens, but no meter answers at the board's unit
        rig.path.write_text(rig.text.replace("unit = 1,", "unit = 9,"))
    elif fault == "thermometer gone":
        del rig.bus.chips[0x18]
    elif fault == "reader port gone":
        rig.path.write_text(rig.text.replace(rig.reader.name, "/dev/does-not-exist"))
    res = results(rig)
    ok, detail = res[device]
    assert not ok and reason in detail, detail
    assert [d for d, (ok, _) in res.items() if not ok] == [device]  # the others still pass


def test_the_command_line_reports_and_exits_1_on_a_failure(rig: Rig) -> None:
    out = io.StringIO()
    assert probe_file(rig.path, rig.ctx, out) == 0
    assert "probe: 12 passed, 0 failed" in out.getvalue()
    rig.rcd_test.dead = True
    out = io.StringIO()
    assert probe_file(rig.path, rig.ctx, out) == 1
    assert "FAIL  connector 1 rcd" in out.getvalue()
    assert "(connector 1 rcd)" in out.getvalue()


def test_a_simulated_board_has_nothing_to_probe() -> None:
    out = io.StringIO()
    assert probe_file(builtin_board("sim"), BuildContext(), out) == 0
    assert "simulated" in out.getvalue()
