"""`flue conversation send|read|prompt|history|observe|abort URL` and `flue demo --agent`,
against the fake server (Flue 1.0 beta.9 conversations)."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flue import FlueClient
from flue._cli import conversation as cli_conversation
from flue._cli.console import Console
from flue._cli.main import cli_text, main
from flue.testing import Fault, FlueTestServer
from tests.conftest import TOKEN
from tests.test_cli_terminal_safety import HOSTILE, assert_inert

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class Watched(io.StringIO):
    """Output whose reader can wait (with a timeout, no sleeps) until some text is written."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, text: str) -> int:
        with self.changed:
            count = super().write(text)
            self.changed.notify_all()
            return count

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        with self.changed:
            found = self.changed.wait_for(lambda: text in self.getvalue(), timeout)
        assert found, f"{text!r} not written within {timeout}s: {self.getvalue()!r}"


def run_cli(server: FlueTestServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--base-url", server.url, "--token", TOKEN], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def conv_cli(server: FlueTestServer, *argv: str) -> tuple[int, str, str]:
    return run_cli(server, "conversation", *argv)


@pytest.fixture
def client(server: FlueTestServer) -> Iterator[FlueClient]:
    with FlueClient(server.url, token=TOKEN) as c:
        yield c


# -- send, read, prompt ---------------------------------------------------------------------


def test_send_prints_the_submission_id_and_read_the_reply(
    server: FlueTestServer, client: FlueClient
) -> None:
    code, out, err = conv_cli(server, "send", "agents/assistant/s1", "Hello there")
    assert code == 0 and err == ""
    submission_id = out.strip()
    assert out == submission_id + "\n" and submission_id
    code, out, err = conv_cli(server, "read", "agents/assistant/s1", submission_id)
    assert (code, out, err) == (0, "echo: Hello there\n", "")
    # --json: the reply object, exactly as the client reads it
    code, out, _ = conv_cli(server, "read", "agents/assistant/s1", submission_id, "--json")
    expected = client.conversation("agents/assistant/s1").read(submission_id).raw
    assert code == 0 and out == json.dumps(expected, ensure_ascii=False) + "\n"
    assert json.loads(out)["text"] == "echo: Hello there"


def test_send_json_prints_the_admission(server: FlueTestServer) -> None:
    code, out, _ = conv_cli(server, "send", "agents/assistant/s2", "hi", "--json")
    admission = json.loads(out)
    assert code == 0 and out.count("\n") == 1
    assert set(admission) == {"streamUrl", "offset", "submissionId"}
    assert admission["streamUrl"] == f"{server.url}/agents/assistant/s2"


def test_prompt_prints_the_reply(server: FlueTestServer) -> None:
    code, out, err = conv_cli(server, "prompt", "agents/assistant/p1", "Hello there")
    assert (code, out, err) == (0, "echo: Hello there\n", "")
    # reasoning, then a tool call as a short line, then the reply's text
    code, out, err = conv_cli(server, "prompt", "agents/assistant/p1", "think: tool: ping")
    assert (code, err) == (0, "")
    assert out == (
        "(thinking) thinking about ping\n"
        '[tool echo({"text": "ping"})]\n'
        'tool said: {"echoed":"ping"}\n'
    )
    code, out, _ = conv_cli(server, "prompt", "agents/assistant/p1", "tool: boom")
    assert code == 0
    assert out == (
        '[tool echo({"text": "boom"})]\n'
        "[tool echo failed: echo refused: boom]\n"
        "tool said: echo refused: boom\n"
    )


def test_prompt_json_prints_the_reply_object(server: FlueTestServer, client: FlueClient) -> None:
    code, out, _ = conv_cli(server, "prompt", "agents/assistant/p2", "tool: x", "--json")
    reply = json.loads(out)
    assert code == 0 and out.count("\n") == 1
    expected = client.conversation("agents/assistant/p2").read(reply["submissionId"]).raw
    assert out == json.dumps(expected, ensure_ascii=False) + "\n"
    assert reply["text"] == 'tool said: {"echoed":"x"}'


def test_prompt_streams_the_reply_before_it_settles(server: FlueTestServer) -> None:
    agent = server.add_agent("paced", reply="one two three four", pause_after=2)
    out, err = Watched(), Watched()
    codes: list[int] = []
    argv = ["conversation", "prompt", "agents/paced/c1", "go", "--base-url", server.url]
    worker = threading.Thread(
        target=lambda: codes.append(main([*argv, "--token", TOKEN], out=out, err=err))
    )
    worker.start()
    try:
        agent.wait_paused(10)  # the reply is held after two tokens: not settled
        out.wait_for("one two")
        assert out.getvalue() == "one two" and codes == []
    finally:
        agent.resume()
        worker.join(10)
    assert codes == [0] and out.getvalue() == "one two three four\n"


def test_prompt_with_an_image(server: FlueTestServer, tmp_path: Path) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(PNG)
    code, out, err = conv_cli(server, "prompt", "agents/assistant/i1", "hi", "--image", str(image))
    assert code == 0, err
    assert out.startswith("echo: hi\n\n<attachments>\n<image id=")
    code, out, _ = conv_cli(server, "history", "agents/assistant/i1")
    assert out.startswith("user: hi [file dot.png]\nassistant: echo: hi")


def test_absolute_url_needs_no_base_url(server: FlueTestServer) -> None:
    out, err = io.StringIO(), io.StringIO()
    url = f"{server.url}/agents/assistant/abs"
    code = main(["conversation", "prompt", url, "hi", "--token", TOKEN], out=out, err=err)
    assert (code, out.getvalue()) == (0, "echo: hi\n")


# -- history, abort, observe ----------------------------------------------------------------


def test_history(server: FlueTestServer) -> None:
    conv_cli(server, "prompt", "agents/assistant/h1", "first")
    conv_cli(server, "prompt", "agents/assistant/h1", "tool: second")
    code, out, err = conv_cli(server, "history", "agents/assistant/h1")
    assert (code, err) == (0, "")
    assert out == (
        "user: first\n"
        "assistant: echo: first\n"
        "user: tool: second\n"
        "assistant: [tool echo]\n"
        'assistant: tool said: {"echoed":"second"}\n'
    )
    code, out, _ = conv_cli(server, "history", "agents/assistant/h1", "--json")
    assert json.loads(out) == server.agent_handle("assistant").history("h1")


def test_history_notes_failed_submissions(server: FlueTestServer) -> None:
    code, _, err = conv_cli(server, "prompt", "agents/assistant/h2", "fail: now")
    assert code == 1 and err.startswith("error: Agent submission ") and "failed" in err
    code, out, err = conv_cli(server, "history", "agents/assistant/h2")
    assert code == 0 and out.startswith("user: fail: now\n")
    assert err.startswith("(submission ") and err.endswith(" failed)\n")


def test_abort(server: FlueTestServer, client: FlueClient) -> None:
    code, out, _ = conv_cli(server, "abort", "agents/assistant/a1")
    assert (code, out) == (0, "nothing to abort: the conversation was idle\n")
    code, out, _ = conv_cli(server, "abort", "agents/assistant/a1", "--json")
    assert (code, out) == (0, '{"aborted": false}\n')
    agent = server.add_agent("held", reply="never finished", pause_after=1)
    conv = client.conversation("agents/held/a2")
    sent = conv.send("hi")
    agent.wait_paused(10)
    code, out, _ = conv_cli(server, "abort", "agents/held/a2")
    assert (code, out) == (
        0,
        "aborted: the reply under way and the messages queued behind it stopped\n",
    )
    code, out, err = conv_cli(server, "read", "agents/held/a2", sent.submission_id)
    assert code == 1 and out == "" and "aborted" in err


def observe_in_thread(
    client: FlueClient, url: str, console: Console, **options: Any
) -> tuple[threading.Thread, Callable[[], None], list[int]]:
    """Run the observe command in a thread; returns it, a stop function (the observer's
    cancel, as Ctrl-C ends it) and where its exit code goes."""
    conv = client.conversation(url)
    observers: list[Any] = []
    opened = threading.Event()
    original = conv.observe

    def observe(**kwargs: Any) -> Any:
        observers.append(original(**kwargs))
        opened.set()
        return observers[0]

    conv.observe = observe  # type: ignore[method-assign]
    codes: list[int] = []
    args = {"live": "sse", "if_missing": "wait", **options}
    worker = threading.Thread(
        target=lambda: codes.append(cli_conversation.observe(console, conv, **args))
    )
    worker.start()

    def stop() -> None:
        assert opened.wait(10)
        observers[0].cancel()
        worker.join(10)

    return worker, stop, codes


@pytest.mark.parametrize("live", ["sse", "long-poll"])
def test_observe_prints_the_transcript_live_with_its_phase(
    server: FlueTestServer, client: FlueClient, live: str
) -> None:
    conv = client.conversation("agents/assistant/o1")
    conv.prompt("first")
    out, err = Watched(), Watched()
    console = Console(out, err, as_json=False, max_attempts=1, mode=None)
    _, stop, codes = observe_in_thread(client, "agents/assistant/o1", console, live=live)
    try:
        out.wait_for("assistant: echo: first")
        err.wait_for("(phase: live")
        conv.prompt("second one")
        out.wait_for("assistant: echo: second one")
    finally:
        stop()
    assert codes == [0]
    assert out.getvalue() == (
        "user: first\nassistant: echo: first\nuser: second one\nassistant: echo: second one\n"
    )
    notes = err.getvalue().splitlines()
    assert notes[:2] == [
        "(phase: connecting: opening the live stream)",
        "(phase: live: following changes; Ctrl-C ends)",
    ]


def test_observe_json_prints_each_state_with_its_phase(
    server: FlueTestServer, client: FlueClient
) -> None:
    client.conversation("agents/assistant/o2").prompt("hi")
    out = Watched()
    console = Console(out, io.StringIO(), as_json=True, max_attempts=1, mode=None)
    _, stop, codes = observe_in_thread(client, "agents/assistant/o2", console)
    try:
        out.wait_for('"phase": "live"')
    finally:
        stop()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert codes == [0] and [line["phase"] for line in lines] == ["connecting", "live"]
    assert [m["text"] for m in lines[0]["messages"]] == ["hi", "echo: hi"]
    assert lines[0]["settlements"][0]["outcome"] == "completed"


def test_observe_a_missing_conversation(server: FlueTestServer) -> None:
    code, out, err = conv_cli(server, "observe", "agents/assistant/none", "--if-missing", "stop")
    assert (code, out) == (0, "")
    assert "(phase: absent: the conversation does not exist yet)" in err
    code, out, err = conv_cli(server, "observe", "agents/assistant/none", "--if-missing", "raise")
    assert code == 1 and out == ""
    assert "stream_not_found" in err and "it starts with its first message" in err


# -- errors ---------------------------------------------------------------------------------


def test_a_wrong_url_says_what_to_check(server: FlueTestServer) -> None:
    code, out, err = conv_cli(server, "history", "nothing/here/c1")
    assert code == 1 and out == ""
    assert err.startswith(f"error: HTTP 404 from {server.url}/nothing/here/c1 (route_not_found")
    assert "agents/NAME/ID under the app's URL on Flue 1.0" in err and "/workflows" not in err
    # a plain 404 (not one of Flue's JSON errors): nothing is mounted there
    server.faults.add(Fault.status(404, body="404 Not Found"), times=1)
    code, out, err = conv_cli(server, "prompt", "chat/c1", "hi", "--retries", "0")
    assert code == 1 and out == ""
    assert "a plain 404, not one of Flue's JSON errors" in err and err.count("\n") == 1
    assert "where the application mounts the agent" in err


def test_a_signal_to_a_beta9_server_is_refused(server: FlueTestServer) -> None:
    argv = ["send", "agents/assistant/x1", "build passed", "--signal", "webhook"]
    code, out, err = conv_cli(server, *argv, "--attribute", "repo=flue")
    assert (code, out) == (1, "")
    assert err == (
        "error: this server speaks Flue 1.0 (beta.9), which has no signal messages; send a "
        "plain message (without --signal)\n"
    )
    code, _, err = conv_cli(server, "prompt", "agents/assistant/x1", "hi", "--initial-data", "{}")
    assert code == 1
    assert "cannot honour --initial-data (they are Flue 2.x options)" in err
    assert server.agent_handle("assistant").instances == []  # nothing was admitted


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attribute", "a=b"], "--attribute and --tag-name go with --signal TYPE"),
        (["--initial-data", "{nope"], "--initial-data is not valid JSON"),
        (["--image", "notes.txt"], "cannot tell an image type from the file name"),
        (["--image", "missing.png"], "--image 'missing.png': No such file or directory"),
    ],
)
def test_bad_options_are_one_line_errors(
    server: FlueTestServer, extra: list[str], message: str
) -> None:
    code, out, err = conv_cli(server, "send", "agents/assistant/b1", "hi", *extra)
    assert (code, out) == (1, "") and err.startswith("error: ") and message in err
    assert err.count("\n") == 1


