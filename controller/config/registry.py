"""The configuration registry: current values of every key, validation, OCPP Get/ChangeConfiguration semantics.

Owns the values in memory (defaults from `keys.KEYS`, overridden per order by the board file, overridden by
what the back office or the station set, persisted by `store.ConfigStore`), the validation rules of each key
type, the notification of the modules that apply a key (`subscribe`) and the live values of monitoring keys
(`register_live`).

Decisions:
- Key names are matched case-insensitively (OCPP 1.6 CiString50Type); the table's spelling is canonical. An alias (`HeartBeatInterval` for `HeartbeatInterval`) is the same key:
  one value. GetConfiguration answers with the name that was asked; the full listing lists every name.
- Write-only keys never reveal their value: they are left out of the full listing, and a request naming one
  gets an entry without "value" (readonly false). `get()` still returns the stored value to the station itself
  (the OCPP client needs AuthorizationKey); the PW-* passwords are stored only as salted hashes.
- `set()` persists (fsynced) before it returns and before subscribers run. Every accepted write notifies the
  subscribers, even when the value did not change (write-to-act keys like CalibrateTilt rely on it).
- Booleans are accepted case-insensitively and stored as "true"/"false"; ENUM values are accepted
  case-insensitively and stored in the documented spelling; CSL items are case-sensitive (OCPP measurands).
- CSL item limit: the current value of `<Key>MaxLength` when that key exists, else `KeySpec.max_items`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum

from controller.config import validation
from controller.config.keys import (
    KEYS,
    PASSWORD_KEYS,
    Access,
    KeySpec,
)
from controller.config.notes import NOTES
from controller.config.store import ConfigStore
from controller.config.validation import FLOAT_RE, INT_RE, MAX_VALUE_LENGTH

log = logging.getLogger(__name__)

_HASH_PREFIX = "pbkdf2_sha256$"
_HASH_ROUNDS = 60_000


class ChangeStatus(StrEnum):
    ACCEPTED = "Accepted"
    REBOOT_REQUIRED = "RebootRequired"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _HASH_ROUNDS)
    return f"{_HASH_PREFIX}{salt.hex()}${digest.hex()}"


def _password_matches(stored: str, candidate: str) -> bool:
    if stored.startswith(_HASH_PREFIX):
        try:
            salt_hex, _ = stored[len(_HASH_PREFIX):].split("$", 1)
            salt = bytes.fromhex(salt_hex)
        except ValueError:
            return False
        return hmac.compare_digest(hash_password(candidate, salt), stored)
    # A plain default (e.g. the initial password from the board file).
    return hmac.compare_digest(stored.encode("utf-8"), candidate.encode("utf-8"))


class ConfigRegistry:
    def __init__(
        self,
        store: ConfigStore,
        keys: Sequence[KeySpec] = KEYS,
        board_defaults: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._specs: tuple[KeySpec, ...] = tuple(keys)
        self._by_name: dict[str, KeySpec] = {}
        for spec in self._specs:
            for name in spec.names:
                if name in self._by_name:
                    raise ValueError(f"configuration key {name!r} declared twice")
                self._by_name[name] = spec
        self._by_lower: dict[str, KeySpec] = {}
        for name, spec in self._by_name.items():
            if self._by_lower.setdefault(name.lower(), spec) is not spec:
                raise ValueError(f"configuration key {name!r} differs from another only in case")
        self._lock = threading.RLock()
        self._subscribers: dict[str, list[Callable[[str, str], None]]] = {}
        self._live: dict[str, Callable[[], str]] = {}
        self._validators: dict[str, list[Callable[[str], str | None]]] = {}
        self._owners: dict[str, str] = {}  # key -> the service that applies it (`bind`)

        # Defaults: the table, overridden per order by the board file. Invalid board defaults fail early.
        self._defaults: dict[str, str] = {s.name: s.default for s in self._specs}
        for name, value in (board_defaults or {}).items():
            found = self.spec(name)
            if found is None:
                raise ValueError(f"board default for unknown configuration key {name!r}")
            spec = found
            if spec.name in PASSWORD_KEYS:
                reason = validation.check_password_text(value)
                normal = value
            else:
                reason = self.check(spec, value)
                normal = self._normalize(spec, value)
            if reason is not None:
                raise ValueError(f"board default {name}={value!r} is invalid: {reason}")
            self._defaults[spec.name] = normal

        # Stored values: keep only valid, non-default ones; keep unknown keys untouched.
        self._values: dict[str, str] = {}
        self._unknown: dict[str, str] = {}
        for name, value in store.values.items():
            found = self.spec(name)
            if found is None:
                self._unknown[name] = value
                continue
            spec = found
            if spec.name in PASSWORD_KEYS:
                reason = None if value.startswith(_HASH_PREFIX) else "not a password hash"
                normal = value
            else:
                reason = self.check(spec, value)
                normal = self._normalize(spec, value) if reason is None else value
            if reason is not None:
                problem = f"stored value {name}={value!r} ignored: {reason}"
                log.warning("%s", problem)
                store.problems.append(problem)
                continue
            if normal != self._defaults[spec.name]:
                self._values[spec.name] = normal

    @property
    def problems(self) -> list[str]:
        """What went wrong loading the stored values (corrupt file set aside, invalid values ignored)."""
        return self._store.problems

    # -- lookup ----------------------------------------------------------------------------------------
    def spec(self, name: str) -> KeySpec | None:
        """The key named `name` (or an alias), matched case-insensitively: OCPP key names are CiString."""
        found = self._by_name.get(name)
        if found is None and isinstance(name, str):
            found = self._by_lower.get(name.lower())
        return found

    def all_specs(self) -> Sequence[KeySpec]:
        return self._specs

    def _require(self, name: str) -> KeySpec:
        spec = self.spec(name)
        if spec is None:
            raise KeyError(name)
        return spec

    def default(self, name: str) -> str:
        """The effective default (board file over the key table)."""
        return self._defaults[self._require(name).name]

    def stored(self, name: str) -> str:
        """The configured value, ignoring any live provider."""
        spec = self._require(name)
        with self._lock:
            return self._values.get(spec.name, self._defaults[spec.name])

    def get(self, name: str) -> str:
        spec = self._require(name)
        provider = self._live.get(spec.name)
        if provider is not None:
            try:
                return str(provider())
            except Exception:  # a broken provider must not break GetConfiguration
                log.exception("live value provider for %s failed", spec.name)
        return self.stored(spec.name)

    def get_int(self, name: str) -> int:
        value = self.get(name).strip()
        if not INT_RE.fullmatch(value):
            raise ValueError(f"{name}={value!r} is not an integer")
        return int(value)

    def get_float(self, name: str) -> float:
        value = self.get(name).strip()
        if not FLOAT_RE.fullmatch(value):
            raise ValueError(f"{name}={value!r} is not a number")
        return float(value)

    def get_bool(self, name: str) -> bool:
        value = self.get(name).strip().lower()
        if value in ("true", "on"):
            return True
        if value in ("false", "off"):
            return False
        raise ValueError(f"{name}={value!r} is not a boolean")

    def get_list(self, name: str) -> list[str]:
        return [item.strip() for item in self.get(name).split(",") if item.strip()]

    # -- validation ------------------------------------------------------------------------------------
    def validate(self, name: str, value: str) -> str | None:
        """None if `value` may be written to `name` by the back office, else a human-readable reason."""
        spec = self.spec(name)
        if spec is None:
            return f"unknown configuration key {name!r}"
        return self._validate_change(spec, value)

    def _validate_change(self, spec: KeySpec, value: str) -> str | None:
        if spec.name in PASSWORD_KEYS:
            return self._check_password_change(spec, value)
        reason = self.check(spec, value)
        if reason is not None:
            return reason
        if spec.name == "SecurityProfile":
            new, current = int(value), self.get_int("SecurityProfile")
            if new < current:
                return f"SecurityProfile can only be raised (current {current})"
            if new in (1, 2) and not self.stored("AuthorizationKey"):
                return f"SecurityProfile {new} needs an AuthorizationKey first"
        for extra in self._validators.get(spec.name, ()):
            reason = extra(self._normalize(spec, value))
            if reason is not None:
                return reason
        return None

    def check(self, spec: KeySpec, value: str) -> str | None:
        """Type, range and format rules of `spec` (no state-dependent rules)."""
        return validation.check(spec, value, self.max_items)

    def max_items(self, spec: KeySpec) -> int:
        companion = self._by_name.get(spec.name + "MaxLength")
        if companion is not None:
            try:
                return int(self.stored(companion.name))
            except ValueError:
                pass
        return spec.max_items if spec.max_items is not None else 1

    def _check_password_change(self, spec: KeySpec, value: str) -> str | None:
        if spec.name == "PW-SetChargerPassword":
            if value.count(",") != 1:
                return "expected '{existing},{new}'"
            existing, new = value.split(",")
            if not self.check_password(spec.name, existing):
                return "the existing password does not match"
            return validation.check_password_text(new)
        return validation.check_password_text(value)

    def check_password(self, name: str, candidate: str) -> bool:
        """Whether `candidate` is the current password of a PW-* key. No password set: only '' matches."""
        spec = self._require(name)
        if spec.name not in PASSWORD_KEYS:
            raise KeyError(f"{name} is not a password key")
        stored = self.stored(spec.name)
        if stored == "":
            return candidate == ""
        return _password_matches(stored, candidate)

    def _normalize(self, spec: KeySpec, value: str) -> str:
        return validation.normalize(spec, value)

    def _stored_form(self, spec: KeySpec, value: str) -> str:
        if spec.name == "PW-SetChargerPassword":
            return hash_password(value.split(",", 1)[1])
        if spec.name == "PW-SetTempAccessKey":
            return hash_password(value)
        return self._normalize(spec, value)

    # -- writing ---------------------------------------------------------------------------------------
    def set(self, name: str, value: str) -> ChangeStatus:
        """OCPP ChangeConfiguration."""
        spec = self.spec(name)
        if spec is None:
            return ChangeStatus.NOT_SUPPORTED
        if spec.access is Access.R:
            log.info("ChangeConfiguration %s rejected: read-only", name)
            return ChangeStatus.REJECTED
        with self._lock:
            reason = self._validate_change(spec, value)
            if reason is not None:
                log.info("ChangeConfiguration %s rejected: %s", name, reason)
                return ChangeStatus.REJECTED
            stored = self._stored_form(spec, value)
            try:
                self._commit(spec, stored)
            except OSError as exc:
                log.error("ChangeConfiguration %s: cannot persist: %s", name, exc)
                return ChangeStatus.REJECTED
        self._notify(spec, stored)
        return ChangeStatus.REBOOT_REQUIRED if spec.reboot_required else ChangeStatus.ACCEPTED

    def set_internal(self, name: str, value: str) -> None:
        """For the station itself: bypasses access and monotonic rules, still validates (ValueError)."""
        spec = self._require(name)
        with self._lock:
            if spec.name in PASSWORD_KEYS:
                reason = self._check_password_change(spec, value)
            else:
                reason = self.check(spec, value)
            if reason is not None:
                raise ValueError(f"{name}={value!r}: {reason}")
            stored = self._stored_form(spec, value)
            self._commit(spec, stored)
        self._notify(spec, stored)

    def _commit(self, spec: KeySpec, stored: str) -> None:
        values = dict(self._values)
        if stored == self._defaults[spec.name]:
            values.pop(spec.name, None)
        else:
            values[spec.name] = stored
        if values != self._values or not self._store.path.exists():
            self._store.save({**self._unknown, **values})
        self._values = values

    def _notify(self, spec: KeySpec, value: str) -> None:
        for callback in list(self._subscribers.get(spec.name, ())):
            try:
                callback(spec.name, value)
            except Exception:  # one broken subscriber must not stop the others or the reply
                log.exception("configuration subscriber for %s failed", spec.name)

    def subscribe(self, name: str, callback: Callable[[str, str], None]) -> None:
        """`callback(canonical_name, new_value)` after every accepted write of `name` (or an alias)."""
        self._subscribers.setdefault(self._require(name).name, []).append(callback)

    def register_live(self, name: str, provider: Callable[[], str]) -> None:
        """Read `name` from `provider()` instead of the store (monitoring keys)."""
        self._live[self._require(name).name] = provider

    def register_validator(self, name: str, validator: Callable[[str], str | None]) -> None:
        """An owning module's extra rule for ChangeConfiguration (e.g. prerequisites); returns a reason or None."""
        self._validators.setdefault(self._require(name).name, []).append(validator)

    # -- owners --------------------------------------------------------------------------------------
    def bind(
        self,
        owner: str,
        names: Iterable[str],
        *,
        on_change: Callable[[str, str], None] | None = None,
        validator: Callable[[str], str | None] | None = None,
        live: Callable[[], str] | None = None,
    ) -> None:
        """`owner` applies `names`: it reads them where it uses them, and (optionally) is told of every change,
        validates a new value beyond its type and range (a reason refuses it), or provides a live value. A key
        has one owner; binding it to a second one is an error (others may still read or subscribe)."""
        for name in names:
            spec = self._require(name)
            prev = self._owners.get(spec.name)
            if prev is not None and prev != owner:
                raise ValueError(f"configuration key {spec.name!r} is bound by {prev}, not also by {owner}")
            self._owners[spec.name] = owner
            if on_change is not None:
                self.subscribe(spec.name, on_change)
            if validator is not None:
                self.register_validator(spec.name, validator)
            if live is not None:
                self.register_live(spec.name, live)

    def owner(self, name: str) -> str | None:
        """The service that applies `name` (None: nobody bound it)."""
        return self._owners.get(self._require(name).name)

    def unbound_writable(self) -> list[str]:
        """Writable keys no owner applies, that configure no absent hardware and that `notes.NOTES` does not
        explain: what ChangeConfiguration would store without anything happening."""
        return [
            s.name
            for s in self._specs
            if s.access is not Access.R and s.name not in self._owners and not s.hardware_note and s.name not in NOTES
        ]

    # -- GetConfiguration ------------------------------------------------------------------------------
    def _entry(self, asked: str, spec: KeySpec) -> dict:
        entry: dict = {"key": asked, "readonly": spec.access is Access.R}
        if spec.access is not Access.W:
            entry["value"] = self.get(spec.name)[:MAX_VALUE_LENGTH]
        return entry

    def get_configuration(self, keys: Sequence[str] | None) -> tuple[list[dict], list[str]]:
        """OCPP GetConfiguration: (configurationKey entries, unknownKey names)."""
        entries: list[dict] = []
        unknown: list[str] = []
        if not keys:
            for spec in self._specs:
                if spec.access is Access.W:
                    continue  # write-only keys are not listed at all
                for name in spec.names:
                    entries.append(self._entry(name, spec))
            return entries, unknown
        try:
            limit = self.get_int("GetConfigurationMaxKeys")
        except ValueError:
            limit = len(keys)
        for name in list(keys)[:limit]:
            asked = self.spec(name)
            if asked is None:
                unknown.append(name)
            else:
                entries.append(self._entry(name, asked))
        return entries, unknown


