# The `runs`, `workflows` and `streams` resources of a client: each turns a call into
# requests (flue._protocol.http) or a reader (ReadMachine) and hands them to the client
# (`ClientHost`), which sends them with its headers, parameters, hooks and retries.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

from flue._async._callbacks import Params, call_user, check_params
from flue._async._host import ClientHost, Reader
from flue._models.convert import event_from_dict, events_from_dicts
from flue._models.runs import (
    InvokeResult,
    RunRecord,
    invoke_result_from_dict,
    run_record_from_dict,
)
from flue._protocol.http import (
    build_invoke_request,
    build_run_record_request,
    join_url,
    run_url,
)
from flue._protocol.params import OFFSET_START, LiveMode
from flue._protocol.runref import RunRef, run_id_of
from flue._protocol.secrets import redact
from flue.errors import FlueExecutionError, InvalidArgumentError, ProtocolError

if TYPE_CHECKING:  # imported on first use: a run record needs no event, agent or stream
    from flue._async._stream import AsyncBatchStream, AsyncRunStream
    from flue._models.conversation import WorkflowRunResult
    from flue._models.events import Event
    from flue._protocol.params import LiveArg

__all__ = ["AsyncRuns", "AsyncStreams", "AsyncWorkflows"]


def _identity(value: Any) -> Any:
    return value


def _reader(
    client: ClientHost,
    url: str,
    *,
    offset: str,
    position: str | None,
    tail: int | None,
    live: LiveArg,
    **options: Any,
) -> Reader:
    """The reader of a read from `offset`, or from exactly `position` (its offset, then the
    items already handed out skipped)."""
    skip = 0
    if position is not None:
        if offset != OFFSET_START:
            raise InvalidArgumentError(
                "pass offset= or position=, not both (a position carries its own offset)"
            )
        from flue._protocol.position import parse_position

        offset, skip = parse_position(position)
    reader = client.reader(url, offset=offset, tail=tail, live=live, **options)
    if skip:
        reader.resume_after(skip)
    return reader


def _batch_stream(
    client: ClientHost, reader: Reader, params: Params | None = None
) -> AsyncBatchStream:
    from flue._async._stream import AsyncBatchStream

    return AsyncBatchStream(client, reader, params=params)


