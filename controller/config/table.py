"""Human-readable tables of the configuration keys: a text table for the console and Markdown for the docs.

Owns the presentation only (`chargepoint keys [--markdown]` calls these). `python -m controller.config.table
--markdown` regenerates `docs/configuration-keys.md` from the key table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from controller.config.keys import MEASURAND_PHASES, OCPP_PHASES, PASSWORD_KEYS, Access, KeySpec, KeyType
from controller.config.notes import NOTES
from controller.config.registry import MAX_VALUE_LENGTH, ConfigRegistry
from controller.config.store import ConfigStore

WRITE_ONLY = "(write-only)"
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration-keys.md"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _compact_options(options: Iterable[str]) -> list[str]:
    """Fold phase variants: Voltage, Voltage.L1-N, ... -> 'Voltage[.L1-N|...]'."""
    opts = list(options)
    out: list[str] = []
    for option in opts:
        base, _, suffix = option.rpartition(".")
        if base in opts and suffix in OCPP_PHASES:
            continue
        variants = [o[len(option) + 1:] for o in opts if o.startswith(option + ".") and
                    o[len(option) + 1:] in OCPP_PHASES]
        out.append(f"{option}[.{'|.'.join(variants)}]" if variants else option)
    return out


def type_range(spec: KeySpec, registry: ConfigRegistry | None = None) -> str:
    """Type and allowed values, e.g. 'int 30..2147483647 or 0', 'enum Idle|Resume', 'list<=9 of ...'."""
    t = spec.type
    if spec.name in PASSWORD_KEYS:
        return "password (10-40 chars)" + (", '{existing},{new}'" if spec.name == "PW-SetChargerPassword" else "")
    if t in (KeyType.INT, KeyType.FLOAT):
        text = t.value
        if spec.minimum is not None and spec.maximum is not None:
            text += f" {_num(spec.minimum)}..{_num(spec.maximum)}"
        elif spec.minimum is not None:
            text += f" >={_num(spec.minimum)}"
        elif spec.maximum is not None:
            text += f" <={_num(spec.maximum)}"
        if spec.special_values:
            text += " or " + ", ".join(spec.special_values)
        return text
    if t is KeyType.ENUM:
        return "enum " + "|".join(spec.options)
    if t is KeyType.CSL:
        limit = spec.max_items
        if registry is not None:
            limit = registry.max_items(spec)
        text = f"list (max {limit})"
        if spec.options:
            if spec.options[0] in MEASURAND_PHASES:
                text += " of measurands " + ", ".join(_compact_options(spec.options))
            else:
                text += " of " + "|".join(spec.options)
        if spec.item_pattern:
            text += f" items /{spec.item_pattern}/"
        return text
    if t is KeyType.URL:
        return f"url ({'|'.join(spec.schemes)})" + (f", max {spec.max_length}" if spec.max_length else "")
    if t is KeyType.IP:
        return "ip address"
    if t is KeyType.STRING:
        text = f"string[{spec.max_length}]" if spec.max_length else "string"
        if spec.item_pattern:
            text += f" /{spec.item_pattern}/"
        return text
    return t.value


def what_it_does(spec: KeySpec) -> str:
    parts = []
    if spec.hardware_note:
        parts.append(f"[{spec.hardware_note}]")
    if spec.name in NOTES:
        parts.append(f"[{NOTES[spec.name]}]")
    parts.append(spec.description)
    if spec.reboot_required:
        parts.append("(reboot required)")
    if spec.aliases:
        parts.append(f"(also answered as {', '.join(spec.aliases)})")
    return " ".join(parts)


def _current(registry: ConfigRegistry, spec: KeySpec) -> str:
    if spec.access is Access.W:
        return WRITE_ONLY
    return registry.get(spec.name)[:MAX_VALUE_LENGTH]


def _default(registry: ConfigRegistry, spec: KeySpec) -> str:
    if spec.access is Access.W and spec.name in PASSWORD_KEYS | {"AuthorizationKey", "ProxyPassword"}:
        return "(secret)"
    return registry.default(spec.name)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def render_text(registry: ConfigRegistry) -> str:
    """A console table: name, access, type/range, default, current value, what it does."""
    name_width = max(len(n) for spec in registry.all_specs() for n in spec.names)
    widths = (name_width, 3, 34, 18, 18)
    header = ("KEY", "ACC", "TYPE/RANGE", "DEFAULT", "CURRENT", "WHAT IT DOES")
    lines: list[str] = []

    def row(cells: tuple[str, ...]) -> str:
        fixed = "  ".join(_clip(c, w).ljust(w) for c, w in zip(cells[:-1], widths, strict=True))
        return f"{fixed}  {cells[-1]}".rstrip()

    category = None
    for spec in registry.all_specs():
        if spec.category != category:
            category = spec.category
            if lines:
                lines.append("")
            lines.append(f"== {category} ==")
            lines.append(row(header))
        kind, default, current, does = (type_range(spec, registry), _default(registry, spec),
                                        _current(registry, spec), what_it_does(spec))
        if len(kind) > widths[2]:
            does += f" Allowed: {kind}."
        for label, text, width in (("default", default, widths[3]), ("current", current, widths[4])):
            if len(text) > width:
                does += f" (full {label}: {text})"
        lines.append(row((spec.name, spec.access.value, kind, default, current, does)))
        for alias in spec.aliases:
            lines.append(row((alias, spec.access.value, f"alias of {spec.name}", "", "", "")))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if text else ""


def render_markdown(registry: ConfigRegistry, include_values: bool = False) -> str:
    """Markdown reference of every key, grouped by category."""
    specs = registry.all_specs()
    names = sum(len(s.names) for s in specs)
    ocpp = sum(1 for s in specs if s.origin == "OCPP")
    absent = sum(1 for s in specs if s.hardware_note)
    out = [
        "# Configuration keys",
        "",
        "<!-- Generated by `python -m controller.config.table --markdown` from controller/config/keys.py;"
        " do not edit by hand. -->",
        "",
        f"The controller answers {len(specs)} keys ({names} names including aliases): the Alfen Eve key list "
        f"and every standard OCPP 1.6 / security whitepaper key ({ocpp} keys of OCPP origin). "
        f"{absent} keys configure hardware this board does not have: they are stored and answered, "
        "but change nothing.",
        "",
        "- Access: R read-only, RW read/write, W write-only. Write-only keys never reveal their value: they "
        "are left out of a full GetConfiguration listing, and asked for by name they are answered without "
        "a value. The PW-* passwords are stored as salted hashes.",
        "- Aliases are one key under two names (one value); GetConfiguration answers with the name asked, "
        "a full listing shows both.",
        "- Booleans are `true`/`false` (case-insensitive on input); enumerations accept any case and are "
        "stored in the spelling shown; list items are case-sensitive.",
        "- A list key holds at most its `<Key>MaxLength` items where that key exists.",
        "- Defaults marked per order are set by the board file (`board_defaults`).",
        "",
    ]
    header = ["Key", "Access", "Type / range", "Default"]
    if include_values:
        header.append("Current")
    header += ["Reboot", "Owner", "What it does"]
    category = None
    for spec in specs:
        if spec.category != category:
            category = spec.category
            out += ["", f"## {category}", "", "| " + " | ".join(header) + " |",
                    "|" + "---|" * len(header)]
        key = f"`{spec.name}`" + "".join(f"<br>`{a}`" for a in spec.aliases)
        cells = [key, spec.access.value, _md(type_range(spec, registry)), f"`{_md(_default(registry, spec))}`"]
        if include_values:
            cells.append(f"`{_md(_current(registry, spec))}`")
        cells += ["yes" if spec.reboot_required else "", spec.owner, _md(what_it_does(spec))]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out).replace("``", "") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.config.table",
                                     description="Print the configuration key table.")
    parser.add_argument("--markdown", action="store_true",
                        help=f"write the Markdown reference (default {DOC_PATH})")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the Markdown ('-' = stdout)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="read current values from this state directory (config.json)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        state = args.state_dir if args.state_dir is not None else Path(tmp)
        registry = ConfigRegistry(ConfigStore(state / "config.json"))
        if args.markdown:
            text = render_markdown(registry)
            if args.output is not None and str(args.output) == "-":
                sys.stdout.write(text)
            else:
                target = args.output or DOC_PATH
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                print(f"wrote {target}")
        else:
            sys.stdout.write(render_text(registry))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
