"""Charging profiles and composite schedules (pure): what current a socket may draw at a given instant.

OCPP 1.6 smart charging (§3.13): three purposes. ChargePointMaxProfile (connector 0 only) caps the whole
station; TxDefaultProfile is the default for every transaction (connector 0 = all connectors, a profile on a
connector applies to that connector); TxProfile applies to one running transaction and overrides the
TxDefaultProfile. Within a purpose, the valid profile with the highest stackLevel wins; a profile whose
schedule is not running at that instant (before its start, after its duration, outside validFrom/validTo)
does not count, so a lower level takes over. The composite is, per instant, the minimum of the station cap
(ChargePointMax) and the transaction limit (TxProfile, or else TxDefault).

Kinds: Absolute (starts at startSchedule), Recurring Daily/Weekly (repeats every day/week from
startSchedule), Relative (starts when the transaction starts; without a transaction, at the start of the
requested composite). Limits in W are converted to A per phase with 230 V x numberPhases (3 if absent).

Everything here works on epoch seconds (floats, UTC) and plain data; no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.timefmt import format_time, parse_time

VOLTAGE = 230.0
DEFAULT_PHASES = 3
DAY = 86400.0
WEEK = 7 * DAY

CP_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSES = (CP_MAX, TX_DEFAULT, TX)


class ProfileError(ValueError):
    """A charging profile that cannot be parsed."""


@dataclass(frozen=True)
class Period:
    start: int  # seconds from the start of the schedule
    limit: float  # in the schedule's unit (A or W)
    phases: int | None = None


@dataclass(frozen=True)
class Profile:
    id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str  # Absolute | Recurring | Relative
    unit: str  # "A" or "W"
    periods: tuple[Period, ...]
    recurrency: str | None = None  # Daily | Weekly
    valid_from: float | None = None
    valid_to: float | None = None
    start_schedule: float | None = None
    duration: int | None = None
    transaction_id: int | None = None
    min_rate: float | None = None


@dataclass(frozen=True)
class TxContext:
    """What the schedule maths needs to know of one connector."""

    connector_id: int
    tx_active: bool = False
    tx_id: int | None = None
    tx_start: float | None = None  # epoch seconds
    phases: int = DEFAULT_PHASES


@dataclass(frozen=True)
class CompositePeriod:
    start: int  # seconds from the composite's start
    limit: float  # in the requested unit
    phases: int | None = None


@dataclass(frozen=True)
class Composite:
    start: float
    duration: int
    unit: str
    periods: tuple[CompositePeriod, ...] = field(default_factory=tuple)


# -- parsing ---------------------------------------------------------------------------------------------------
def _pick(d: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    if camel in d:
        return d[camel]
    return d.get(snake, default)


def profile_from_ocpp(d: Mapping[str, Any], connector_id: int) -> Profile:
    """A csChargingProfiles object (camelCase as on the wire, or the ocpp library's snake_case)."""
    try:
        sched = _pick(d, "chargingSchedule", "charging_schedule")
        if not isinstance(sched, Mapping):
            raise ProfileError("chargingSchedule missing")
        raw_periods = _pick(sched, "chargingSchedulePeriod", "charging_schedule_period") or []
        periods = tuple(
            Period(
                int(_pick(p, "startPeriod", "start_period")),
                float(p["limit"]),
                None if _pick(p, "numberPhases", "number_phases") is None else int(_pick(p, "numberPhases", "number_phases")),
            )
            for p in raw_periods
        )
        unit_raw = str(_pick(sched, "chargingRateUnit", "charging_rate_unit"))
        if unit_raw not in ("A", "W"):
            raise ProfileError(f"chargingRateUnit must be A or W, not {unit_raw!r}")
        tx_id = _pick(d, "transactionId", "transaction_id")
        duration = sched.get("duration")
        min_rate = _pick(sched, "minChargingRate", "min_charging_rate")
        return Profile(
            id=int(_pick(d, "chargingProfileId", "charging_profile_id")),
            connector_id=int(connector_id),
            stack_level=int(_pick(d, "stackLevel", "stack_level")),
            purpose=str(_pick(d, "chargingProfilePurpose", "charging_profile_purpose")),
            kind=str(_pick(d, "chargingProfileKind", "charging_profile_kind")),
            unit=unit_raw,
            periods=periods,
            recurrency=_pick(d, "recurrencyKind", "recurrency_kind"),
            valid_from=parse_time(_pick(d, "validFrom", "valid_from")),
            valid_to=parse_time(_pick(d, "validTo", "valid_to")),
            start_schedule=parse_time(_pick(sched, "startSchedule", "start_schedule")),
            duration=None if duration is None else int(duration),
            transaction_id=None if tx_id is None else int(tx_id),
            min_rate=None if min_rate is None else float(min_rate),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"malformed charging profile: {exc}") from exc


def validate(p: Profile, *, max_stack_level: int, max_periods: int, allowed_units: Iterable[str]) -> str | None:
    """None if the profile is acceptable in itself, else the reason (state-independent rules only)."""
    if p.purpose not in PURPOSES:
        return f"unknown purpose {p.purpose}"
    if p.purpose == CP_MAX and p.connector_id != 0:
        return "ChargePointMaxProfile only on connector 0"
    if p.purpose == TX and p.connector_id == 0:
        return "TxProfile needs a connector"
    if p.stack_level < 0 or p.stack_level > max_stack_level:
        return f"stackLevel {p.stack_level} outside 0..{max_stack_level}"
    if not p.periods:
        return "no charging schedule periods"
    if len(p.periods) > max_periods:
        return f"{len(p.periods)} periods, at most {max_periods}"
    if p.periods[0].start != 0:
        return "the first period must start at 0"
    if any(b.start <= a.start for a, b in zip(p.periods, p.periods[1:], strict=False)):
        return "periods must start in increasing order"
    if any(x.limit < 0 or not math.isfinite(x.limit) for x in p.periods):
        return "negative limit"
    if any(x.phases is not None and x.phases not in (1, 2, 3) for x in p.periods):
        return "numberPhases must be 1..3"
    names = {"A": "Current", "W": "Power"}
    if names[p.unit] not in set(allowed_units):
        return f"chargingRateUnit {p.unit} not allowed"
    if p.kind not in ("Absolute", "Recurring", "Relative"):
        return f"unknown kind {p.kind}"
    if p.kind == "Recurring" and (p.recurrency not in ("Daily", "Weekly") or p.start_schedule is None):
        return "a Recurring profile needs recurrencyKind and startSchedule"
    if p.duration is not None and p.duration < 0:
        return "negative duration"
    if p.valid_from is not None and p.valid_to is not None and p.valid_to <= p.valid_from:
        return "validTo before validFrom"
    return None


# -- evaluation ------------------------------------------------------------------------------------------------
def to_amps(limit: float, unit: str, phases: int | None, default_phases: int = DEFAULT_PHASES) -> float:
    if unit == "A":
        return limit
    return limit / (VOLTAGE * (phases or default_phases))


def from_amps(amps: float, unit: str, phases: int | None, default_phases: int = DEFAULT_PHASES) -> float:
    if unit == "A":
        return amps
    return amps * VOLTAGE * (phases or default_phases)


def _schedule_start(p: Profile, t: float, ctx: TxContext, origin: float) -> float | None:
    """Start of the schedule instance that covers t (None: never starts)."""
    if p.kind == "Relative":
        if ctx.tx_active and ctx.tx_start is not None:
            return ctx.tx_start
        return origin
    if p.kind == "Recurring":
        assert p.start_schedule is not None
        span = DAY if p.recurrency == "Daily" else WEEK
        k = math.floor((t - p.start_schedule) / span)
        return p.start_schedule + k * span
    return p.start_schedule if p.start_schedule is not None else origin


def _span(p: Profile) -> float | None:
    """How long one schedule instance runs (None: for ever)."""
    if p.kind == "Recurring":
        span = DAY if p.recurrency == "Daily" else WEEK
        return float(min(p.duration, span)) if p.duration is not None else span
    return float(p.duration) if p.duration is not None else None


def applies(p: Profile, ctx: TxContext) -> bool:
    """Whether the profile concerns this connector's current situation at all."""
    if p.purpose == CP_MAX:
        return True
    if p.connector_id not in (0, ctx.connector_id):
        return False
    if p.purpose == TX:
        if not ctx.tx_active or p.connector_id != ctx.connector_id:
            return False
        return p.transaction_id is None or ctx.tx_id is None or p.transaction_id == ctx.tx_id
    return True


def profile_limit(p: Profile, t: float, ctx: TxContext, origin: float) -> tuple[float, int | None] | None:
    """(limit in A, phases) of the profile at t, or None when it is not running at t."""
    if p.valid_from is not None and t < p.valid_from:
        return None
    if p.valid_to is not None and t >= p.valid_to:
        return None
    start = _schedule_start(p, t, ctx, origin)
    if start is None or t < start:
        return None
    span = _span(p)
    offset = t - start
    if span is not None and offset >= span:
        return None
    current: Period | None = None
    for period in p.periods:
        if period.start <= offset:
            current = period
        else:
            break
    if current is None:
        return None
    return to_amps(current.limit, p.unit, current.phases, ctx.phases), current.phases


def purpose_limit(
    profiles: Iterable[Profile], purpose: str, t: float, ctx: TxContext, origin: float
) -> tuple[float, int | None] | None:
    """The winning profile of a purpose at t: highest running stackLevel; a connector's own profile beats
    connector 0 on equal levels."""
    best: tuple[int, int, float, int | None] | None = None
    for p in profiles:
        if p.purpose != purpose or not applies(p, ctx):
            continue
        got = profile_limit(p, t, ctx, origin)
        if got is None:
            continue
        rank = (p.stack_level, 1 if p.connector_id == ctx.connector_id else 0)
        if best is None or rank > best[:2]:
            best = (rank[0], rank[1], got[0], got[1])
    return None if best is None else (best[2], best[3])


def station_limit(profiles: Iterable[Profile], t: float, origin: float | None = None) -> float | None:
    """ChargePointMax at t in A per phase (None: no station profile running)."""
    got = purpose_limit(profiles, CP_MAX, t, TxContext(0), t if origin is None else origin)
    return None if got is None else got[0]


def connector_limit(
    profiles: Iterable[Profile], t: float, ctx: TxContext, origin: float | None = None
) -> tuple[float, int | None] | None:
    """TxProfile, or else TxDefaultProfile, of the connector at t in A (None: no profile running)."""
    o = t if origin is None else origin
    profiles = list(profiles)
    got = purpose_limit(profiles, TX, t, ctx, o) if ctx.tx_active else None
    if got is None:
        got = purpose_limit(profiles, TX_DEFAULT, t, ctx, o)
    return got


def limit_at(
    profiles: Sequence[Profile], t: float, ctx: TxContext, origin: float | None = None, cap: float | None = None
) -> tuple[float, int | None] | None:
    """Composite at t in A: min(ChargePointMax, TxProfile or else TxDefault, cap); connector 0 = station."""
    candidates: list[tuple[float, int | None]] = []
    st = purpose_limit(profiles, CP_MAX, t, ctx, t if origin is None else origin)
    if st is not None:
        candidates.append(st)
    if ctx.connector_id != 0:
        got = connector_limit(profiles, t, ctx, origin)
        if got is not None:
            candidates.append(got)
    if cap is not None:
        candidates.append((cap, None))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[0])


