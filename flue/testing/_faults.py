"""Fault injection for :class:`~flue.testing.FlueTestServer`.

How it works: every request the server receives is first recorded as a
:class:`RecordedRequest`. The server then asks its :class:`FaultSet` for a fault: rules are
tried in the order they were added, and the first rule whose matcher accepts the request, that
has uses left (``times``) and whose coin toss succeeds (``probability``, drawn from the server's
seeded ``random.Random``) supplies the fault. At most one fault applies to a request. Faults of
the kinds ``status``, ``redirect``, ``disconnect`` and ``delay`` act before the request is
handled; the others rewrite the server's genuine answer on its way out.

Usage::

    server.faults.add(Fault.status(503, retry_after=1.0), times=2)
    server.faults.add(Fault.drop_after(bytes=40), mode="sse", times=1)
    server.faults.add(Fault.stall(), run_id=run.run_id, mode="long-poll")
    rule = server.faults.add(Fault.corrupt_json(), probability=0.5)
    ...
    assert rule.hits == 1

Fault kinds (constructors of :class:`Fault`):

- ``status(code, retry_after=None, body=None, headers=None)``: answer ``code`` at once with a
  Flue error envelope (or ``body``) and, if given, ``Retry-After``.
- ``redirect(location, status=307, append_path=False)``: answer a redirect to ``location``
  (with the request's path and query appended when ``append_path``).
- ``disconnect()``: close the connection without answering.
- ``delay(seconds)``: wait, then answer normally.
- ``drop_after(bytes)``: send the headers (a JSON body keeps its full ``Content-Length``) and
  ``bytes`` bytes of the body, then abort the connection: the body is cut mid-frame.
- ``truncate(bytes)``: send only the first ``bytes`` bytes of the body, then end it cleanly (a
  JSON body gets a matching ``Content-Length``; an SSE body just ends, without ``streamClosed``).
- ``stall(seconds=None, after_bytes=0)``: send the headers and ``after_bytes`` bytes of the
  body, then go silent for ``seconds`` (``None``: until the client hangs up or the server stops)
  and then carry on normally.
- ``corrupt_json(body=None)``: replace a JSON body (or the JSON of the first SSE data frame) with
  bytes that are not valid JSON, or with ``body``.
- ``malformed_sse(frame="control", nth=0, data="{not json")``: replace the ``data`` of the
  ``nth`` SSE frame of kind ``frame`` ("control" or "data") with ``data``.
- ``missing_next_offset()``: leave out ``Stream-Next-Offset`` (and ``streamNextOffset`` from
  SSE control frames).

Matchers of :meth:`FaultSet.add`: ``method``, ``path`` (exact string or compiled regex, matched
against the decoded path), ``run_id``, ``workflow``, ``mode`` (``"catch-up"``, ``"long-poll"``,
``"sse"``, ``"meta"``, ``"head"``, ``"invoke"``, ``"other"``), ``when`` (any predicate over the
:class:`RecordedRequest`), ``skip`` (let the first N matching requests through), ``times`` and
``probability``. ``add`` is thread-safe. Agent routes map onto the same modes: a prompt
``POST /agents/{name}/{id}`` is ``"invoke"``, its ``view=updates`` reads ``"catch-up"``,
``"long-poll"`` or ``"sse"``, ``HEAD`` ``"head"``; history, abort and attachments are ``"other"``
(narrow with ``path``).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from typing import Literal

import attrs
from multidict import CIMultiDictProxy

__all__ = [
    "Fault",
    "FaultKind",
    "FaultRule",
    "FaultSet",
    "Mode",
    "RecordedRequest",
    "conversation_mode",
    "read_mode",
]

FaultKind = Literal[
    "status",
    "redirect",
    "disconnect",
    "delay",
    "drop_after",
    "truncate",
    "stall",
    "corrupt_json",
    "malformed_sse",
    "missing_next_offset",
]
Mode = Literal["catch-up", "long-poll", "sse", "meta", "head", "invoke", "other"]

#: Fault kinds that act before the request is handled.
PRE_HANDLER_KINDS = frozenset({"status", "redirect", "disconnect", "delay"})


def read_mode(query: tuple[tuple[str, str], ...]) -> Mode:
    """The mode of a stream read, by its (first) ``live``: SSE, long-poll, else catch-up."""
    live = [value for key, value in query if key == "live"]
    if live and live[0] == "sse":
        return "sse"
    return "long-poll" if live and live[0] == "long-poll" else "catch-up"


def conversation_mode(method: str, query: tuple[tuple[str, str], ...]) -> Mode:
    """The mode of a request to an agent conversation: a POST delivers (``invoke``), a GET
    with ``view=updates`` reads the stream, any other read (history) is ``other``."""
    if method == "POST":
        return "invoke"
    if method == "HEAD":
        return "head"
    if ("view", "updates") not in query:
        return "other"
    return read_mode(query)


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request as the server received it (before any fault was applied).

    ``path`` is the percent-decoded path, ``raw_path`` the path as sent (without the query),
    ``query`` every ``(name, value)`` pair in order, ``run_id``/``workflow`` the path parameter
    when the path is ``/runs/{id}`` or ``/workflows/{name}``, and ``mode`` the kind of request.
    """

    method: str
    path: str
    raw_path: str
    query: tuple[tuple[str, str], ...]
    headers: CIMultiDictProxy[str]
    body: bytes
    mode: Mode
    run_id: str | None = None
    workflow: str | None = None
    fault: Fault | None = None

    def query_values(self, name: str) -> list[str]:
        """Every value of query parameter ``name``, in order."""
        return [value for key, value in self.query if key == name]