class AsyncRuns:
    """The `runs` of a client (``client.runs``): read workflow runs.

    Not created directly: use ``client.runs``.
    """

    def __init__(self, client: ClientHost) -> None:
        self._client = client

    async def get(self, run_id: str | RunRef) -> RunRecord:
        """The run record of a run: status, timing, result or error.

        Args:
            run_id: the run's id, or anything with a ``run_id`` (the result of `invoke()`,
                a ``flue.testing`` `RunHandle`).

        Returns:
            The run record, as it is when the server answers.

        Raises:
            RunNotFoundError: no such run (or a missing or wrong token: Flue answers both alike).
        """
        run_id = run_id_of(run_id)
        client = self._client
        doc = await client.call_json(
            build_run_record_request(client.base_url, run_id), run_id=run_id
        )
        if not isinstance(doc, dict):
            raise ProtocolError(f"run record of {run_id!r} is not a JSON object")
        return run_record_from_dict(doc)

    @overload
    async def events(
        self,
        run_id: str | RunRef,
        *,
        offset: str = ...,
        position: str | None = ...,
        tail: int | None = ...,
        as_dict: Literal[False] = ...,
    ) -> list[Event]: ...

    @overload
    async def events(
        self,
        run_id: str | RunRef,
        *,
        offset: str = ...,
        position: str | None = ...,
        tail: int | None = ...,
        as_dict: Literal[True],
    ) -> list[dict[str, Any]]: ...

    @overload
    async def events(
        self,
        run_id: str | RunRef,
        *,
        offset: str = ...,
        position: str | None = ...,
        tail: int | None = ...,
        as_dict: bool,
    ) -> list[Event] | list[dict[str, Any]]: ...

    async def events(
        self,
        run_id: str | RunRef,
        *,
        offset: str = OFFSET_START,
        position: str | None = None,
        tail: int | None = None,
        as_dict: bool = False,
    ) -> list[Event] | list[dict[str, Any]]:
        """Every event of a run from `offset` until up to date (all pages), in order.

        It does not wait for new events: use `stream()` to follow a run live.

        Args:
            run_id: the run's id, or anything with a ``run_id`` (the result of `invoke()`).
            offset: where to start: ``"-1"`` (`OFFSET_START`, the default) for the first
                event, ``"now"`` for nothing already there, or a checkpoint saved from
                `RunStream.offset`.
            position: where to resume instead, exactly: a `RunStream.position` saved after
                an event (not with `offset`; see docs/resume.md).
            tail: keep only the last `tail` events (with ``offset="-1"`` only).
            as_dict: return each event as its decoded JSON object instead of a model
                (fastest).

        Returns:
            The events, as typed models (`flue.models.Event`, an `UnknownEvent` for a type
            this version does not know) or, with ``as_dict=True``, as dicts.
        """
        run_id = run_id_of(run_id)
        client = self._client
        sse = client.catchup == "sse"
        url = run_url(client.base_url, run_id)
        live: LiveArg = "sse" if sse else False
        reader = _reader(
            client, url, offset=offset, position=position, tail=tail, live=live, run_id=run_id
        )
        out: list[Any] = []
        async with _batch_stream(client, reader) as batches:
            async for batch in batches:
                # models are built batch by batch, while the server keeps sending
                out.extend(batch.items if as_dict else events_from_dicts(batch.items))
                if sse and batch.up_to_date and not batch.closed:
                    break  # caught up; a closed stream ends by itself, its connection kept
        return out

    @overload
    def stream(
        self,
        run_id: str | RunRef,
        *,
        offset: str = ...,
        position: str | None = ...,
        tail: int | None = ...,
        live: bool | Literal["long-poll", "sse"] | LiveMode = ...,
        as_dict: Literal[False] = ...,
    ) -> AsyncRunStream[Event]: ...

    @overload
    def stream(
        self,
        run_id: str | RunRef,
        *,
        offset: str = ...,
        position: str | None = ...,
        tail: int | None = ...,
        live: bool | Literal["long-poll", "sse"] | LiveMode = ...,
        as_dict: Literal[True],
    ) -> AsyncRunStream[dict[str, Any]]: ...

    @overload
    def stream(
        self,
        run_id: str | RunRef,
        *,
        offset: str = ...,
        position: str | None = ...,
        tail: int | None = ...,
        live: bool | Literal["long-poll", "sse"] | LiveMode = ...,
        as_dict: bool,
    ) -> AsyncRunStream[Event] | AsyncRunStream[dict[str, Any]]: ...

    def stream(
        self,
        run_id: str | RunRef,
        *,
        offset: str = OFFSET_START,
        position: str | None = None,
        tail: int | None = None,
        live: bool | Literal["long-poll", "sse"] | LiveMode = True,
        as_dict: bool = False,
    ) -> AsyncRunStream[Event] | AsyncRunStream[dict[str, Any]]:
        """The events of a run: catch-up from `offset`, then live until the run ends.

        No request is made until you iterate. Save the stream's `position` after handling an
        event to resume from there later exactly (`offset`: from its batch, at least once).

        Args:
            run_id: the run's id, or anything with a ``run_id`` (the result of `invoke()`).
            offset: where to start: ``"-1"`` (`OFFSET_START`, the default) for the first
                event, ``"now"`` for new events only, or a checkpoint saved from
                `RunStream.offset`.
            position: where to resume instead, exactly: a `RunStream.position` saved after
                an event; the stream starts with the event after it (not with `offset`; see
                docs/resume.md).
            tail: start with only the last `tail` events (with ``offset="-1"`` only).
            live: how to wait for new events once up to date: True or ``"long-poll"``,
                ``"sse"`` (one long-lived connection), or False to stop when up to date.
            as_dict: yield each event as its decoded JSON object instead of a model.

        Returns:
            A stream to iterate (in a ``with``/``async with`` block) for events, with its
            `offset` checkpoint; it ends when the run has ended and every event was read.
        """
        run_id = run_id_of(run_id)
        client = self._client
        url = run_url(client.base_url, run_id)
        reader = _reader(
            client, url, offset=offset, position=position, tail=tail, live=live, run_id=run_id
        )
        batches = _batch_stream(client, reader)
        from flue._async._stream import AsyncRunStream

        if as_dict:
            return AsyncRunStream(batches, _identity)
        return AsyncRunStream(batches, event_from_dict)


