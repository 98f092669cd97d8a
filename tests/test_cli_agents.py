"""`flue agents prompt|observe` and `flue workflows run`, against the fake server."""

from __future__ import annotations

import io
import json

import pytest

from flue import FlueClient
from flue._cli import agents as cli_agents
from flue._cli.console import Console
from flue._cli.main import main
from flue.models import ConversationState, message_from_dict
from flue.testing import FlueTestServer
from tests.agent_helpers import emit, explode
from tests.conftest import TOKEN


def run_cli(server: FlueTestServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--base-url", server.url, "--token", TOKEN], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_prompt_prints_the_reply(server: FlueTestServer) -> None:
    code, out, err = run_cli(server, "agents", "prompt", "assistant", "c1", "Hello there")
    assert (code, out, err) == (0, "echo: Hello there\n", "")
    # a tool call, then the reply in a second message of the same submission
    code, out, _ = run_cli(server, "agents", "prompt", "assistant", "c1", "tool: ping")
    assert code == 0
    assert out == '[tool echo({"text": "ping"})]\ntool said: {"echoed":"ping"}\n'


def test_prompt_json_prints_every_chunk(server: FlueTestServer) -> None:
    code, out, _ = run_cli(server, "agents", "prompt", "assistant", "c2", "hi", "--json")
    chunks = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert chunks[0]["type"] == "message-appended"
    assert chunks[-1]["type"] == "submission-settled" and chunks[-1]["outcome"] == "completed"


def test_prompt_that_fails_exits_1(server: FlueTestServer) -> None:
    code, out, err = run_cli(server, "agents", "prompt", "assistant", "c3", "fail: now")
    assert code == 1 and out == ""
    assert err.startswith("error: Agent submission ") and "failed" in err


def test_workflows_run(server: FlueTestServer) -> None:
    server.add_workflow("emit", emit)
    server.add_workflow("explode", explode)
    code, out, _ = run_cli(server, "workflows", "run", "emit", "--input", '{"count": 2}')
    lines = out.splitlines()
    assert code == 0 and len(lines) == 5
    assert "run_start" in lines[0] and "run_end" in lines[3]
    assert json.loads(lines[-1]) == {"emitted": 2}
    code, out, _ = run_cli(server, "workflows", "run", "emit", "--input", '{"count": 1}', "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("type") for line in lines[:3]] == ["run_start", "log", "run_end"]
    assert lines[-1]["result"] == {"emitted": 1} and lines[-1]["runId"] == lines[0]["runId"]
    code, _, err = run_cli(server, "workflows", "run", "explode")
    assert code == 1 and "kaboom" in err


def test_transcript_only_appends_while_a_reply_grows() -> None:
    user = message_from_dict({"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]})
    reply = message_from_dict(
        {"id": "a", "role": "assistant", "parts": [{"type": "text", "text": "echo:"}]}
    )
    longer = message_from_dict(
        {"id": "a", "role": "assistant", "parts": [{"type": "text", "text": "echo: hi"}]}
    )
    first = cli_agents.transcript(ConversationState(messages=(user, reply)))
    second = cli_agents.transcript(ConversationState(messages=(user, longer)))
    assert first == "user: hi\nassistant: echo:" and second.startswith(first)


class StopAfter(Console):
    """A console whose output raises KeyboardInterrupt (Ctrl-C) once `text` was written."""

    def __init__(self, text: str) -> None:
        super().__init__(io.StringIO(), io.StringIO(), as_json=False, max_attempts=1, mode=None)
        self.text = text
        self.written = ""

    def write(self, text: str) -> None:
        super().write(text)
        self.written += text
        if self.text in self.written:
            raise KeyboardInterrupt


@pytest.mark.parametrize("live", ["sse", "long-poll"])
def test_observe_prints_a_live_transcript(server: FlueTestServer, live: str) -> None:
    console = StopAfter("assistant: echo: second one")
    with FlueClient(server.url, token=TOKEN) as client:
        client.agents.prompt("assistant", "obs", "first")
        # the second prompt is sent once the history is on screen
        original = console.write

        def write_then_prompt(text: str) -> None:
            original(text)
            if "echo: first" in console.written and "second" not in console.written:
                client.agents.send("assistant", "obs", "second one")

        console.write = write_then_prompt  # type: ignore[method-assign]
        code = cli_agents.observe(client, console, "assistant", "obs", live=live)
    assert code == 130
    assert console.written.startswith(
        "user: first\nassistant: echo: first\nuser: second one\nassistant: echo: second one"
    )
    assert "interrupted at offset" in console.err.getvalue()  # type: ignore[attr-defined]
