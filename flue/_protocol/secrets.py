"""Redaction: the credentials a client sent never show in what it hands back or logs.

How this works: a client keeps the values it sent as credentials (its token, the values of its
credential headers, credential-like query values) in a `Secrets`; `redact()` replaces them by
``<redacted>`` in an error's ``args`` and in every public attribute it carries (whatever the
class: a field added to an error later is covered without being listed here), and cuts from
the chain a cause that shows one. `scrub_text()` is the rule for one text, written down in the
documentation's security page ("Redaction"): a secret of 8 characters or more is replaced
wherever it occurs, a shorter one only where a credential stands. A secret is also found as
JSON writes it with escapes (``\\/``, ``\\u0041``): an error body that echoes the token with
escapes would otherwise show it, and hand it on to whatever parses that body. Every record of
the loggers that print server-derived text is scrubbed of the values of all live `Secrets`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import re

__all__ = [
    "REDACTED",
    "Secrets",
    "credential_values",
    "is_credential_name",
    "redact",
    "scrub_text",
    "scrub_value",
]

REDACTED = "<redacted>"
E = TypeVar("E", bound=BaseException)

# header names whose values are credentials (lower case; a name containing any of these words)
_CREDENTIAL_WORDS = ("auth", "token", "secret", "key", "cookie", "session", "password", "sig")
_MIN_SECRET = 3  # shorter values would mangle every message they appear in by chance


def is_credential_name(name: str) -> bool:
    """Whether a header (or query parameter) of this name carries a credential."""
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def credential_values(headers: Mapping[str, str]) -> set[str]:
    """The values to redact among request headers: each credential header's value, and its
    credentials alone when it has a scheme (``Bearer <token>`` -> ``<token>``)."""
    found: set[str] = set()
    for name, value in headers.items():
        if not isinstance(value, str) or not is_credential_name(name):
            continue
        for candidate in (value, value.partition(" ")[2]):
            candidate = candidate.strip()
            if len(candidate) >= _MIN_SECRET:
                found.add(candidate)
    return found


class Secrets:
    """The credentials a client has sent (token, credential headers), for `redact()`; the
    most recent `limit` values are kept (a header factory may rotate them).

    Every record of the ``flue`` logger is also scrubbed of the values of all live `Secrets`
    (a server-chosen cursor or offset, echoed in a logged URL, could carry a credential)."""

    def __init__(self, *values: str | None, limit: int = 64) -> None:
        self._values: dict[str, None] = {}
        self._limit = limit
        for value in values:
            if value is not None:
                self.add(value)
        _install_log_filter()
        _LIVE.add(self)

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) < _MIN_SECRET or value in self._values:
            return
        self._values[value] = None
        while len(self._values) > self._limit:
            del self._values[next(iter(self._values))]

    def add_headers(self, headers: Mapping[str, str]) -> None:
        for value in credential_values(headers):
            self.add(value)

    def __call__(self) -> frozenset[str]:
        return frozenset(self._values)


# Where a secret is replaced (docs/security.md, "Redaction"):
# - a secret of _MIN_ANYWHERE characters or more, wherever it occurs (a string that long does not
#   turn up inside other text by chance: where it does, it is the credential, concatenated);
# - a shorter one (`wrong`, `run`) only where a credential stands: a whole value (the whole text,
#   a JSON string value, a header or query value) or a token of its own that follows `=`, `:`,
#   a quote or the start of the text and is not followed by a token character. Inside a word or
#   an identifier (`/runs/run_x`) and in prose ("a missing or wrong token") it is left alone.
_MIN_ANYWHERE = 8
_TOKEN_CHARS = r"\w.~+/=-"  # what a token, an identifier or a URL component is made of
_PATTERNS: dict[tuple[str, bool], re.Pattern[str]] = {}
# how JSON may write a character besides itself (control characters: never in a credential)
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/"}


def _pattern(secret: str, escaped: bool) -> re.Pattern[str]:
    """Where `secret` stands (as written, or also with JSON escapes): group 1 is what stays."""
    pattern = _PATTERNS.get((secret, escaped))
    if pattern is not None:
        return pattern
    import re  # on first use (`import flue` stays light)

    body = "".join(_json_forms(c) for c in secret) if escaped else re.escape(secret)
    if len(secret) >= _MIN_ANYWHERE:
        pattern = re.compile(f"(){body}")
    else:
        pattern = re.compile(rf"(?:(?<=[=:\"'])|^)(\s*){body}(?![{_TOKEN_CHARS}])")
    if len(_PATTERNS) >= 256:  # the secrets of a long-lived program's clients: keep it bounded
        _PATTERNS.clear()
    _PATTERNS[secret, escaped] = pattern
    return pattern


def _json_forms(char: str) -> str:
    """A pattern for `char` as JSON may write it: itself, ``\\u`` and its code (hex digits in
    any case), or its short escape (``\\/``)."""
    import re

    forms = [re.escape(char), rf"\\u(?i:{ord(char):04x})"]
    if char in _JSON_ESCAPES:
        forms.append(re.escape(_JSON_ESCAPES[char]))
    return f"(?:{'|'.join(forms)})"


def _redacted_after_space(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ``<redacted>`` where the rule finds one."""
    if not text:
        return text
    # longest first: a secret that contains another is replaced whole
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            if len(secret) >= _MIN_ANYWHERE or text.strip() == secret:
                text = text.replace(secret, REDACTED)
            else:
                text = _pattern(secret, False).sub(_redacted_after_space, text)
        if "\\" in text:  # perhaps written with JSON escapes
            text = _pattern(secret, True).sub(_redacted_after_space, text)
    return text


