"""State files are all-or-nothing on a full or read-only disk, and a bad file (not JSON, too deep, wrong
shape) is set aside with a log line naming it while the service starts with defaults."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller import statefile
from controller.statefile import MapOf, StateWriteError, conforms, read_json, write_json


class FullDisk:
    """`os` as seen by controller.statefile on a disk with `room` bytes left: a short write, then ENOSPC."""

    def __init__(self, room: int = 10, fail_open: int | None = None) -> None:
        self.room = room
        self.fail_open = fail_open

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def open(self, path: Any, flags: int, mode: int = 0o777) -> int:
        if self.fail_open is not None:
            raise OSError(self.fail_open, os.strerror(self.fail_open), str(path))
        return os.open(path, flags, mode)

    def write(self, fd: int, data: Any) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(fd, bytes(data[: self.room]))
        self.room -= n
        return n


@contextlib.contextmanager
def full_disk(room: int = 10, fail_open: int | None = None) -> Iterator[FullDisk]:
    fake = FullDisk(room, fail_open)
    real = statefile.os
    statefile.os = fake  # type: ignore[assignment]
    try:
        yield fake
    finally:
        statefile.os = real


@pytest.mark.parametrize("fault", ["short-then-enospc", "erofs"])
def test_a_failed_write_keeps_the_old_file_and_names_it(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "state" / "charging_profiles.json"
    write_json(path, [{"connectorId": 1, "old": True}])
    before = path.read_bytes()
    with full_disk(room=10, fail_open=errno.EROFS if fault == "erofs" else None):
        with pytest.raises(StateWriteError) as info:
            write_json(path, [{"connectorId": 1, "new": "x" * 1000}])
    assert str(path) in str(info.value)
    assert info.value.errno == (errno.EROFS if fault == "erofs" else errno.ENOSPC)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["charging_profiles.json"]  # no torn temporary


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (needs root and mount rights; skipped otherwise), unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_real_full_filesystem_keeps_the_old_file(tiny_tmpfs: Path) -> None:
    path = tiny_tmpfs / "security_events.json"
    write_json(path, [{"type": "StartupOfTheDevice", "timestamp": "2026-01-01T00:00:00Z"}])
    before = path.read_bytes()
    with contextlib.suppress(OSError), open(tiny_tmpfs / "filler", "wb") as f:  # fill the disk
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    with pytest.raises(StateWriteError) as info:
        write_json(path, [{"type": "x" * 100, "timestamp": "t"}] * 200)
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["filler", "security_events.json"]


def test_files_and_directories_are_private_from_creation(tmp_path: Path) -> None:
    path = tmp_path / "new" / "sub" / "availability.json"
    old = os.umask(0)  # even with a permissive umask
    try:
        write_json(path, {"station": "Operative", "connectors": {}})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700


# -- shapes ----------------------------------------------------------------------------------------------------
SHAPE_CASES = [
    ([{"type": "a", "timestamp": "t"}], [{"type": str, "timestamp": str, "techInfo?": str}], True),
    ([{"type": "a", "timestamp": "t", "techInfo": 3}], [{"type": str, "timestamp": str, "techInfo?": str}], False),
    ([1, "x", None], [{"type": str}], False),
    ({"station": "Operative", "connectors": {"1": "Inoperative"}}, {"station": str, "connectors": MapOf(str)}, True),
    ({"station": "Operative", "connectors": {"1": 2}}, {"station": str, "connectors": MapOf(str)}, False),
    ({"tilt_offset_deg": 1.5}, {"tilt_offset_deg": statefile.NUMBER}, True),
    ({"tilt_offset_deg": True}, {"tilt_offset_deg": statefile.NUMBER}, False),
    ({"tilt_offset_deg": "1"}, {"tilt_offset_deg": statefile.NUMBER}, False),
    ({}, {"tilt_offset_deg": statefile.NUMBER}, False),
]


@pytest.mark.parametrize(("value", "shape", "ok"), SHAPE_CASES)
def test_conforms(value: Any, shape: Any, ok: bool) -> None:
    assert conforms(value, shape) is ok


BAD_CONTENT = {
    "wrong shape": b'[1,"x",null]',
    "deep nesting": b"[" * 100_000,
    "binary garbage": bytes(range(256)) * 4,
    "torn": b'[{"type": "a", "timest',
    "empty": b"",
}


@pytest.mark.parametrize("content", BAD_CONTENT.values(), ids=BAD_CONTENT.keys())
def test_a_bad_file_is_set_aside_and_named(tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "security_events.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="controller.statefile"):
        got = read_json(path, [], [{"type": str, "timestamp": str}])
    assert got == []
    assert not path.exists()
    assert (tmp_path / "security_events.json.corrupt").read_bytes() == content  # kept for diagnostics
    assert any(str(path) in r.getMessage() and "set aside" in r.getMessage() for r in caplog.records)


def test_a_good_file_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    value = [{"type": "a", "timestamp": "t", "sent": True}]
    write_json(path, value)
    assert read_json(path, [], [{"type": str, "timestamp": str, "sent?": bool}]) == value
    assert json.loads(path.read_bytes()) == value


def test_shapes_table_is_well_formed() -> None:
    with pytest.raises(TypeError):
        conforms(1, SimpleNamespace())


def test_decimal_values_from_the_ocpp_library_are_stored(tmp_path: Path) -> None:
    from decimal import Decimal

    path = tmp_path / "charging_profiles.json"
    write_json(path, [{"connectorId": 1, "limit": Decimal("10.1"), "n": Decimal("16.0")}])
    assert json.loads(path.read_bytes()) == [{"connectorId": 1, "limit": 10.1, "n": 16.0}]
