"""Tiny slots and bundles for the A/B tests: a slot is a directory with bin/python (this interpreter) and a
bin/chargepoint script; a bundle is a tar of small but well-formed wheels. Built in milliseconds."""

from __future__ import annotations

import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

# what `slot_install_command` runs in the tests instead of venv + pip: a slot from the bundle's wheel
MAKE_SLOT = """\
import os, shutil, sys
slot, bundle, version = sys.argv[1:4]
os.makedirs(os.path.join(slot, "bin"))
os.symlink(sys.executable, os.path.join(slot, "bin", "python"))
shutil.copy(os.path.join(bundle, f"chargepoint-{version}-py3-none-any.whl"), slot)
script = os.path.join(slot, "bin", "chargepoint")
with open(script, "w") as f:
    f.write(f"#!/bin/sh\\necho chargepoint {version} \\"$@\\"\\n")
os.chmod(script, 0o755)
"""


def make_slot(root: Path, version: str, exit_status: int = 0) -> Path:
    """A slot whose bin/chargepoint says its version (and exits with `exit_status`: a version that crashes)."""
    slot = root / version
    (slot / "bin").mkdir(parents=True)
    os.symlink(sys.executable, slot / "bin" / "python")
    script = slot / "bin" / "chargepoint"
    script.write_text(f'#!/bin/sh\necho "chargepoint {version} $*"\nexit {exit_status}\n')
    script.chmod(0o755)
    return slot


def wheel(name: str, version: str, metadata_version: str | None = None, corrupt: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        dist = f"{name}-{version}.dist-info"
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {metadata_version or version}\n")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{name}/__init__.py", "VALUE = 1\n" * 50)
    data = buf.getvalue()
    if corrupt:  # a flipped byte inside the compressed member: the CRC check fails
        i = data.index(b"VALUE") if b"VALUE" in data else len(data) // 3
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
    return data


def bundle(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def good_bundle(version: str) -> bytes:
    return bundle({f"chargepoint-{version}-py3-none-any.whl": wheel("chargepoint", version),
                   "dep-1.0-py3-none-any.whl": wheel("dep", "1.0")})


def installable_wheel(version: str) -> bytes:
    """A real (tiny) chargepoint wheel pip installs, with the `chargepoint` console script saying its version."""
    import base64
    import hashlib

    dist = f"chargepoint-{version}.dist-info"
    files = {
        "chargepoint_fake.py": f"def main():\n    print('chargepoint {version}')\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: chargepoint\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\nchargepoint = chargepoint_fake:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()
