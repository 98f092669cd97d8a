"""A server cannot drive the user's terminal through the command line: escape sequences, C1
controls, carriage returns and bidirectional overrides in anything a server sends (event text,
log messages, tool names, results, agent replies, error bodies) are printed as visible
``\\uXXXX`` escapes, in the human output and in ``--json`` lines (which stay valid JSON and
decode to the server's exact text)."""

from __future__ import annotations

import io
import json

import pytest

from flue._cli.main import main
from flue._cli.render import Renderer
from flue._cli.text import printable
from flue.models import event_from_dict
from flue.testing import Fault, FlueTestServer
from tests.conftest import TOKEN

# clear screen + home, a window-title OSC, a one-byte C1 CSI, a carriage return that would
# overwrite the line, a backspace, DEL, and a right-to-left override
HOSTILE = "ok\x1b[2J\x1b[H\x1b]0;owned\x07\x9b31m\rfake\x08\x7f\u202eevil"
ACTIVE = ["\x1b", "\x07", "\x9b", "\r", "\x08", "\x7f", "\u202e"]


def run_cli(server: FlueTestServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--base-url", server.url, "--token", TOKEN], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def assert_inert(text: str) -> None:
    found = [c for c in ACTIVE if c in text]
    assert found == [], f"active characters reached the terminal: {found!r} in {text!r}"


def hostile_run(server: FlueTestServer) -> str:
    run = server.create_run(workflow="emit")
    server.append(
        run,
        [
            {"type": "log", "level": "info", "message": HOSTILE, "attributes": {"k": HOSTILE}},
            {"type": "text_delta", "text": HOSTILE},
            {"type": "tool_start", "toolName": HOSTILE, "toolCallId": "t1", "args": {}},
            {"type": HOSTILE, "detail": HOSTILE},
        ],
    )
    server.end_run(run, result={"r": HOSTILE})
    return str(run)


def test_printable_escapes_only_what_a_terminal_acts_on() -> None:
    assert printable("plain text, tabs\tand\nnewlines, ünïcödé, 漢字, emoji 🙂") == (
        "plain text, tabs\tand\nnewlines, ünïcödé, 漢字, emoji 🙂"
    )
    assert printable("a\x1b[31mb\x9bc\rd\u202ee") == "a\\u001b[31mb\\u009bc\\u000dd\\u202ee"
    # in a JSON string the escape decodes back to the same character
    line = printable(json.dumps({"t": "x\x9by\u2066z"}, ensure_ascii=False))
    assert line == '{"t": "x\\u009by\\u2066z"}' and json.loads(line) == {"t": "x\x9by\u2066z"}


@pytest.mark.parametrize("command", ["events", "stream"])
def test_run_events_human_output_is_inert(server: FlueTestServer, command: str) -> None:
    code, out, err = run_cli(server, "runs", command, hostile_run(server))
    assert code == 0, err
    assert_inert(out + err)
    assert "\\u001b[2J" in out and "\\u202eevil" in out  # shown, not dropped


def test_run_events_json_lines_are_inert_and_exact(server: FlueTestServer) -> None:
    code, out, _ = run_cli(server, "runs", "events", hostile_run(server), "--json")
    assert code == 0
    assert_inert(out)
    events = {e["type"]: e for e in (json.loads(line) for line in out.splitlines())}
    assert events["log"]["message"] == HOSTILE and events["text_delta"]["text"] == HOSTILE
    assert HOSTILE in events  # the unknown type, exact


def test_run_record_is_inert(server: FlueTestServer) -> None:
    run_id = hostile_run(server)
    for extra in ([], ["--json"]):
        code, out, _ = run_cli(server, "runs", "get", run_id, *extra)
        assert code == 0
        assert_inert(out)
        assert json.loads(out)["result"] == {"r": HOSTILE}


def test_agent_reply_is_inert(server: FlueTestServer) -> None:
    server.add_agent("hostile", reply=HOSTILE)
    code, out, err = run_cli(server, "agents", "prompt", "hostile", "c1", "hi")
    assert code == 0, err
    assert_inert(out + err)
    assert "\\u001b]0;owned\\u0007" in out


def test_error_text_from_the_server_is_inert(server: FlueTestServer) -> None:
    body = json.dumps({"error": {"type": "bad", "message": HOSTILE}})
    run_id = hostile_run(server)
    server.faults.add(Fault.status(400, body=body), run_id=run_id, times=1)
    code, out, err = run_cli(server, "runs", "get", run_id, "--retries", "0")
    assert code == 1 and out == ""
    assert_inert(err)


def test_renderer_keeps_its_own_colours_and_escapes_the_servers() -> None:
    renderer = Renderer(colour=True)
    text = renderer.render(event_from_dict({"type": "log", "level": "error", "message": HOSTILE}))
    assert text.count("\x1b[") == 4  # dim time, red label, and their two resets: ours only
    assert "\\u001b[2J" in text
