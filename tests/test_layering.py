"""Layering rules of DESIGN.md that can be checked statically."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARDWARE_LIBS = {"gpiozero", "smbus2", "serial", "pymodbus", "RPi", "spidev"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_controller_imports_hardware_libraries_only_through_hal() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(imports(p) & HARDWARE_LIBS)
        for p in (ROOT / "controller").rglob("*.py")
        if imports(p) & HARDWARE_LIBS
    }
    assert offenders == {}


def test_pymodbus_is_imported_in_one_adapter_module_at_most() -> None:
    users = [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and "pymodbus" in imports(p)]
    assert len(users) <= 1, users
