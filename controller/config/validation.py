"""The rules a configuration value must follow (pure): type, range, options, list items, URL and password
formats, and the stored (normalised) form of a valid value. The registry applies them; nothing here reads or
keeps values."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from controller.config.keys import MEASURAND_PHASES, OCPP_PHASES, PASSWORD_PATTERN, KeySpec, KeyType

MAX_VALUE_LENGTH = 500  # OCPP 1.6 KeyValue.value
INT_RE = re.compile(r"[+-]?\d+")
FLOAT_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_IPV4_LEADING_ZEROS_RE = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """IPv4/IPv6; also the zero-padded IPv4 form the Alfen document uses ("192.168.000.005")."""
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        m = _IPV4_LEADING_ZEROS_RE.fullmatch(value)
        if m is None:
            raise
        return ipaddress.IPv4Address(".".join(str(int(part)) for part in m.groups()))


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def check(spec: KeySpec, value: str, max_items: Callable[[KeySpec], int]) -> str | None:
    """Type, range and format rules of `spec` (no state-dependent rules)."""
    if not isinstance(value, str):
        return "value must be a string"
    limit = min(spec.max_length or MAX_VALUE_LENGTH, MAX_VALUE_LENGTH)
    if len(value) > limit:
        return f"longer than {limit} characters"
    if _CONTROL_RE.search(value):
        return "contains control characters"
    if value in spec.special_values:
        return None
    t = spec.type
    if t is KeyType.BOOL:
        if value.strip().lower() not in ("true", "false"):
            return "expected true or false"
        return None
    if t is KeyType.INT:
        if not INT_RE.fullmatch(value.strip()):
            return "expected an integer"
        return _check_range(spec, int(value))
    if t is KeyType.FLOAT:
        if not FLOAT_RE.fullmatch(value.strip()):
            return "expected a number"
        number = float(value)
        if not math.isfinite(number):
            return "expected a finite number"
        return _check_range(spec, number)
    if t is KeyType.ENUM:
        if enum_option(spec, value) is None:
            return f"expected one of {', '.join(spec.options)}"
        return None
    if t is KeyType.CSL:
        return _check_csl(spec, value, max_items)
    if t is KeyType.IP:
        try:
            parse_ip(value.strip())
        except ValueError:
            return "expected an IPv4 or IPv6 address"
        return None
    if t is KeyType.URL:
        return _check_url(spec, value)
    # STRING
    if spec.item_pattern is not None and not re.fullmatch(spec.item_pattern, value):
        return f"does not match the format {spec.item_pattern}"
    return None


def _check_range(spec: KeySpec, number: float) -> str | None:
    also = f" (or {', '.join(spec.special_values)})" if spec.special_values else ""
    if spec.minimum is not None and number < spec.minimum:
        return f"below the minimum {_fmt(spec.minimum)}{also}"
    if spec.maximum is not None and number > spec.maximum:
        return f"above the maximum {_fmt(spec.maximum)}{also}"
    return None


def enum_option(spec: KeySpec, value: str) -> str | None:
    wanted = value.strip().lower()
    for option in spec.options:
        if option.lower() == wanted:
            return option
    return None


def _check_csl(spec: KeySpec, value: str, max_items: Callable[[KeySpec], int]) -> str | None:
    if value.strip() == "":
        return None
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        return "empty item in the list"
    limit = max_items(spec)
    if len(items) > limit:
        return f"more than {limit} item{'s' if limit != 1 else ''}"
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return f"{item!r} listed twice"
        seen.add(item)
        if spec.options and item not in spec.options:
            return _explain_bad_item(spec, item)
        if spec.item_pattern is not None and not re.fullmatch(spec.item_pattern, item):
            return f"{item!r} does not match the format {spec.item_pattern}"
    return None


def _explain_bad_item(spec: KeySpec, item: str) -> str:
    if spec.options and spec.options[0] in MEASURAND_PHASES:
        for base, phases in MEASURAND_PHASES.items():
            if item.startswith(base + "."):
                suffix = item[len(base) + 1:]
                if suffix in OCPP_PHASES or suffix in phases:
                    allowed = ", ".join(phases) if phases else "none"
                    return f"phase {suffix!r} is not supported for {base} (supported: {allowed})"
        return f"{item!r} is not a supported measurand ({', '.join(MEASURAND_PHASES)})"
    return f"{item!r} is not one of {', '.join(spec.options)}"


def _check_url(spec: KeySpec, value: str) -> str | None:
    if value == "":
        return None  # not configured
    if any(c.isspace() for c in value):
        return "URL contains whitespace"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if spec.schemes and parts.scheme.lower() not in spec.schemes:
        return f"URL scheme must be one of {', '.join(spec.schemes)}"
    if not parts.hostname:
        return "URL has no host"
    return None


def check_password_text(password: str) -> str | None:
    if not re.fullmatch(PASSWORD_PATTERN, password):
        return "password must be 10-40 characters without backslash, double quote, comma or control chars"
    return None


def normalize(spec: KeySpec, value: str) -> str:
    """The stored form of a valid value."""
    if value in spec.special_values:
        return value
    t = spec.type
    if t is KeyType.BOOL:
        return value.strip().lower()
    if t is KeyType.INT:
        return str(int(value))
    if t is KeyType.FLOAT:
        return value.strip()
    if t is KeyType.ENUM:
        return enum_option(spec, value) or value
    if t is KeyType.CSL:
        return ",".join(item.strip() for item in value.split(",") if item.strip())
    if t is KeyType.IP:
        return value.strip()
    return value
