"""A pure driver for ReadMachine: scripted responses, no sockets, no sleeping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from flue._protocol.http import HttpRequest
from flue._protocol.reader import NEED_DATA, Deliver, Done, ReadMachine, SendRequest, Sleep
from flue.errors import TransportError


@attrs.define
class Scripted:
    """One scripted response: head, then body chunks; `error` raised instead of a chunk."""

    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    chunks: Sequence[bytes] = ()
    error_at: int | None = None  # raise a TransportError before chunk N
    open_error: TransportError | None = None


@attrs.define
class Trace:
    requests: list[HttpRequest] = attrs.field(factory=list)
    items: list[Any] = attrs.field(factory=list)
    checkpoints: list[str] = attrs.field(factory=list)
    sleeps: list[float] = attrs.field(factory=list)
    done: Done | None = None

    def query(self, i: int) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.requests[i].url).query, keep_blank_values=True)


def drive(
    reader: ReadMachine,
    respond: Callable[[HttpRequest], Scripted],
    *,
    max_steps: int = 100_000,
    on_batch: Callable[[Trace], bool] | None = None,
) -> Trace:
    """Run `reader` to completion against `respond`; exceptions propagate."""
    trace = Trace()
    current: Scripted | None = None
    pos = 0
    for _ in range(max_steps):
        action = reader.next_action()
        if action is NEED_DATA:
            assert current is not None
            if current.error_at is not None and pos == current.error_at:
                current = None
                reader.receive_transport_error(TransportError("scripted cut"))
                continue
            if pos < len(current.chunks):
                chunk = current.chunks[pos]
                pos += 1
                reader.receive_data(chunk)
            else:
                reader.receive_data(b"")
        elif isinstance(action, SendRequest):
            trace.requests.append(action.request)
            current = respond(action.request)
            pos = 0
            if current.open_error is not None:
                err, current = current.open_error, None
                reader.receive_transport_error(err)
                continue
            reader.receive_response(current.status, current.headers)
        elif isinstance(action, Deliver):
            trace.items.extend(action.batch.items)
            reader.batch_delivered()
            trace.checkpoints.append(reader.offset)
            if on_batch is not None and on_batch(trace):
                return trace
        elif isinstance(action, Sleep):
            current = None
            trace.sleeps.append(action.seconds)
        else:
            assert isinstance(action, Done)
            trace.done = action
            return trace
    raise AssertionError("reader did not finish: it loops")