def test_library_spellings_become_options() -> None:
    text = (
        "Pass idempotency_key= to make retries safe. (its uid is in error.meta['uid']) "
        "Send without uid= to continue"
    )
    assert cli_text(text, command="conversation") == (
        "Pass --idempotency-key KEY to make retries safe. (its uid is in the error's meta.uid) "
        "Send without --uid to continue"
    )
    assert cli_text(text) == text  # other commands keep them


# -- terminal safety ------------------------------------------------------------------------


def test_server_text_is_inert_in_every_output(server: FlueTestServer) -> None:
    server.add_agent("hostile", reply=HOSTILE)
    code, out, err = conv_cli(server, "prompt", "agents/hostile/t1", "hi")
    assert code == 0, err
    assert_inert(out + err)
    assert "\\u001b]0;owned\\u0007" in out
    code, out, _ = conv_cli(server, "prompt", "agents/hostile/t1", "hi", "--json")
    assert_inert(out)
    assert json.loads(out)["text"] == HOSTILE  # the escapes decode to the exact text
    code, out, _ = conv_cli(server, "history", "agents/hostile/t1", "--json")
    assert_inert(out)
    assert json.loads(out)["messages"][-1]["parts"][0]["text"] == HOSTILE
    code, out, _ = conv_cli(server, "history", "agents/hostile/t1")
    assert_inert(out)
    assert out.count("\\u001b[2J") == 2  # the two replies, shown, not acted on


