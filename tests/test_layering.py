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


# -- who imports whom -------------------------------------------------------------------------------------------
# The packages of the main process and what each may import (besides itself and the standard library). The
# control process (`controller.evse`) imports nothing of the main process; services depend on `controller.ports`,
# never on the composition root (`controller.app`) or on `controller.station`, which only the root assembles.
BASE = {"controller.clock", "controller.timefmt", "controller.ports", "controller.statefile", "controller.redact"}
ALLOWED: dict[str, set[str]] = {
    "controller.clock": set(),
    "controller.timefmt": set(),
    "controller.statefile": set(),
    "controller.redact": set(),  # the one redaction helper (secrets never in any output)
    "controller.sdnotify": set(),
    "controller.supervise": {"controller.clock"},  # issue 11: the supervised-task runner
    "controller.ports": set(),  # and, for type checking only, the types it names
    "controller.config": {"board"},
    "controller.evse": {"board", "hal", "controller.clock", "controller.config", "controller.sdnotify"},
    "controller.transactions": BASE,
    "controller.energy": BASE | {"controller.config"},
    "controller.auth": BASE | {"controller.transactions", "controller.config"},
    "controller.leds": BASE | {"controller.config", "hal"},
    "controller.ocpp": BASE | {"controller.transactions", "controller.energy", "controller.evse", "controller.config",
                               "controller.firmware"},
    "controller.firmware": BASE,  # issue 12: the A/B slots
    "controller.modbus": BASE | {"controller.energy", "controller.ocpp", "controller.config"},
    "controller.scn": BASE | {"board", "controller.energy", "controller.modbus", "controller.config"},  # issue 13
    "controller.mqtt": BASE | {"board", "controller.energy"},  # issue 14: the MQTT bridge
    "controller.station": BASE | {"controller.auth", "controller.config", "controller.energy", "controller.evse",
                                  "controller.leds", "controller.ocpp", "controller.transactions"},
    "controller.simcontrol": BASE | {"controller.evse", "hal"},
    "controller.backoffice": BASE,
    "controller.web": BASE | {"controller.config", "controller.evse"},  # issue 14: the local web interface
    "controller.metering": BASE | {"controller.config", "controller.ocpp", "controller.transactions", "hal"},  # issue 13: relays the signing meters
}
ROOTS = {"controller.app", "controller.__main__", "controller.demo"}  # composition roots and entry points


def package(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:2]) if parts[0] == "controller" else parts[0]


def runtime_imports(path: Path) -> set[str]:
    """Modules imported at run time (not those under `if TYPE_CHECKING:`), absolute names."""
    tree = ast.parse(path.read_text(), str(path))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            type_only.update(id(n) for n in ast.walk(node))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def target(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "controller":
        return ".".join(parts[:2])
    return parts[0] if parts[0] in ("hal", "board", "hil") else None


def test_who_imports_whom() -> None:
    offenders: list[str] = []
    for path in (ROOT / "controller").rglob("*.py"):
        pkg = package(path)
        if pkg in ROOTS or pkg == "controller.__init__":
            continue
        allowed = ALLOWED.get(pkg)
        assert allowed is not None, f"{pkg} is not in the layering table"
        for module in runtime_imports(path):
            t = target(module)
            if t is not None and t != pkg and t not in allowed:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_hal_knows_nothing_of_the_controller_but_its_clock() -> None:
    offenders = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in (ROOT / "hal").rglob("*.py")
        for m in runtime_imports(p)
        if m.startswith("controller") and m != "controller.clock"
    ]
    assert offenders == []


def test_no_service_takes_the_station_object() -> None:
    """`station: Any` is gone: no parameter or attribute of the controller is named `station` and typed Any."""
    offenders = []
    for path in (ROOT / "controller").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.arg | ast.AnnAssign):
                name = node.arg if isinstance(node, ast.arg) else getattr(node.target, "id", getattr(node.target, "attr", ""))
                ann = node.annotation
                if name == "station" and isinstance(ann, ast.Name) and ann.id == "Any":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# -- sizes (issue 10, "One truth per seam") ------------------------------------------------------------------------
# The composition root only composes, and no class grows into a god object: past these a part is split, not grown.
ROOT_MAX_LINES = 300
CLASS_MAX_LINES = 400


def test_the_composition_root_stays_small() -> None:
    lines = len((ROOT / "controller" / "app.py").read_text().splitlines())
    assert lines <= ROOT_MAX_LINES, f"controller/app.py has {lines} lines (at most {ROOT_MAX_LINES})"


def test_no_class_in_the_controller_is_too_big() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} has {node.end_lineno - node.lineno + 1} lines"
        for path in (ROOT / "controller").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 >= CLASS_MAX_LINES
    ]
    assert offenders == []
