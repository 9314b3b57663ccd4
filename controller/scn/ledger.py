"""What the coordinator must assume each station of the network may draw now (pure; time comes in as `now`),
and the guard every setpoint write passes. This is where the network limit is kept at every instant.

A station's setpoints count for the validity time V (MbsSlaveTCPIPValidityTime) after they reach it; then it
falls back to SCN-SocketSafeCurrent per socket (its `safe` vector per feeder phase). So at any instant a
station draws at most max(what it holds, safe). The ledger keeps, per station, claims (value per feeder
phase, until when it may be held):
- a write sent at t may reach the station up to `DELIVERY_MARGIN_S` later, so until it is answered it is
  claimed until t + margin + V; a write that fails keeps that claim (it may still arrive) until it runs out;
- an answered write is held from some instant before the answer, so until answer + V (+ margin: the
  station applies its fallback a moment after the expiry); it supersedes the
  earlier answered writes (one connection keeps order), not the unanswered ones;
- a car follows a lowered offer within `follow_s` (IEC 61851: 5 s), so every claim lasts that much longer
  (a superseded one until answer + follow_s): the network's real current, not only its offers, stays within;
- a coordinator that (re)starts does not know what its previous life wrote: every station is claimed
  unknown (infinite) until start + `startup_wait_s` = V + margin + follow_s. The previous life wrote nothing after it
  died, so by then every such write has run out and each station is at most at its safe current.
What a station reads back (its setpoints and their seconds left) is a claim too (`observed`), and a station
whose setpoints run longer than our V (its MbsSlaveTCPIPValidityTime differs: a configuration error the
coordinator reports) has its claims counted with that longer time from then on.
`bound(now)` is max(safe, every live claim). The guard (`Ledger.allowed`): a write that does not raise a
station above its safe current never raises the network's sum (its bound stays max(hold, safe)); any other
write is allowed only when the sum of every station's bound, with this write's value claimed, stays within
SCN-TotalStaticCurrent on every feeder phase. Lowering first and raising only into what is then free is the
ordering that follows: a station's share goes elsewhere only once it has been answered lower, or has run out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# the longest a sent write may take to reach a station (the client drops it after 1 s), and the longest a
# station takes to apply the fallback once a setpoint ran out (its energy manager wakes at the expiry)
DELIVERY_MARGIN_S = 1.0
UNKNOWN = math.inf

Vector = tuple[float, float, float]


def startup_wait_s(validity_s: float, margin_s: float = DELIVERY_MARGIN_S, follow_s: float = 0.0) -> float:
    """How long a (re)started coordinator counts every station as unknown."""
    return validity_s + margin_s + follow_s


@dataclass
class Claim:
    value: Vector
    until: float
    answered: bool = False
    ref: int = 0  # which write it belongs to


@dataclass
class StationBook:
    safe: Vector
    claims: list[Claim] = field(default_factory=list)
    readings: set[int] = field(default_factory=set)  # refs of the claims that came from reading it back
    validity_s: float = 0.0  # the longest validity it was seen to give a setpoint (if longer than ours)

    def bound(self, now: float) -> Vector:
        out = list(self.safe)
        for c in self.claims:
            if c.until > now:
                for p in range(3):
                    out[p] = max(out[p], c.value[p])
        return (out[0], out[1], out[2])

    def prune(self, now: float) -> None:
        self.claims = [c for c in self.claims if c.until > now]


class Ledger:
    """The per-station claims of one coordinator life, started at `started_at`."""

    def __init__(self, total: Sequence[float], validity_s: float, started_at: float,
                 margin_s: float = DELIVERY_MARGIN_S, follow_s: float = 0.0) -> None:
        self.total: Vector = (float(total[0]), float(total[1]), float(total[2]))
        self.validity_s = validity_s
        self.margin_s = margin_s
        self.follow_s = follow_s
        self.started_at = started_at
        self.books: dict[str, StationBook] = {}
        self._refs = 0

    @property
    def wait_until(self) -> float:
        return self.started_at + startup_wait_s(self.validity_s, self.margin_s, self.follow_s)

    def held_s(self, book: StationBook) -> float:
        """How long `book`'s station holds a setpoint: our validity time, or the longer one it showed."""
        return max(self.validity_s, book.validity_s)

    def station(self, name: str, safe: Sequence[float], known_fresh: bool = False) -> StationBook:
        """The book of `name` (created on first sight: unknown until the start-up wait ends, unless
        `known_fresh`: the coordinator's own station, whose setpoints did not outlive its restart)."""
        book = self.books.get(name)
        if book is None:
            claims = [] if known_fresh else [Claim((UNKNOWN,) * 3, self.wait_until)]  # type: ignore[arg-type]
            book = self.books[name] = StationBook((safe[0], safe[1], safe[2]), claims)
        else:
            book.safe = (safe[0], safe[1], safe[2])
        return book

    def total_bound(self, now: float, without: str | None = None) -> Vector:
        out = [0.0, 0.0, 0.0]
        for name, book in self.books.items():
            if name != without:
                b = book.bound(now)
                for p in range(3):
                    out[p] += b[p]
        return (out[0], out[1], out[2])

    def allowed(self, name: str, value: Sequence[float], now: float) -> bool:
        """Whether writing `value` (per feeder phase) to `name` now keeps the network within its total."""
        book = self.books[name]
        if all(value[p] <= book.safe[p] for p in range(3)):
            return True
        others = self.total_bound(now, without=name)
        own = book.bound(now)
        return all(others[p] + max(own[p], value[p]) <= self.total[p] + 1e-6 for p in range(3))

    def sent(self, name: str, value: Sequence[float], now: float) -> int:
        """A write left for `name`; returns its reference for `answered`."""
        self._refs += 1
        v = (float(value[0]), float(value[1]), float(value[2]))
        book = self.books[name]
        book.claims.append(Claim(v, now + self.margin_s + self.held_s(book) + self.follow_s, ref=self._refs))
        book.prune(now)
        return self._refs

    def answered(self, name: str, ref: int, now: float) -> None:
        """The station answered write `ref`: it holds that value from before now, superseding earlier answers."""
        book = self.books[name]
        for c in book.claims:
            if c.ref == ref:
                c.until, c.answered = now + self.held_s(book) + self.margin_s + self.follow_s, True
            elif c.answered and c.ref < ref:  # superseded: its car may follow the change for follow_s
                c.until = min(c.until, now + self.follow_s)
        book.prune(now)

    def observed(self, name: str, value: Sequence[float], left_s: float, now: float) -> None:
        """The station reads back `value` with `left_s` of validity: it holds that until now + left_s, whatever
        validity time it was given (a member whose MbsSlaveTCPIPValidityTime is longer than ours is still
        counted right). Superseded, like an answer, by the next answered write; replaces earlier readings."""
        self._refs += 1
        v = (float(value[0]), float(value[1]), float(value[2]))
        book = self.books[name]
        book.claims = [c for c in book.claims if c.ref not in book.readings]
        book.readings = {self._refs}
        book.validity_s = max(book.validity_s, left_s)
        book.claims.append(Claim(v, now + left_s + self.margin_s + self.follow_s, answered=True, ref=self._refs))
        book.prune(now)

    def failed(self, name: str, ref: int, now: float) -> None:
        """Write `ref` got no answer: it may still arrive, so its claim stays until it runs out."""
        self.books[name].prune(now)

    def bounds(self, now: float) -> dict[str, Vector]:
        return {n: b.bound(now) for n, b in self.books.items()}

    def names(self) -> Iterable[str]:
        return self.books.keys()
