"""Secret redaction: the one place that knows how to keep secrets out of text the station writes (the OCPP
trace, log records, diagnostics archives).

Secrets are the values of the write-only configuration keys (AuthorizationKey, ProxyPassword, the PW-*
passwords, ...) and the user info of URLs (`scheme://user:password@host`). A ChangeConfiguration that carries
one is redacted whether the change is accepted or not, in JSON (a frame), in Python reprs (the `ocpp`
library logs `Call` objects) and in either key order, before anything is cut short.

- `secret_key_names(specs)`: the names whose values are secret (write-only keys and their aliases).
- `redact_payload(action, payload, secret)`: a parsed OCPP payload with secret values replaced.
- `redact_text(text, secret)`: any text (a frame, a repr, a log line) with secret values replaced.
- `redact_url(url)`: a URL with its user info masked.
- `RedactingFilter`: a `logging.Filter` that applies `redact_text` to every record of the logger it is
  attached to (the `ocpp` library's logger logs every frame and every failed request).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_Q = "[\"']"  # JSON or Python quoting
_STR = r"(?P<q>[\"'])(?P<val>(?:\\.|(?!(?P=q)).)*)(?:(?P=q)|$)"  # a string, or its start when cut short
# Linear in the text's length (a hostile peer's 1 MiB frame is redacted before it is traced or logged): a scheme
# starts where no scheme character precedes it and is at most 32 characters long, the user at most 256 and the
# password at most 4096, so no position is tried against a whole run of letters (which was quadratic: minutes for
# a 1 MiB frame of letters, the main process stalled meanwhile).
_URL_USERINFO = re.compile(
    r"(?P<head>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/\s:@]{0,256}:[^@\s/]{0,4096}@"
)


def secret_key_names(specs: Iterable[Any]) -> frozenset[str]:
    """Names (and aliases) of the keys whose values are secrets: every write-only key."""
    out: set[str] = set()
    for spec in specs:
        if str(getattr(spec, "access", "")) == "W":
            out.update(spec.names)
    return frozenset(out)


def redact_payload(action: str, payload: Any, secret: frozenset[str]) -> Any:
    """`payload` of `action` with the value of a secret key replaced (a new dict; the input is untouched)."""
    if action == "ChangeConfiguration" and isinstance(payload, dict):
        key = payload.get("key")
        if isinstance(key, str) and _is_secret(key, secret) and "value" in payload:
            return {**payload, "value": MASK}
    return payload


def _is_secret(name: str, secret: frozenset[str]) -> bool:
    return name in secret or name.lower() in {s.lower() for s in secret}


def _patterns(secret: frozenset[str]) -> list[re.Pattern[str]]:
    names = "|".join(re.escape(n) for n in sorted(secret, key=len, reverse=True))
    key = rf"{_Q}key{_Q}\s*:\s*{_Q}(?:{names}){_Q}"
    return [
        # "key": "AuthorizationKey", "value": "..."
        re.compile(rf"(?P<pre>{key}\s*,\s*{_Q}value{_Q}\s*:\s*){_STR}", re.IGNORECASE),
        # "value": "...", "key": "AuthorizationKey"
        re.compile(rf"(?P<pre>{_Q}value{_Q}\s*:\s*){_STR}(?P<post>\s*,\s*{key})", re.IGNORECASE),
    ]


_CACHE: dict[frozenset[str], list[re.Pattern[str]]] = {}


def redact_text(text: str, secret: frozenset[str]) -> str:
    """`text` with the values of secret keys (in ChangeConfiguration payloads) and URL passwords masked."""
    if secret:
        pats = _CACHE.get(secret)
        if pats is None:
            pats = _CACHE[secret] = _patterns(secret)
        for pat in pats:
            text = pat.sub(lambda m: f"{m['pre']}{m['q']}{MASK}{m['q']}{m.groupdict().get('post') or ''}", text)
    return _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)


def redact_url(url: str) -> str:
    """`url` with its user info (user:password@) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=f"{MASK}@{parts.netloc.rsplit('@', 1)[1]}"))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with `redact_text` (the secret key names are asked for each record, so
    keys added later are covered). Attach it to a logger: `logger.addFilter(RedactingFilter(...))`."""

    def __init__(self, secret: Callable[[], frozenset[str]]) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        secret = self._secret()
        if isinstance(record.args, tuple):  # before formatting: a "%.200r" must not cut a secret in half
            record.args = tuple(redact_text(a, secret) if isinstance(a, str) else a for a in record.args)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is passed on untouched
            return True
        clean = redact_text(message, secret)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and (clean != message or _names_a_secret(clean, secret)):
            # the exception text may quote the value without its key (jsonschema: "'...' is too long")
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "exception"
            record.msg = f"{clean} [{kind}; traceback withheld: it may quote a secret]"
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _names_a_secret(text: str, secret: frozenset[str]) -> bool:
    low = text.lower()
    return any(name.lower() in low for name in secret)


def install_log_redaction(logger: logging.Logger, secret: Callable[[], frozenset[str]]) -> None:
    """Attach one `RedactingFilter` to `logger` (again on the same logger: replaced, not doubled)."""
    for f in list(logger.filters):
        if isinstance(f, RedactingFilter):
            logger.removeFilter(f)
    logger.addFilter(RedactingFilter(secret))
