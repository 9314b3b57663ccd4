"""Persistence: restarts keep values, corrupt files are set aside, unknown keys survive, kills never tear files."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.config.registry import ChangeStatus, ConfigRegistry
from controller.config.store import ConfigStore

REPO = Path(__file__).resolve().parents[2]


def _registry(path: Path) -> ConfigRegistry:
    return ConfigRegistry(ConfigStore(path))


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "state" / "config.json")
    assert store.values == {} and store.problems == []
    assert ConfigRegistry(store).get("HeartbeatInterval") == "900"


def test_restart_keeps_changed_values(tmp_path: Path) -> None:
    path = tmp_path / "state" / "config.json"
    registry = _registry(path)
    assert registry.set("HeartBeatInterval", "300") is ChangeStatus.ACCEPTED
    assert registry.set("DisconnectAction", "unlock") is ChangeStatus.ACCEPTED
    assert registry.set("AuthorizationKey", "00112233445566778899aabbccddeeff") is ChangeStatus.ACCEPTED
    again = _registry(path)
    assert again.get("HeartbeatInterval") == "300"
    assert again.get("DisconnectAction") == "Unlock"
    assert again.stored("AuthorizationKey") == "00112233445566778899aabbccddeeff"


def test_only_values_differing_from_defaults_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    registry = _registry(path)
    registry.set("LightIntensity", "40")
    registry.set("ZE-ready", "false")  # the default
    assert json.loads(path.read_text())["values"] == {"LightIntensity": "40"}
    registry.set("LightIntensity", "100")  # back to the default: no longer stored
    assert json.loads(path.read_text())["values"] == {}


def test_board_defaults_override_table_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    board = {"Identity": "EVE-12345", "NumberOfConnectors": "2", "Connector1-Type": "type 2 socket"}
    registry = ConfigRegistry(ConfigStore(path), board_defaults=board)
    assert registry.get("Identity") == "EVE-12345"
    assert registry.get_int("NumberOfConnectors") == 2
    assert registry.get("Connector1-Type") == "Type 2 socket"
    registry.set("Identity", "EVE-12345")  # equal to the board default: nothing stored
    assert not path.exists() or json.loads(path.read_text())["values"] == {}


@pytest.mark.parametrize("board", [{"NoSuchKey": "1"}, {"NumberOfConnectors": "3"}, {"Identity": "x" * 21}])
def test_invalid_board_defaults_fail_early(tmp_path: Path, board: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ConfigRegistry(ConfigStore(tmp_path / "c.json"), board_defaults=board)


def test_unknown_stored_keys_survive_a_save(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"format": 1, "values": {"FutureKey": "42", "LightIntensity": "10"}}))
    registry = _registry(path)
    assert registry.spec("FutureKey") is None
    assert registry.get("LightIntensity") == "10"
    registry.set("LightIntensity", "20")
    assert json.loads(path.read_text())["values"] == {"FutureKey": "42", "LightIntensity": "20"}
    entries, unknown = registry.get_configuration(["FutureKey"])
    assert entries == [] and unknown == ["FutureKey"]


def test_alias_names_in_the_file_are_read(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"format": 1, "values": {"HeartBeatInterval": "120"}}))
    assert _registry(path).get("HeartbeatInterval") == "120"


def test_invalid_stored_value_is_reported_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"format": 1, "values": {"LightIntensity": "250", "ZE-ready": "True"}}))
    store = ConfigStore(path)
    registry = ConfigRegistry(store)
    assert registry.get("LightIntensity") == "100"
    assert registry.get("ZE-ready") == "true"
    assert any("LightIntensity" in p for p in store.problems)
    assert registry.problems is store.problems


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"format": 1, "values": {"LightIntensity": 5}}',
        b'{"format": 99, "values": {}}',
        b'{"values": "nope", "format": 1}',
    ],
)
def test_corrupt_file_is_set_aside_and_defaults_come_back(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        store = ConfigStore(path)
    registry = ConfigRegistry(store)
    assert store.problems and "corrupt" in store.problems[0]
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    aside = tmp_path / "config.json.corrupt-1"
    assert aside.read_bytes() == content
    assert registry.get("LightIntensity") == "100"
    assert json.loads(path.read_text()) == {"format": 1, "values": {}}
    # The next corrupt file goes to -2, the first one is kept.
    path.write_bytes(b"{again")
    ConfigStore(path)
    assert (tmp_path / "config.json.corrupt-2").read_bytes() == b"{again"
    assert aside.read_bytes() == content


def test_unreadable_file_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.mkdir()  # reading a directory raises IsADirectoryError
    store = ConfigStore(path)
    assert store.problems
    assert ConfigRegistry(store).get("HeartbeatInterval") == "900"


def test_failed_rename_keeps_the_old_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    registry = _registry(path)
    assert registry.set("LightIntensity", "40") is ChangeStatus.ACCEPTED
    calls: list[str] = []
    registry.subscribe("LightIntensity", lambda k, v: calls.append(v))

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("simulated power cut before rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    assert registry.set("LightIntensity", "60") is ChangeStatus.REJECTED
    assert registry.get("LightIntensity") == "40"
    assert calls == []  # nothing applied that was not persisted
    monkeypatch.undo()
    assert _registry(path).get("LightIntensity") == "40"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary left behind


def test_failed_fsync_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    registry = _registry(path)
    registry.set("LightIntensity", "40")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    assert registry.set("LightIntensity", "60") is ChangeStatus.REJECTED
    monkeypatch.undo()
    assert _registry(path).get("LightIntensity") == "40"


def test_stale_temporary_from_a_kill_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    _registry(path).set("LightIntensity", "40")
    stale = tmp_path / ".config.json.tmp-99999"
    stale.write_text('{"format": 1, "val')  # torn write of a killed process
    assert _registry(path).get("LightIntensity") == "40"
    assert not stale.exists()


CHILD = """
import sys
from pathlib import Path
from controller.config.registry import ConfigRegistry
from controller.config.store import ConfigStore
registry = ConfigRegistry(ConfigStore(Path(sys.argv[1])))
print("ready", flush=True)
i = 0
while True:
    i += 1
    registry.set("HeartbeatInterval", str(30 + i))
    registry.set("MeterValuesSampledData", "Voltage.L1-N" if i % 2 else "Energy.Active.Import.Register,Frequency")
"""


@pytest.mark.parametrize("delay", [0.05, 0.13, 0.21, 0.37])
def test_sigkill_during_set_never_tears_the_file(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "config.json"
    registry = _registry(path)
    registry.set("HeartbeatInterval", "30")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=REPO, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    store = ConfigStore(path)
    assert store.problems == []
    after = ConfigRegistry(store)
    value = after.get_int("HeartbeatInterval")
    assert value >= 30  # the old value (30) or one the child wrote
    assert after.get("MeterValuesSampledData") in (
        "Energy.Active.Import.Register", "Voltage.L1-N", "Energy.Active.Import.Register,Frequency")
    assert after.set("HeartbeatInterval", "45") is ChangeStatus.ACCEPTED
