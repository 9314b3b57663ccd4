"""Small JSON state files under the state directory, written atomically (temporary file, fsync, rename,
fsync of the directory), so a power cut leaves either the old or the new content.

Used for the state that is not a table: availability per connector, installed charging profiles, the
firmware-update marker that survives the reboot. A corrupt file is reported, set aside as `<name>.corrupt`
and read as the default, without touching any other file (DESIGN: "Time, state and failure").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: a new temporary file created with mode 0600 (never wider, whatever a stale
    one had), written whole, fsync-ed, renamed, and the directory fsync-ed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def read_json(path: Path, default: Any) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return default
    except OSError as exc:
        log.warning("cannot read %s: %s; using defaults", path, exc)
        return default
    try:
        return json.loads(raw)
    except ValueError:
        log.warning("%s is corrupt; set aside as %s.corrupt, using defaults", path, path.name)
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + ".corrupt"))
        return default


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