@attrs.frozen(kw_only=True)
class Fault:
    """One misbehaviour; build it with the class methods, never directly."""

    kind: FaultKind
    status_code: int = 0
    retry_after: float | str | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    location: str = ""
    append_path: bool = False
    seconds: float | None = None
    nbytes: int = 0
    frame: Literal["control", "data"] = "control"
    nth: int = 0
    data: str = ""

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | str | None = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer ``code`` at once (with ``Retry-After`` when given)."""
        raw = body.encode() if isinstance(body, str) else body
        return cls(
            kind="status",
            status_code=code,
            retry_after=retry_after,
            body=raw,
            headers=tuple((headers or {}).items()),
        )

    @classmethod
    def redirect(cls, location: str, *, status: int = 307, append_path: bool = False) -> Fault:
        """Answer a redirect to ``location`` (plus the request's path and query if asked)."""
        return cls(kind="redirect", status_code=status, location=location, append_path=append_path)

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without sending anything."""
        return cls(kind="disconnect")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before handling the request normally."""
        return cls(kind="delay", seconds=seconds)

    @classmethod
    def drop_after(cls, bytes: int) -> Fault:
        """Send the headers and ``bytes`` body bytes, then abort the connection."""
        return cls(kind="drop_after", nbytes=bytes)

    @classmethod
    def truncate(cls, bytes: int) -> Fault:
        """Send only the first ``bytes`` body bytes and end the body cleanly."""
        return cls(kind="truncate", nbytes=bytes)

    @classmethod
    def stall(cls, seconds: float | None = None, *, after_bytes: int = 0) -> Fault:
        """Send the headers (and ``after_bytes`` body bytes), then go silent."""
        return cls(kind="stall", seconds=seconds, nbytes=after_bytes)

    @classmethod
    def corrupt_json(cls, body: bytes | str | None = None) -> Fault:
        """Replace the JSON body (or first SSE data frame) with invalid JSON or ``body``."""
        raw = body.encode() if isinstance(body, str) else body
        return cls(kind="corrupt_json", body=raw)

    @classmethod
    def malformed_sse(
        cls, frame: Literal["control", "data"] = "control", *, nth: int = 0, data: str = "{not json"
    ) -> Fault:
        """Replace the ``data`` of the ``nth`` SSE ``frame`` ("control"/"data") with ``data``."""
        return cls(kind="malformed_sse", frame=frame, nth=nth, data=data)

    @classmethod
    def missing_next_offset(cls) -> Fault:
        """Leave out ``Stream-Next-Offset`` / ``streamNextOffset``."""
        return cls(kind="missing_next_offset")


_Matcher = Callable[[RecordedRequest], bool]


@attrs.define(eq=False)
class FaultRule:
    """A fault with the requests it applies to; ``hits`` counts the requests it was applied to."""

    fault: Fault
    matches: _Matcher
    times: int | None = None
    probability: float | None = None
    skip: int = 0
    hits: int = 0
    seen: int = 0

    @property
    def exhausted(self) -> bool:
        """True once the rule has been applied ``times`` times."""
        return self.times is not None and self.hits >= self.times


class FaultSet:
    """The server's fault rules. Thread-safe; decisions use one seeded ``random.Random``."""

    def __init__(self, seed: int | None = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)

    def seed(self, seed: int | None) -> None:
        """Re-seed the random source used for ``probability``."""
        with self._lock:
            self._random.seed(seed)

    def add(
        self,
        fault: Fault,
        *,
        times: int | None = None,
        probability: float | None = None,
        skip: int = 0,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        run_id: str | None = None,
        workflow: str | None = None,
        mode: Mode | None = None,
        when: _Matcher | None = None,
    ) -> FaultRule:
        """Apply ``fault`` to matching requests; ``times=None`` means every matching request."""
        if times is not None and times < 0:
            raise ValueError("times must be >= 0")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")

        def matches(req: RecordedRequest) -> bool:
            if method is not None and req.method != method.upper():
                return False
            if isinstance(path, str) and req.path != path:
                return False
            if isinstance(path, re.Pattern) and not path.search(req.path):
                return False
            if run_id is not None and req.run_id != run_id:
                return False
            if workflow is not None and req.workflow != workflow:
                return False
            if mode is not None and req.mode != mode:
                return False
            return when is None or when(req)

        rule = FaultRule(
            fault=fault, matches=matches, times=times, probability=probability, skip=skip
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """A snapshot of the rules, in the order they are tried."""
        with self._lock:
            return list(self._rules)

    def pick(self, req: RecordedRequest) -> Fault | None:
        """The fault to apply to ``req``, if any (counts the hit)."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(req):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                if rule.probability is not None and self._random.random() >= rule.probability:
                    continue
                rule.hits += 1
                return rule.fault
        return None

    def random(self) -> float:
        """A draw from the seeded random source (used for cursor jitter)."""
        with self._lock:
            return self._random.random()
