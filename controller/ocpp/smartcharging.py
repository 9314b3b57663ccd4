"""The SmartCharging feature profile: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule, and
the application of the installed profiles to the current the station offers.

`SmartCharging` owns the installed profiles (persisted atomically in `charging_profiles.json` under the
state directory), validates new ones against the configuration keys (ChargeProfileMaxStackLevel,
MaxChargingProfilesInstalled, ChargingScheduleMaxPeriods, ChargingScheduleAllowedChargingRateUnit) and the
state (a TxProfile needs a running transaction on its connector; it is removed when that transaction ends),
and tells the station the limits in force now (`caps`). The maths is in `controller.energy.schedules`.
`run()` wakes the station at every period boundary (through the injectable clock) so it re-allocates.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import (
    Action,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
)

from controller.clock import Clock
from controller.energy import schedules as sch
from controller.ports import ChangeBus, Settings, Trace
from controller.statefile import StateWriteError, read_json, write_json
from controller.timefmt import parse_time_or_none
from controller.transactions.sessions import Session

FILE = "charging_profiles.json"
SHAPE = [{"connectorId": int}]  # each entry is further checked by profile_from_ocpp
CONFIG_KEYS = ("ChargeProfileMaxStackLevel", "MaxChargingProfilesInstalled", "ChargingScheduleMaxPeriods",
               "ChargingScheduleAllowedChargingRateUnit")


class TransactionRecord(Protocol):
    @property
    def remote_id(self) -> int | None: ...
    @property
    def start_time(self) -> str: ...


class Transactions(Protocol):
    """The journal, as far as smart charging reads it."""

    def transaction(self, local_id: int) -> TransactionRecord | None: ...


class SessionsView(Protocol):
    @property
    def sessions(self) -> Mapping[int, Session]: ...


class SmartCharging:
    """Installed charging profiles and the limits they impose."""

    def __init__(
        self,
        state_dir: Path,
        settings: Settings,
        clock: Clock,
        phases: Mapping[int, int],
        sessions: SessionsView,
        journal: Transactions,
        socket_max: Callable[[int], float],
        changes: ChangeBus,
        trace: Trace,
        power_phases: Callable[[int], int] | None = None,
    ) -> None:
        self._settings = settings
        self._power_phases = power_phases
        self._clock = clock
        self._phases_of = dict(phases)
        self._sessions = sessions
        self._journal = journal
        self._socket_max = socket_max
        self._changes = changes
        self._trace = trace
        self.path: Path = state_dir / FILE
        self._raw: list[dict[str, Any]] = []  # wire form (camelCase) + "connectorId"
        self.profiles: list[sch.Profile] = []
        self._wake = asyncio.Event()
        self._load()

    # -- persistence -------------------------------------------------------------------------------------------
    def _load(self) -> None:
        raw = read_json(self.path, [], SHAPE)
        good: list[dict[str, Any]] = []
        for entry in raw:
            try:
                self.profiles.append(sch.profile_from_ocpp(entry, int(entry["connectorId"])))
                good.append(entry)
            except (sch.ProfileError, KeyError, TypeError, ValueError):
                continue
        self._raw = good
        # TxProfiles of transactions that ended while we were down are void
        self._drop_stale_tx_profiles()

    def _replace_all(self, pairs: list[tuple[dict[str, Any], sch.Profile]]) -> None:
        """Persist, then apply. Raises StateWriteError (nothing changed) when the file cannot be written."""
        raw = [r for r, _ in pairs]
        write_json(self.path, raw)
        self._raw = raw
        self.profiles = [p for _, p in pairs]
        self._wake.set()

    def _drop(self, pairs: list[tuple[dict[str, Any], sch.Profile]]) -> None:
        """Forget profiles that are void anyway (TxProfiles of ended transactions; dropped again at load)."""
        try:
            self._replace_all(pairs)
        except StateWriteError:
            self._raw = [r for r, _ in pairs]
            self.profiles = [p for _, p in pairs]
            self._wake.set()

    def _pairs(self) -> list[tuple[dict[str, Any], sch.Profile]]:
        return list(zip(self._raw, self.profiles, strict=True))

    def _drop_stale_tx_profiles(self) -> None:
        sessions = self._sessions
        keep = [
            (r, p)
            for r, p in self._pairs()
            if p.purpose != sch.TX or sessions.sessions.get(p.connector_id, None) is not None
            and sessions.sessions[p.connector_id].in_transaction
        ]
        if len(keep) != len(self._raw):
            self._drop(keep)

    # -- the context of a connector ----------------------------------------------------------------------------
    def now(self) -> float:
        return float(self._clock.now().timestamp())

    def _phases(self, cid: int) -> int:
        """The phases a limit in W is spread over (`power_phases`: those the car really draws on; 0: the
        station's), else the socket's wiring."""
        if self._power_phases is not None:
            return int(self._power_phases(cid))
        return int(self._phases_of.get(cid, sch.DEFAULT_PHASES))

    def context(self, cid: int) -> sch.TxContext:
        if cid == 0:
            return sch.TxContext(0, phases=self._phases(0))
        s = self._sessions.sessions.get(cid)
        if s is None or s.local_tx is None:
            return sch.TxContext(cid, phases=self._phases(cid))
        rec = self._journal.transaction(s.local_tx)
        start: float | None = None
        tx_id: int | None = None
        if rec is not None:
            tx_id = rec.remote_id
            start = parse_time_or_none(rec.start_time)
        return sch.TxContext(cid, True, tx_id, start, self._phases(cid))

    # -- SetChargingProfile ------------------------------------------------------------------------------------
    def set_profile(self, connector_id: int, wire: Mapping[str, Any]) -> str:
        cfg = self._settings
        if connector_id != 0 and connector_id not in self._phases_of:
            return "Rejected"
        try:
            p = sch.profile_from_ocpp(wire, connector_id)
        except sch.ProfileError as exc:
            self._trace(f"SetChargingProfile rejected: {exc}")
            return "Rejected"
        reason = sch.validate(
            p,
            max_stack_level=cfg.get_int("ChargeProfileMaxStackLevel"),
            max_periods=cfg.get_int("ChargingScheduleMaxPeriods"),
            allowed_units=cfg.get_list("ChargingScheduleAllowedChargingRateUnit"),
        )
        if reason is None and p.purpose == sch.TX:
            ctx = self.context(connector_id)
            if not ctx.tx_active:
                reason = "TxProfile without a transaction on that connector"
            elif p.transaction_id is not None and ctx.tx_id is not None and p.transaction_id != ctx.tx_id:
                reason = f"transactionId {p.transaction_id} is not the running transaction {ctx.tx_id}"
        if reason is not None:
            self._trace(f"SetChargingProfile {p.id} rejected: {reason}")
            return "Rejected"
        keep = [
            (r, q)
            for r, q in self._pairs()
            if q.id != p.id
            and not (q.purpose == p.purpose and q.stack_level == p.stack_level and q.connector_id == p.connector_id)
        ]
        if len(keep) + 1 > cfg.get_int("MaxChargingProfilesInstalled"):
            self._trace(f"SetChargingProfile {p.id} rejected: MaxChargingProfilesInstalled reached")
            return "Rejected"
        raw = dict(snake_to_camel_case(dict(wire)))
        raw["connectorId"] = connector_id
        keep.append((raw, p))
        try:
            self._replace_all(keep)
        except StateWriteError as exc:
            self._trace(f"SetChargingProfile {p.id} rejected: {exc}")
            return "Rejected"
        self._trace(f"charging profile {p.id} installed ({p.purpose}, level {p.stack_level}, connector {connector_id})")
        self._changes.limits_changed()
        return "Accepted"

    def install_tx_profile(self, connector_id: int, wire: Mapping[str, Any]) -> str:
        """The chargingProfile of a RemoteStartTransaction, installed when its transaction has started."""
        return self.set_profile(connector_id, wire)

    @staticmethod
    def acceptable_remote_start_profile(wire: Mapping[str, Any]) -> bool:
        purpose = wire.get("chargingProfilePurpose", wire.get("charging_profile_purpose"))
        return purpose == sch.TX

    # -- ClearChargingProfile ----------------------------------------------------------------------------------
    def clear(
        self,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> str:
        def matches(p: sch.Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        keep = [(r, p) for r, p in self._pairs() if not matches(p)]
        if len(keep) == len(self._raw):
            return "Unknown"
        try:
            self._replace_all(keep)
        except StateWriteError as exc:  # nothing cleared; Unknown is the only refusal ClearChargingProfile has
            self._trace(f"ClearChargingProfile not applied: {exc}")
            return "Unknown"
        self._changes.limits_changed()
        return "Accepted"

    def on_transaction_end(self, connector_id: int) -> None:
        keep = [(r, p) for r, p in self._pairs() if not (p.purpose == sch.TX and p.connector_id == connector_id)]
        if len(keep) != len(self._raw):
            self._drop(keep)

    # -- GetCompositeSchedule ----------------------------------------------------------------------------------
    def hardware_cap(self, cid: int) -> float:
        station_max = float(self._settings.get_float("Station-MaxCurrent"))
        if cid == 0:
            return station_max
        return min(station_max, float(self._socket_max(cid)))

    def composite(self, connector_id: int, duration: int, unit: str | None) -> dict[str, Any] | None:
        if connector_id != 0 and connector_id not in self._phases_of:
            return None
        allowed = self._settings.get_list("ChargingScheduleAllowedChargingRateUnit")
        if unit is None:
            unit = "A" if "Current" in allowed else "W"
        ctx = self.context(connector_id)
        comp = sch.composite(self.profiles, ctx, self.now(), int(duration), unit, cap=self.hardware_cap(connector_id))
        return sch.composite_to_ocpp(comp)

    # -- the limits now ----------------------------------------------------------------------------------------
    def caps(self) -> tuple[float, dict[int, float]]:
        """(station cap, per-connector cap) in A now; math.inf where no profile limits."""
        now = self.now()
        st = sch.station_limit(self.profiles, now, phases=self._phases(0))
        per: dict[int, float] = {}
        for cid in self._phases_of:
            got = sch.connector_limit(self.profiles, now, self.context(cid))
            per[cid] = math.inf if got is None else got[0]
        return (math.inf if st is None else st), per

    def number_phases(self, cid: int) -> int | None:
        """numberPhases of the connector's schedule period in force (TxProfile, else TxDefaultProfile, else
        the station's ChargePointMaxProfile); None where none says. A socket with a phase relay follows it."""
        now = self.now()
        got = sch.connector_limit(self.profiles, now, self.context(cid))
        if got is None or got[1] is None:
            got = sch.purpose_limit(self.profiles, sch.CP_MAX, now, sch.TxContext(0, phases=self._phases(0)), now)
        return None if got is None else got[1]

    def next_change(self) -> float | None:
        ctxs = [sch.TxContext(0), *(self.context(cid) for cid in self._phases_of)]
        return sch.next_change(self.profiles, self.now(), ctxs)

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Re-allocate at every boundary of a running schedule (and whenever the profiles change)."""
        while True:
            self._wake.clear()
            nxt = self.next_change()
            waker = asyncio.ensure_future(self._wake.wait())
            tasks: set[asyncio.Future[Any]] = {waker}
            sleeper: asyncio.Future[Any] | None = None
            if nxt is not None:
                sleeper = asyncio.ensure_future(self._clock.sleep(max(0.0, nxt - self.now()) + 0.001))
                tasks.add(sleeper)
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in tasks:
                    t.cancel()
            if sleeper is not None and sleeper.done() and not sleeper.cancelled():
                self._trace("charging schedule boundary: re-allocating current")
                self._changes.limits_changed()


class SmartChargingApi(Protocol):
    def set_profile(self, connector_id: int, wire: Mapping[str, Any]) -> str: ...

    def clear(
        self,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> str: ...

    def composite(self, connector_id: int, duration: int, unit: str | None) -> dict[str, Any] | None: ...


class SmartChargingHandlers:
    """OCPP handlers of the SmartCharging profile (mixed into OcppClient)."""

    smart_api: SmartChargingApi

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> call_result.SetChargingProfile:
        status = self.smart_api.set_profile(connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status=ChargingProfileStatus(status))

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(
        self,
        id: int | None = None,  # noqa: A002 - OCPP field name
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> call_result.ClearChargingProfile:
        status = self.smart_api.clear(id, connector_id, charging_profile_purpose, stack_level)
        return call_result.ClearChargingProfile(status=ClearChargingProfileStatus(status))

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> call_result.GetCompositeSchedule:
        sched = self.smart_api.composite(connector_id, duration, charging_rate_unit)
        if sched is None:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            connector_id=connector_id,
            schedule_start=sched["startSchedule"],
            charging_schedule=sched,
        )
