"""The update image of an A/B board: a tar archive (any compression) of wheels, flat, with exactly one
`chargepoint-<version>-py3-none-any.whl` and the wheels of its dependencies, so that a slot is installed with
`pip --no-index` from the bundle alone (nothing downloads at run time).

`unpack()` checks the package before anything is installed: only regular files with plain names ending in
.whl (no paths, no links, no devices), a bounded total size, every wheel a sound zip (CRCs checked), and the
chargepoint wheel's METADATA naming the distribution and the version its file name says. The version names the
slot. (SignedUpdateFirmware's signature over the whole image is checked before this, by the security service.)
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from controller.firmware.slots import SLOT_NAME

WHEEL = re.compile(r"^chargepoint-(?P<version>[A-Za-z0-9_.+]+?)-py3-none-any\.whl$")
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*\.whl$")
MAX_BYTES = 512 * 1024 * 1024


class BundleError(Exception):
    """The image is not an installable bundle; the message says why."""


@dataclass(frozen=True)
class Bundle:
    version: str
    directory: Path  # the unpacked wheels (pip --find-links)
    wheel: Path  # chargepoint's own wheel


def _check_wheel(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path.name} is not a wheel: {exc}") from exc
    if bad is not None:
        raise BundleError(f"{path.name}: {bad} is corrupt (CRC)")


def _metadata(path: Path, version: str) -> None:
    name = f"chargepoint-{version}.dist-info/METADATA"
    with zipfile.ZipFile(path) as z:
        try:
            text = z.read(name).decode("utf-8", "replace")
        except KeyError:
            raise BundleError(f"{path.name} has no {name}") from None
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    if fields.get("Name", "").lower() != "chargepoint" or fields.get("Version") != version:
        raise BundleError(f"{path.name}: its METADATA says {fields.get('Name')} {fields.get('Version')}")


def unpack(image: Path, into: Path) -> Bundle:
    """Check the bundle `image` and unpack its wheels into the new directory `into`."""
    try:
        archive = tarfile.open(image)
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{image.name} is not a tar archive: {exc}") from exc
    into.mkdir(parents=True)
    total = 0
    with archive:
        for member in archive:
            if not member.isfile() or not PLAIN_NAME.match(member.name):
                raise BundleError(f"{image.name}: {member.name!r} is not a plain wheel file")
            total += member.size
            if total > MAX_BYTES:
                raise BundleError(f"{image.name} unpacks to more than {MAX_BYTES} bytes")
            src = archive.extractfile(member)
            if src is None:
                raise BundleError(f"{image.name}: {member.name!r} cannot be read")
            (into / member.name).write_bytes(src.read())
    wheels = sorted(into.iterdir())
    ours = [p for p in wheels if WHEEL.match(p.name)]
    if len(ours) != 1:
        raise BundleError(f"{image.name} holds {len(ours)} chargepoint wheels (must be exactly 1)")
    for w in wheels:
        _check_wheel(w)
    m = WHEEL.match(ours[0].name)
    assert m is not None
    version = m.group("version")
    if not SLOT_NAME.match(version):
        raise BundleError(f"version {version!r} cannot name a slot")
    _metadata(ours[0], version)
    return Bundle(version, into, ours[0])
