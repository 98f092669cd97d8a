"""The blocking client as a user's strictly typed program (and pytest suite) uses it.

`nox -s lint` checks this file with ``mypy --strict`` and ``pyright`` in strict mode; every
`assert_type` states the type a user's checker must infer, so a change to flue's public typing
that breaks users fails lint. pytest also runs it against the plugin's fake server, so the
program is real, not only well typed.
"""

# pyright: strict

from __future__ import annotations

import sys
from typing import Any

import certifi
import pytest
import requests

from flue import (
    OFFSET_START,
    APIError,
    Batch,
    BatchStream,
    FlueClient,
    FlueError,
    LiveMode,
    RetryPolicy,
    RunNotFoundError,
    RunStream,
    Timeout,
    WorkflowNotFoundError,
)
from flue.models import Event, InvokeResult, LogEvent, RunEndEvent, RunRecord
from flue.testing import Fault, FaultRule, FlueTestServer, RunHandle

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

TOKEN = "typed-user-token"


def make_client(
    base_url: str, *, session: requests.Session | None = None, verify: bool | str = True
) -> FlueClient:
    """Every constructor option, as a user would pass them."""

    def headers() -> dict[str, str]:
        return {"X-Caller": "typed-snippet"}

    return FlueClient(
        base_url,
        token=TOKEN,
        headers=headers,
        timeout=Timeout(connect=5.0, read=10.0, long_poll=45.0, stall=45.0, invoke_wait=60.0),
        retry=RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3, jitter=False),
        session=session,
        verify=verify,
        catchup="get",
        max_event_size=1 << 20,
    )


def finished_run(server: FlueTestServer) -> RunHandle:
    run = server.create_run(workflow="typed")
    assert_type(run, RunHandle)
    run.append([{"type": "log", "level": "info", "message": "hello"}])
    run.end(result={"ok": True})
    return run


def events_either_way(
    client: FlueClient, run_id: str, *, as_dict: bool
) -> list[Event] | list[dict[str, Any]]:
    """``as_dict`` known only at run time: the result is either list."""
    events = client.runs.events(run_id, as_dict=as_dict)
    assert_type(events, list[Event] | list[dict[str, Any]])
    return events


def stream_either_way(
    client: FlueClient, run_id: str, *, as_dict: bool
) -> list[Event | dict[str, Any]]:
    with client.runs.stream(run_id, live=True, as_dict=as_dict) as stream:
        assert_type(stream, RunStream[Event] | RunStream[dict[str, Any]])
        items: list[Event | dict[str, Any]] = []
        for item in stream:
            assert_type(item, Event | dict[str, Any])
            items.append(item)
        return items


@pytest.mark.flue_server(token=TOKEN)
def test_client_options(flue_server_thread: FlueTestServer) -> None:
    url = flue_server_thread.url
    assert_type(url, str)
    run_id = str(finished_run(flue_server_thread))
    with (
        requests.Session() as session,
        make_client(url, session=session, verify=certifi.where()) as client,
    ):
        assert_type(client, FlueClient)
        assert_type(client.base_url, str)
        assert_type(client.retry, RetryPolicy)
        assert_type(client.timeout, Timeout)
        assert client.runs.get(run_id).run_id == run_id
    with FlueClient(url, token=TOKEN, headers={"X-Caller": "dict"}, timeout=5.0) as client:
        assert client.runs.get(run_id).status == "completed"
    client = FlueClient(url, token=TOKEN, retry=RetryPolicy.disabled(), verify=False)
    try:
        assert client.runs.get(run_id).workflow_name == "typed"
    finally:
        client.close()
    assert flue_server_thread.requests[0].headers["X-Caller"] == "typed-snippet"


@pytest.mark.flue_server(token=TOKEN)
def test_runs_get_and_events(flue_server_thread: FlueTestServer) -> None:
    run_id = str(finished_run(flue_server_thread))
    with make_client(flue_server_thread.url) as client:
        record = client.runs.get(run_id)
        assert_type(record, RunRecord)
        assert_type(record.status, str | None)
        assert record.status == "completed" and record.result == {"ok": True}

        events = client.runs.events(run_id)
        assert_type(events, list[Event])
        assert [e.type for e in events] == ["run_start", "log", "run_end"]
        messages = [e.message for e in events if isinstance(e, LogEvent)]
        assert_type(messages, list[str | None])
        assert messages == ["hello"]

        models = client.runs.events(run_id, as_dict=False, tail=1)
        assert_type(models, list[Event])
        assert isinstance(models[0], RunEndEvent)

        dicts = client.runs.events(run_id, as_dict=True, offset=OFFSET_START)
        assert_type(dicts, list[dict[str, Any]])
        assert dicts[1]["message"] == "hello"

        assert events_either_way(client, run_id, as_dict=True) == dicts
        assert events_either_way(client, run_id, as_dict=False) == events


