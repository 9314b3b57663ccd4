"""The installer's login: the local service password (`PW-SetChargerPassword`, which the registry keeps as a
salted hash), login sessions held in memory, a CSRF token per session, and login rate limiting, all on the
injected monotonic clock.

Decisions:
- An empty password never logs in (no password configured means nobody can log in: set one over OCPP or as
  the board's per-order default).
- Rate limiting: `MAX_FAILURES` failed logins from one address within `WINDOW_S` lock that address out until
  the oldest of them leaves the window; `GLOBAL_MAX_FAILURES` from all addresses together lock everyone out
  the same way (a guesser with many addresses). A successful login clears its address's failures.
- A session lasts `IDLE_S` after its last use; at most `MAX_SESSIONS` (the oldest is dropped).
"""

from __future__ import annotations

import hmac
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

PASSWORD_KEY = "PW-SetChargerPassword"
MAX_FAILURES = 5
GLOBAL_MAX_FAILURES = 20
WINDOW_S = 300.0
IDLE_S = 1800.0
MAX_SESSIONS = 16


@dataclass
class LoginSession:
    token: str  # the cookie value
    csrf: str  # sent back by the page in a header on every write
    expires: float  # monotonic


class Logins:
    """Sessions and the failure record; the password itself is checked by the caller (`check`)."""

    def __init__(self, monotonic: Callable[[], float], check: Callable[[str], bool]) -> None:
        self._monotonic = monotonic
        self._check = check
        self._sessions: dict[str, LoginSession] = {}
        self._failures: dict[str, deque[float]] = {}
        self._all_failures: deque[float] = deque()

    def retry_after(self, peer: str) -> float | None:
        """Seconds until `peer` may try again, or None when it may try now."""
        now = self._monotonic()
        waits = []
        for record, limit in ((self._failures.get(peer), MAX_FAILURES), (self._all_failures, GLOBAL_MAX_FAILURES)):
            if record is None:
                continue
            while record and now - record[0] >= WINDOW_S:
                record.popleft()
            if len(record) >= limit:
                waits.append(record[0] + WINDOW_S - now)
        return max(waits) if waits else None

    def password_ok(self, candidate: str) -> bool:
        return bool(candidate) and self._check(candidate)

    def record(self, peer: str, ok: bool) -> LoginSession | None:
        """The outcome of a login attempt from `peer`: a new session when it was right."""
        now = self._monotonic()
        if not ok:
            self._failures.setdefault(peer, deque()).append(now)
            self._all_failures.append(now)
            return None
        self._failures.pop(peer, None)
        self._expire(now)
        while len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.expires)
            del self._sessions[oldest.token]
        session = LoginSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + IDLE_S)
        self._sessions[session.token] = session
        return session

    def session(self, token: str | None, refresh: bool = True) -> LoginSession | None:
        """The live session of a cookie value (with `refresh`, its idle time restarts), else None."""
        if not token:
            return None
        now = self._monotonic()
        self._expire(now)
        found = self._sessions.get(token)
        if found is not None and refresh:
            found.expires = now + IDLE_S
        return found

    def logout(self, token: str) -> None:
        self._sessions.pop(token, None)

    @staticmethod
    def csrf_ok(session: LoginSession, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(session.csrf.encode(), token.encode())

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[token]
