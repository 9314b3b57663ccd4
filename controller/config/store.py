"""Persistent storage of configuration values: one JSON file under the state directory.

Owns the file format and its durability. It holds plain name -> value strings and knows nothing of key
specs: the registry decides what to store (only values that differ from the defaults, plus stored keys it
does not know, which are kept so a downgrade/upgrade never loses them).

Writes are atomic: write a temporary file in the same directory, fsync it, rename it over the file, fsync
the directory. A power cut or a kill at any instant leaves either the old or the new file, never a torn one.
A corrupt or unreadable file is reported (a logged warning and `problems`), renamed aside to
`<name>.corrupt-<n>` and replaced by defaults; loading never raises.

File format: {"format": 1, "values": {"<key>": "<value>", ...}}
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT = 1


class ConfigStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.problems: list[str] = []
        self.values: dict[str, str] = {}
        self.load()

    # -- loading ---------------------------------------------------------------------------------------
    def load(self) -> dict[str, str]:
        """(Re)read the file. Missing file -> empty; corrupt/unreadable -> reported, set aside, empty."""
        self._remove_stale_temporaries()
        self.values = {}
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return self.values
        except OSError as exc:
            self._set_aside(f"cannot read {self.path}: {exc}")
            return self.values
        try:
            self.values = self._parse(raw)
        except ValueError as exc:
            self._set_aside(f"corrupt configuration file {self.path}: {exc}")
            self.values = {}
        return self.values

    @staticmethod
    def _parse(raw: bytes) -> dict[str, str]:
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not valid JSON: {exc}") from exc
        except RecursionError as exc:  # 100 000 nested "[" (issue 11)
            raise ValueError("not valid JSON: nested too deep") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("values"), dict):
            raise ValueError("expected an object with a 'values' object")
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        values = doc["values"]
        bad = [k for k, v in values.items() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"non-string values for {bad[:5]}")
        return dict(values)

    def _set_aside(self, problem: str) -> None:
        log.warning("%s; using defaults", problem)
        self.problems.append(problem)
        n = 1
        while True:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{n}")
            if not aside.exists():
                break
            n += 1
        try:
            os.replace(self.path, aside)
            self._fsync_dir()
        except OSError as exc:
            msg = f"cannot move {self.path} aside to {aside}: {exc}"
            log.warning("%s", msg)
            self.problems.append(msg)
            return
        self.problems.append(f"moved the bad file to {aside}")
        try:
            self.save({})
        except OSError as exc:
            msg = f"cannot write fresh defaults to {self.path}: {exc}"
            log.warning("%s", msg)
            self.problems.append(msg)

    def _temporary(self) -> Path:
        return self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")

    def _remove_stale_temporaries(self) -> None:
        try:
            for stale in self.path.parent.glob(f".{self.path.name}.tmp-*"):
                stale.unlink(missing_ok=True)
        except OSError:
            pass

    # -- saving ----------------------------------------------------------------------------------------
    def save(self, values: Mapping[str, str]) -> None:
        """Atomically replace the file with `values`. Raises OSError on failure (file left as it was)."""
        data = json.dumps({"format": FORMAT, "values": dict(sorted(values.items()))}, indent=1,
                          ensure_ascii=False).encode("utf-8") + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temporary()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise
        self._fsync_dir()
        self.values = dict(values)

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
