"""Table tests of the pure authorisation logic (controller.auth): decisions, local list updates,
reservation answers."""

from __future__ import annotations

import pytest

from controller.auth import locallist
from controller.auth.decision import (
    AuthSettings,
    IdTagInfo,
    after_start_conf,
    allowance_used,
    decide,
    should_cache,
)
from controller.auth.reservations import Reservation, answer

NOW = 1_800_000_000.0
OK = IdTagInfo("Accepted")
OK_EXPIRED = IdTagInfo("Accepted", expiry=NOW - 1)
OK_FUTURE = IdTagInfo("Accepted", expiry=NOW + 3600)
BLOCKED = IdTagInfo("Blocked")
S = AuthSettings()  # list on, cache on, LocalPreAuthorize off, LocalAuthorizeOffline on, unknown offline refused
PRE = AuthSettings(local_pre_authorize=True)
UNKNOWN_OK = AuthSettings(allow_offline_unknown=True)
NO_OFFLINE = AuthSettings(local_authorize_offline=False, allow_offline_unknown=True)
NO_LIST = AuthSettings(local_list_enabled=False)
NO_CACHE = AuthSettings(cache_enabled=False)

# (name, settings, local list entry, cache entry, online, expected status, asks the back office, source)
DECISIONS = [
    ("online, nothing known: ask", S, None, None, True, "", True, "backoffice"),
    ("online, listed, no LocalPreAuthorize: ask", S, OK, None, True, "", True, "backoffice"),
    ("online, listed, LocalPreAuthorize: start at once", PRE, OK, None, True, "Accepted", False, "local-list"),
    ("online, cached, LocalPreAuthorize: start at once", PRE, None, OK_FUTURE, True, "Accepted", False, "cache"),
    ("online, cached but expired: ask", PRE, None, OK_EXPIRED, True, "", True, "backoffice"),
    ("online, blocked in the list: ask", PRE, BLOCKED, None, True, "", True, "backoffice"),
    ("online, cache disabled: ask", AuthSettings(local_pre_authorize=True, cache_enabled=False), None, OK, True,
     "", True, "backoffice"),
    ("offline, listed: accepted", S, OK, None, False, "Accepted", False, "local-list"),
    ("offline, cached: accepted", S, None, OK, False, "Accepted", False, "cache"),
    ("offline, list wins over cache", S, BLOCKED, OK, False, "Blocked", False, "local-list"),
    ("offline, list disabled: cache", NO_LIST, BLOCKED, OK, False, "Accepted", False, "cache"),
    ("offline, cache disabled, unknown refused", NO_CACHE, None, OK, False, "Invalid", False, "offline"),
    ("offline, cached expired", S, None, OK_EXPIRED, False, "Expired", False, "cache"),
    ("offline, unknown refused", S, None, None, False, "Invalid", False, "offline"),
    ("offline, unknown allowed", UNKNOWN_OK, None, None, False, "Accepted", False, "offline-unknown"),
    ("offline, known blocked never counts as unknown", UNKNOWN_OK, BLOCKED, None, False, "Blocked", False,
     "local-list"),
    ("offline, LocalAuthorizeOffline off: listed id not started", NO_OFFLINE, OK, None, False, "Invalid", False,
     "offline"),
    ("offline, LocalAuthorizeOffline off: unknown allowed", NO_OFFLINE, None, None, False, "Accepted", False,
     "offline-unknown"),
]


@pytest.mark.parametrize(
    ("name", "settings", "local", "cached", "online", "status", "ask", "source"), DECISIONS, ids=[d[0] for d in DECISIONS]
)
def test_decide(
    name: str, settings: AuthSettings, local: IdTagInfo | None, cached: IdTagInfo | None, online: bool,
    status: str, ask: bool, source: str,
) -> None:
    d = decide(settings, local, cached, online, NOW)
    assert (d.status, d.ask_backoffice, d.source) == (status, ask, source)


def test_settings_from_config_whitelist_switches_the_cache() -> None:
    class Cfg:
        values = {"WhiteListEnabled": "false", "AuthorizationCacheEnabled": "true"}

        def get_bool(self, key: str) -> bool:
            if key not in self.values:
                raise KeyError(key)
            return self.values[key] == "true"

    s = AuthSettings.from_config(Cfg())
    assert s.cache_enabled is False and s.local_list_enabled is True


@pytest.mark.parametrize(
    ("status", "stop_on_invalid", "abort_concurrent", "expected"),
    [
        ("Accepted", True, True, "continue"),
        (None, True, True, "continue"),
        ("Invalid", True, False, "stop"),
        ("Blocked", False, False, "suspend"),
        ("ConcurrentTx", False, False, "continue"),
        ("ConcurrentTx", False, True, "stop"),
    ],
)
def test_after_start_conf(status: str | None, stop_on_invalid: bool, abort_concurrent: bool, expected: str) -> None:
    assert after_start_conf(status, stop_on_invalid=stop_on_invalid, abort_concurrent=abort_concurrent) == expected