@pytest.mark.flue_server(token=TOKEN, long_poll_timeout=0.2)
def test_runs_stream_and_checkpoints(flue_server_thread: FlueTestServer) -> None:
    run = flue_server_thread.create_run(workflow="typed")
    run_id = str(run)
    with make_client(flue_server_thread.url) as client:
        checkpoint = OFFSET_START
        with client.runs.stream(run_id, live=False) as stream:
            assert_type(stream, RunStream[Event])
            for event in stream:
                assert_type(event, Event)
                assert_type(event.event_index, int | None)
                checkpoint = stream.offset  # save after handling, never before
                assert_type(checkpoint, str)
        assert checkpoint != OFFSET_START
        run.append({"type": "log", "level": "info", "message": "hello"})
        run.end(result={"ok": True})
        # resume from the checkpoint: only what came after it
        with client.runs.stream(run_id, offset=checkpoint, live=LiveMode.SSE) as resumed:
            assert [e.type for e in resumed] == ["log", "run_end"]
            assert_type(resumed.closed, bool)
            assert resumed.closed

        with client.runs.stream(run_id, live="long-poll", as_dict=True) as raw:
            assert_type(raw, RunStream[dict[str, Any]])
            assert [item["type"] for item in raw] == ["run_start", "log", "run_end"]

        assert stream_either_way(client, run_id, as_dict=True) == flue_server_thread.events(run_id)
        assert isinstance(stream_either_way(client, run_id, as_dict=False)[-1], RunEndEvent)

        stream = client.runs.stream(run_id, tail=1)
        stream.cancel()  # before iterating: no request at all
        assert list(stream) == []


@pytest.mark.flue_server(token=TOKEN)
def test_streams_read(flue_server_thread: FlueTestServer) -> None:
    run_id = str(finished_run(flue_server_thread))
    with make_client(flue_server_thread.url) as client:
        with client.streams.read(f"runs/{run_id}") as batches:
            assert_type(batches, BatchStream)
            for batch in batches:
                assert_type(batch, Batch)
                assert_type(batch.items, list[Any])
                assert_type(batch.next_offset, str)
                assert_type(batch.up_to_date, bool)
            assert batches.up_to_date
        with client.streams.read(f"runs/{run_id}", decode="bytes", live=False) as raw:
            data = b"".join(batch.data for batch in raw)
            assert_type(data, bytes)
            assert b'"hello"' in data


@pytest.mark.flue_server(token=TOKEN)
def test_workflows_invoke(flue_server_thread: FlueTestServer) -> None:
    with make_client(flue_server_thread.url) as client:
        started = client.workflows.invoke("emit", {"count": 2})
        assert_type(started, InvokeResult)
        assert_type(started.run_id, str)
        assert_type(started.result, Any)
        finished = client.workflows.invoke("emit", {"count": 2}, wait=True)
        assert finished.result == {"emitted": 2, "size": 0}


@pytest.mark.flue_server(token=TOKEN)
def test_errors(flue_server_thread: FlueTestServer) -> None:
    rule = flue_server_thread.faults.add(Fault.status(503, retry_after=0.01), times=1)
    assert_type(rule, FaultRule)
    with make_client(flue_server_thread.url) as client:
        try:
            client.runs.get("run_missing")
        except RunNotFoundError as exc:
            assert_type(exc.status, int)
            assert_type(exc.error_type, str | None)
            assert exc.status == 404
        else:
            raise AssertionError("expected RunNotFoundError")
        try:
            client.workflows.invoke("no-such-workflow")
        except WorkflowNotFoundError as exc:
            assert isinstance(exc, APIError)
        else:
            raise AssertionError("expected WorkflowNotFoundError")
    assert rule.exhausted  # the 503 was retried
    with FlueClient(flue_server_thread.url, token="wrong") as client:
        try:
            client.runs.events("run_missing")
        except FlueError as exc:
            assert_type(exc, FlueError)
            assert TOKEN not in str(exc)
        else:
            raise AssertionError("expected a FlueError")


def test_server_in_a_thread() -> None:
    with FlueTestServer.running_in_thread(page_size=1) as server:
        assert_type(server, FlueTestServer)
        run_id = str(finished_run(server))
        with FlueClient(server.url) as client:
            assert len(client.runs.events(run_id)) == 3


@pytest.mark.flue_server(token=TOKEN)
def test_agents_typed(flue_server_thread: FlueTestServer) -> None:
    import flue.models as m
    from flue import ConversationObserver, FlueExecutionError

    with make_client(flue_server_thread.url) as client:
        sent = client.agents.send("assistant", "typed", "hi")
        assert_type(sent, m.AgentSendResult)
        chunks: list[m.ConversationChunk] = []
        reply = client.agents.wait(sent, on_event=chunks.append)
        assert_type(reply, m.AgentResult)
        assert_type(reply.text, str | None)
        res = client.agents.prompt("assistant", "typed", "again")
        assert_type(res.result, m.AgentResult)
        snap = client.agents.history("assistant", "typed")
        assert_type(snap, m.ConversationSnapshot)
        assert_type(snap.messages[0].parts[0], m.Part)
        with client.agents.observe("assistant", "typed", live="long-poll") as obs:
            assert_type(obs, ConversationObserver)
            for state in obs:
                assert_type(state, m.ConversationState)
                break
        assert_type(client.agents.abort("assistant", "typed"), m.AgentAbortResult)
        assert_type(client.agents.attachment_url("assistant", "typed", "a"), str)
        try:
            client.agents.prompt("assistant", "typed", "fail: now")
        except FlueExecutionError as exc:
            assert_type(exc.failure, str)