class AsyncWorkflows:
    """The `workflows` of a client (``client.workflows``): start runs.

    Not created directly: use ``client.workflows``.
    """

    def __init__(self, client: ClientHost, runs: AsyncRuns) -> None:
        self._client = client
        self._runs = runs  # run() follows the run it started

    async def invoke(self, name: str, input: Any = None, *, wait: bool = False) -> InvokeResult:
        """Start a run of a workflow, and optionally wait for its result.

        Invocations are not idempotent, so only failures that certainly did not reach the
        server (connection refused, 429) are retried.

        Args:
            name: the workflow's name.
            input: the run's input, any JSON value; None (the default) sends no body.
            wait: wait until the run has finished and return its result too.

        Returns:
            The new run's id (``run_id``) and, with ``wait=True``, its ``result``.

        Raises:
            WorkflowNotFoundError: the application has no workflow of that name.
        """
        client = self._client
        request = build_invoke_request(client.base_url, name, input, wait=wait)
        doc = await client.call_json(request, workflow=name, idempotent=False, wait=wait)
        if not isinstance(doc, dict) or not isinstance(doc.get("runId"), str):
            what = (
                "an object without" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}, no"
            )
            raise ProtocolError(f"invoking workflow {name!r} answered with {what} runId")
        return invoke_result_from_dict(doc)

    async def run(
        self, name: str, input: Any = None, *, on_event: Callable[[Event], Any] | None = None
    ) -> WorkflowRunResult:
        """Start a run of a workflow and follow its events until it ends.

        Args:
            name: the workflow's name.
            input: the run's input, any JSON value; None (the default) sends no body.
            on_event: called with every event of the run, in order (in the asyncio client a
                plain or an ``async`` function).

        Returns:
            The run's id and its result.

        Raises:
            FlueExecutionError: the run ended in error (``failure="failed"``, the run's
                ``error``), or its stream ended without ``run_end`` and its record is not
                finished (``failure="terminal_event_missing"``).
            WorkflowNotFoundError: the application has no workflow of that name.
        """
        from flue._models.events import RunEndEvent

        client = self._client
        run_id = (await self.invoke(name, input)).run_id
        async with self._runs.stream(run_id) as events:
            async for event in events:
                if on_event is not None:
                    await call_user(on_event, event)
                if isinstance(event, RunEndEvent) and event.run_id in (None, run_id):
                    return _run_outcome(run_id, event.is_error, event.result, event.raw, client)
        record = await self._runs.get(run_id)
        if record.status in ("completed", "errored"):
            errored = record.status == "errored"
            return _run_outcome(run_id, errored, record.result, record.raw, client)
        raise FlueExecutionError(
            target="workflow_run", target_id=run_id, failure="terminal_event_missing"
        )


def _run_outcome(
    run_id: str, is_error: bool | None, result: Any, raw: dict[str, Any], client: ClientHost
) -> WorkflowRunResult:
    if is_error:
        error = FlueExecutionError(
            target="workflow_run", target_id=run_id, failure="failed", error=raw.get("error")
        )
        raise redact(error, client.secrets())
    from flue._models.conversation import WorkflowRunResult

    return WorkflowRunResult(run_id=run_id, result=result)


class AsyncStreams:
    """The `streams` of a client (``client.streams``): a generic Durable Streams reader, for
    any stream URL.

    Not created directly: use ``client.streams``.
    """

    def __init__(self, client: ClientHost) -> None:
        self._client = client

    def read(
        self,
        url_or_path: str,
        *,
        offset: str = OFFSET_START,
        position: str | None = None,
        live: bool | Literal["long-poll", "sse"] | LiveMode = False,
        tail: int | None = None,
        decode: Literal["json", "bytes"] = "json",
        params: Params | None = None,
    ) -> AsyncBatchStream:
        """The batches of any Durable Streams stream, from a checkpoint.

        No request is made until you iterate.

        Args:
            url_or_path: the stream's URL, absolute or relative to the client's base URL.
            offset: where to start: ``"-1"`` (`OFFSET_START`, the default), ``"now"``, or a
                checkpoint saved from `BatchStream.offset`.
            position: where to resume instead, exactly: a `BatchStream.position` (or
                `position_after()`) saved before; not with `offset` (see docs/resume.md).
            live: how to wait once up to date: False (the default: stop when up to date),
                True or ``"long-poll"``, or ``"sse"``.
            tail: start with only the last `tail` items (with ``offset="-1"`` only).
            decode: ``"json"`` for the decoded JSON values of a JSON stream, ``"bytes"`` for
                the raw bytes of any stream (base64 SSE data is decoded).
            params: query parameters for this stream's requests: a dict, or a callable
                returning one (``async`` too, in the asyncio client) called for every request
                and reconnect. They are merged over the client's ``params`` like httpx does:
                a name set here replaces the client's value, and None removes it.

        Returns:
            A stream to iterate (in a ``with``/``async with`` block) for `Batch` objects:
            items, the offset after them, and whether the stream is up to date or closed.
        """
        if decode not in ("json", "bytes"):
            raise InvalidArgumentError(f"decode must be 'json' or 'bytes', got {decode!r}")
        if not isinstance(url_or_path, str) or not url_or_path:
            raise InvalidArgumentError("url_or_path must be a non-empty string")
        client = self._client
        url = join_url(client.base_url, url_or_path)
        reader = _reader(
            client,
            url,
            offset=offset,
            position=position,
            tail=tail,
            live=live,
            decode=decode,
            objects_only=False,
        )
        return _batch_stream(client, reader, check_params(params, "params of this call"))