def boundaries(profiles: Iterable[Profile], t0: float, t1: float, ctx: TxContext, origin: float) -> list[float]:
    """Every instant in (t0, t1) at which some profile's limit may change."""
    out: set[float] = set()
    for p in profiles:
        if not applies(p, ctx):
            continue
        for v in (p.valid_from, p.valid_to):
            if v is not None:
                out.add(v)
        span = _span(p)
        if p.kind == "Recurring":
            assert p.start_schedule is not None
            every = DAY if p.recurrency == "Daily" else WEEK
            k0 = math.floor((t0 - p.start_schedule) / every)
            k1 = math.floor((t1 - p.start_schedule) / every)
            starts = [p.start_schedule + k * every for k in range(k0, k1 + 1)]
        else:
            s = _schedule_start(p, t0, ctx, origin)
            starts = [] if s is None else [s]
        for s in starts:
            out.add(s)
            for period in p.periods:
                out.add(s + period.start)
            if span is not None:
                out.add(s + span)
    return sorted(x for x in out if t0 < x < t1)


def next_change(profiles: Sequence[Profile], now: float, ctxs: Iterable[TxContext], horizon: float = WEEK) -> float | None:
    """The next instant after `now` at which a limit of any of these connectors may change."""
    best: float | None = None
    for ctx in ctxs:
        b = boundaries(profiles, now, now + horizon, ctx, now)
        if b and (best is None or b[0] < best):
            best = b[0]
    return best