# -- the demo -------------------------------------------------------------------------------


def test_demo_agent_runs_to_the_end() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["demo", "--agent", "--pace", "0"], out=out, err=err) == 0
    assert out.getvalue() == (
        "user: think: tool: slow0: What is in the workspace?\n"
        "assistant: (thinking) thinking about What is in the workspace?\n"
        '[tool echo({"text": "What is in the workspace?"})]\n'
        'tool said: {"echoed":"What is in the workspace?"}\n'
        "user: slow0: Thanks! Say that back to me, one word at a time.\n"
        "assistant: echo: Thanks! Say that back to me, one word at a time.\n"
    )
    assert re.search(r"^demo: done \(\d+ messages\)", err.getvalue(), re.MULTILINE)
    out = io.StringIO()
    assert main(["demo", "--agent", "--pace", "0", "--json"], out=out, err=io.StringIO()) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    types = [line.get("type") for line in lines]
    assert {"message-delta", "tool-input", "submission-settled"} <= set(types)
    assert lines[-1]["text"] == "echo: Thanks! Say that back to me, one word at a time."


def test_conversation_help_imports_no_client() -> None:
    from tests.test_import_cost import CLI, HEAVY, NO_HTTP, _loaded, _modules

    for argv in (["conversation", "--help"], ["conversation", "prompt", "--help"]):
        assert _loaded(_modules(CLI, *argv), HEAVY + NO_HTTP) == [], argv