def scrub_value(value: Any, secrets: frozenset[str], depth: int = 0) -> Any:
    """`value` (a JSON-like value: texts, lists, tuples, dicts) with `scrub_text` applied to
    every text in it, keys included; other values are returned as they are."""
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if depth > 100:  # deeper than any useful details: not walked further
        return REDACTED
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_value(v, secrets, depth + 1) for v in value)
    if isinstance(value, dict):
        return {
            scrub_text(k, secrets) if isinstance(k, str) else k: scrub_value(v, secrets, depth + 1)
            for k, v in value.items()
        }
    return value


def _shows(text: str, secrets: frozenset[str]) -> bool:
    """Whether `text` shows one of `secrets` where `scrub_text` would replace it."""
    return scrub_text(text, secrets) != text


def _mentions(exc: BaseException, secrets: frozenset[str]) -> bool:
    try:
        texts = (str(exc), repr(exc))
    except Exception:  # a str() that fails cannot be shown either: drop it
        return True
    return any(_shows(text, secrets) for text in texts)


def redact(error: E, secrets: Iterable[str]) -> E:
    """`error` with every secret replaced by ``<redacted>`` (where `scrub_text` finds one) in
    its ``args`` and in every public attribute of the instance (an `APIError`'s ``message``,
    ``error_type``, ``details``, ``body``, ``meta``, ``ref``; a `FlueExecutionError`'s
    ``target_id`` and ``error``...) and its notes; a chained exception (``__cause__``,
    ``__context__``) whose text shows a secret is cut from the chain. Returns `error` itself."""
    found = frozenset(s for s in secrets if s)
    if not found:
        return error
    error.args = tuple(scrub_value(arg, found) for arg in error.args)
    for name, value in list(vars(error).items()):
        # private attributes are the package's own marks (never server text); notes are text
        if name.startswith("_") and name != "__notes__":
            continue
        scrubbed = scrub_value(value, found)
        if scrubbed is not value and scrubbed != value:
            setattr(error, name, scrubbed)
    link: BaseException = error
    seen = {id(error)}
    while True:
        nxt = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        if _mentions(nxt, found):
            link.__cause__ = None
            link.__suppress_context__ = True
            break
        link = nxt
    return error


_LIVE: weakref.WeakSet[Secrets] = weakref.WeakSet()
_FILTERED: set[str] = set()
# loggers that log server-derived text: ours (URLs with the server's cursor), urllib3's
# request lines and header-parsing warnings
_LOGGERS = ("flue", "urllib3.connectionpool", "urllib3.connection", "urllib3.response")


def _install_log_filter(names: Iterable[str] = _LOGGERS) -> None:
    """Scrub the records of these loggers (installed with the first client: `import flue`
    does not import `logging`)."""
    names = [name for name in names if name not in _FILTERED]
    if not names:
        return
    import logging

    class _Redacting(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            found = frozenset().union(*(secrets() for secrets in list(_LIVE)))
            if found:
                try:
                    text = record.getMessage()
                except Exception:  # a broken record is logging's to report
                    return True
                scrubbed = scrub_text(text, found)
                if scrubbed != text:
                    record.msg, record.args = scrubbed, None
            return True

    for name in names:
        logging.getLogger(name).addFilter(_Redacting())
        _FILTERED.add(name)