def composite(
    profiles: Sequence[Profile],
    ctx: TxContext,
    start: float,
    duration: int,
    unit: str = "A",
    cap: float | None = None,
) -> Composite:
    """GetCompositeSchedule: the limit over [start, start+duration) in `unit`, as merged periods.

    Instants without any profile get `cap` (the hardware limit); with no cap they are left out, so the
    result may start later than 0 or have gaps only when no cap is given."""
    times = [start, *boundaries(profiles, start, start + duration, ctx, start)]
    periods: list[CompositePeriod] = []
    for t in times:
        got = limit_at(profiles, t, ctx, start, cap)
        if got is None:
            continue
        amps, phases = got
        value = round(from_amps(amps, unit, phases, ctx.phases), 1)
        off = int(round(t - start))
        if periods and periods[-1].limit == value and periods[-1].phases == phases:
            continue
        if periods and periods[-1].start == off:
            periods[-1] = CompositePeriod(off, value, phases)
        else:
            periods.append(CompositePeriod(off, value, phases))
    return Composite(start, duration, unit, tuple(periods))


def composite_to_ocpp(c: Composite) -> dict[str, Any]:
    """The chargingSchedule object of GetCompositeSchedule.conf (camelCase)."""
    periods = []
    for p in c.periods:
        entry: dict[str, Any] = {"startPeriod": p.start, "limit": p.limit}
        if p.phases is not None:
            entry["numberPhases"] = p.phases
        periods.append(entry)
    return {
        "duration": c.duration,
        "startSchedule": format_time(c.start, seconds=True),
        "chargingRateUnit": c.unit,
        "chargingSchedulePeriod": periods,
    }