def test_energy_allowance_and_caching() -> None:
    assert not allowance_used(21.9, 22)
    assert allowance_used(22, 22)
    assert should_cache(S, in_local_list=False)
    assert not should_cache(S, in_local_list=True)
    assert not should_cache(NO_CACHE, in_local_list=False)


def entry(tag: str, status: str | None = "Accepted") -> dict[str, object]:
    return {"idTag": tag} if status is None else {"idTag": tag, "idTagInfo": {"status": status}}


CURRENT = {"A": OK, "B": OK}
UPDATES = [
    ("full replaces", "Full", 5, [entry("C")], "Accepted", {"C"}),
    ("full needs idTagInfo", "Full", 5, [entry("C", None)], "Failed", None),
    ("differential adds and removes", "Differential", 4, [entry("C"), entry("A", None)], "Accepted", {"B", "C"}),
    ("differential same version", "Differential", 3, [entry("C")], "VersionMismatch", None),
    ("differential older version", "Differential", 1, [entry("C")], "VersionMismatch", None),
    ("twice the same tag", "Full", 5, [entry("C"), entry("C")], "Failed", None),
    ("more than SendLocalListMaxLength", "Full", 5, [entry(f"T{i}") for i in range(4)], "Failed", None),
    ("list would exceed LocalAuthListMaxLength", "Differential", 4, [entry("C"), entry("D")], "Failed", None),
    ("full with an empty list clears", "Full", 6, [], "Accepted", set()),
]


@pytest.mark.parametrize(
    ("name", "kind", "version", "entries", "status", "tags"), UPDATES, ids=[u[0] for u in UPDATES]
)
def test_local_list_update(
    name: str, kind: str, version: int, entries: list[dict[str, object]], status: str, tags: set[str] | None
) -> None:
    upd = locallist.apply_update(CURRENT, 3, kind, version, entries, max_send=3, max_length=3)
    assert upd.status == status
    if tags is not None:
        assert upd.entries is not None and set(upd.entries) == tags


def test_local_list_disabled_and_version_report() -> None:
    upd = locallist.apply_update(CURRENT, 3, "Full", 4, [entry("C")], enabled=False, max_send=3, max_length=3)
    assert upd.status == "NotSupported"
    assert locallist.reported_version(0, 9) == 0
    assert locallist.reported_version(2, 9) == 9


R1 = Reservation(1, 1, "TAG", None, 0.0)
RESERVE = [
    ("free connector", 1, {1: "Available", 2: "Available"}, {}, 0, True, "Accepted"),
    ("charging", 1, {1: "Charging", 2: "Available"}, {}, 0, True, "Occupied"),
    ("preparing", 1, {1: "Preparing"}, {}, 0, True, "Occupied"),
    ("faulted", 1, {1: "Faulted"}, {}, 0, True, "Faulted"),
    ("unavailable", 1, {1: "Unavailable"}, {}, 0, True, "Unavailable"),
    ("reserved by another reservation", 1, {1: "Available"}, {1: R1}, 0, True, "Occupied"),
    ("unknown connector", 3, {1: "Available"}, {}, 0, True, "Rejected"),
    ("connector 0 not supported", 0, {1: "Available"}, {}, 0, False, "Rejected"),
    ("connector 0 with a free connector", 0, {1: "Charging", 2: "Available"}, {}, 0, True, "Accepted"),
    ("connector 0, the free one already held", 0, {1: "Charging", 2: "Available"}, {}, 1, True, "Occupied"),
    ("connector 0, all faulted", 0, {1: "Faulted", 2: "Faulted"}, {}, 0, True, "Faulted"),
    ("last free connector kept for connector 0", 2, {1: "Charging", 2: "Available"}, {}, 1, True, "Occupied"),
]


@pytest.mark.parametrize(
    ("name", "cid", "statuses", "others", "zero", "zero_ok", "expected"), RESERVE, ids=[r[0] for r in RESERVE]
)
def test_reserve_now_answer(
    name: str, cid: int, statuses: dict[int, str], others: dict[int, Reservation], zero: int, zero_ok: bool,
    expected: str,
) -> None:
    assert answer(cid, statuses, others, zero, zero_ok) == expected


def test_reservation_matches_parent() -> None:
    r = Reservation(1, 1, "TAG", "PARENT", 0.0)
    assert r.matches("TAG", None)
    assert r.matches("OTHER", "PARENT")
    assert not r.matches("OTHER", None)
    assert not r.matches(None, "PARENT")
