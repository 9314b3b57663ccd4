"""Small JSON state files under the state directory, written atomically (temporary file, fsync, rename,
fsync of the directory), so a power cut leaves either the old or the new content.

Used for the state that is not a table: availability per connector, installed charging profiles, the
certificate index, security events, the tilt calibration, the firmware-update marker that survives the
reboot.

Writes are all-or-nothing: a short write, ENOSPC, EROFS or a failed fsync removes the temporary file,
leaves the previous file in place and raises `StateWriteError` (an OSError) naming the file; the caller
answers Rejected/Failed instead of Accepted.

Reads are validated against a small declared shape per file (`Shape`): a file that is not JSON (binary
garbage, a torn write), that nests too deep for the parser (RecursionError) or that is JSON of the wrong
shape is reported in a log line naming the file, set aside as `<name>.corrupt` (kept for diagnostics) and
read as the default, without touching any other file (DESIGN: "Time, state and failure").

Files and the directories made here are private: 0600 and 0700 from creation (RFID UIDs, keys).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


class StateWriteError(OSError):
    """A state file could not be written; its previous content is still in place."""


# -- shapes ----------------------------------------------------------------------------------------------------
# A shape is one of:
#   a type or a tuple of types  -> isinstance (bool is never accepted as int/float)
#   [shape]                     -> a list whose every element has that shape
#   {"key": shape, "opt?": shape} -> an object with those keys ("?" = may be missing); other keys allowed
#   MapOf(shape)                -> an object with string keys whose every value has that shape
#   ANY                         -> anything
@dataclass(frozen=True)
class MapOf:
    value: Any


ANY: Any = object()
NUMBER = (int, float)


def conforms(value: Any, shape: Any) -> bool:
    """Whether `value` (parsed JSON) has `shape` (see above)."""
    if shape is ANY:
        return True
    if isinstance(shape, type | tuple):
        types = shape if isinstance(shape, tuple) else (shape,)
        if isinstance(value, bool) and bool not in types:
            return False
        return isinstance(value, types)
    if isinstance(shape, list):
        return isinstance(value, list) and all(conforms(v, shape[0]) for v in value)
    if isinstance(shape, MapOf):
        return isinstance(value, dict) and all(conforms(v, shape.value) for v in value.values())
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return False
        for key, sub in shape.items():
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                return False
            if not conforms(value[name], sub):
                return False
        return True
    raise TypeError(f"not a shape: {shape!r}")


# -- writing ---------------------------------------------------------------------------------------------------
def private_dir(path: Path, tighten: bool = False) -> None:
    """Make `path` and its missing parents with mode 0700 (Path.mkdir gives parents the umask's mode);
    `tighten`: an existing `path` is set to 0700 too (the state directory of an older installation)."""
    if path.is_dir():
        if tighten:
            os.chmod(path, DIR_MODE)
        return
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=DIR_MODE)
    os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing (before SQLite opens it: its -wal/-shm files take the
    database's mode), or tighten an existing one to 0600."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`: a new temporary file created with mode 0600 (never wider, whatever
    a stale one had), written whole, fsync-ed, renamed, and the directory fsync-ed. Raises StateWriteError
    naming the file; the old file stays."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        private_dir(path.parent)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(f"write returned {written}")
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.error("cannot write %s: %s; the previous content is kept", path, exc)
        raise StateWriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}", str(path)) from exc
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _plain(value: Any) -> Any:
    # the ocpp library hands over decimal.Decimal for schema fields with multipleOf (a charging limit 10.1)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_json(path: Path, value: Any) -> None:
    """Atomically replace `path` with `value` as JSON. Raises StateWriteError naming the file on failure."""
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True, default=_plain).encode())


# -- reading ---------------------------------------------------------------------------------------------------
def set_aside(path: Path, reason: str) -> None:
    """Rename a bad file to `<name>.corrupt` (kept for diagnostics) with a log line naming both."""
    aside = path.with_name(path.name + ".corrupt")
    log.warning("%s: %s; set aside as %s, using defaults", path, reason, aside.name)
    with contextlib.suppress(OSError):
        os.replace(path, aside)


def parse(raw: bytes, shape: Any) -> Any:
    """Parse and validate; raises ValueError saying what is wrong."""
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise ValueError("nested too deep") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"not valid JSON ({exc})") from exc
    if not conforms(value, shape):
        raise ValueError("valid JSON of the wrong shape")
    return value


def read_json(path: Path, default: Any, shape: Any = ANY) -> Any:
    """The content of `path` if it has `shape`; else `default` (a bad file is set aside, see the module doc)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return default
    except OSError as exc:
        log.warning("cannot read %s: %s; using defaults", path, exc)
        return default
    try:
        return parse(raw, shape)
    except ValueError as exc:
        set_aside(path, str(exc))
        return default


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
