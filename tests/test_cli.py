"""The `flue` command line, against the fake server (and the pure renderer)."""

from __future__ import annotations

import io
import json
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from flue._cli.main import cli_text, main
from flue._cli.render import Renderer, short_time
from flue.models import event_from_dict
from flue.testing import Fault, FlueTestServer
from tests.conftest import TOKEN
from tests.reliability.rawserver import Exchange, RawServer, http_response


def run_cli(server: FlueTestServer, *argv: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = [*argv, "--base-url", server.url]
    if token is not None:
        args += ["--token", token]
    code = main(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def make_run(server: FlueTestServer, n: int, *, end: bool = True) -> str:
    run = server.create_run(workflow="emit")
    server.append(run, [{"type": "log", "level": "info", "message": f"m{i}"} for i in range(n)])
    if end:
        server.end_run(run, result={"emitted": n})
    return str(run)


def test_runs_get_json(server: FlueTestServer) -> None:
    run_id = make_run(server, 2)
    code, out, _ = run_cli(server, "runs", "get", run_id, "--json")
    assert code == 0
    assert json.loads(out)["status"] == "completed"


def test_runs_events_json_lines(server: FlueTestServer) -> None:
    run_id = make_run(server, 150)
    code, out, _ = run_cli(server, "runs", "events", run_id, "--json", "--tail", "10")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["eventIndex"] for e in lines] == list(range(142, 152))


def test_runs_stream_human_output(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    code, out, _ = run_cli(server, "runs", "stream", run_id, "--live", "sse")
    assert code == 0
    lines = out.splitlines()
    assert "run_start" in lines[0] and "workflow emit" in lines[0]
    assert "log.info" in lines[1] and "m0" in lines[1]
    assert "run_end" in lines[-1] and "completed" in lines[-1]
    assert "\x1b[" not in out  # no colour when not a terminal


def test_stream_checkpoint_file_resumes(server: FlueTestServer, tmp_path: Path) -> None:
    run_id = make_run(server, 250, end=False)
    ckpt = tmp_path / "ckpt"
    server.end_run(run_id)
    code, out, _ = run_cli(
        server, "runs", "stream", run_id, "--json", "--checkpoint", str(ckpt), "--live", "sse"
    )
    assert code == 0
    first = [json.loads(line)["eventIndex"] for line in out.splitlines()]
    assert first == list(range(252))
    saved = ckpt.read_text().strip()
    assert json.loads(saved)["position"].endswith("251+0")  # with the run id since #25
    code, out, err = run_cli(server, "runs", "stream", run_id, "--json", "--checkpoint", str(ckpt))
    assert code == 0 and out == ""  # nothing after the checkpoint
    assert "resuming from checkpoint" in err


def test_workflows_invoke_wait(server: FlueTestServer) -> None:
    code, out, _ = run_cli(
        server, "workflows", "invoke", "emit", "--input", '{"count": 2}', "--wait", "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["result"] == {"emitted": 2, "size": 0}


def test_errors_are_one_line_and_exit_1(server: FlueTestServer) -> None:
    code, out, err = run_cli(server, "runs", "get", "nope")
    assert code == 1 and out == ""
    assert err.startswith("error: HTTP 404") and err.count("\n") == 1
    assert "Traceback" not in err
    code, _, err = run_cli(server, "runs", "events", make_run(server, 1), token=None)
    assert code == 1 and "401" in err
    code, _, err = run_cli(server, "workflows", "invoke", "emit", "--input", "{bad")
    assert code == 1 and "--input is not valid JSON" in err
    code, _, err = run_cli(server, "runs", "events", "x", "--tail", "0")
    assert code == 1 and "tail" in err


def ev(d: dict[str, Any]) -> Any:
    return event_from_dict({"v": 3, "timestamp": "2026-11-24T16:06:33.168Z", **d})


def test_renderer_joins_deltas_and_summarises() -> None:
    r = Renderer()
    text = "".join(
        [
            r.render(ev({"type": "text_delta", "text": "Hel"})),
            r.render(ev({"type": "text_delta", "text": "lo"})),
            r.render(ev({"type": "thinking_delta", "delta": "hmm"})),
            r.render(ev({"type": "tool_start", "toolName": "ls", "toolCallId": "c1"})),
            r.render(ev({"type": "tool", "toolCallId": "c1", "durationMs": 1500})),
            r.render(
                ev(
                    {
                        "type": "run_end",
                        "isError": True,
                        "error": {"message": "boom"},
                        "durationMs": 20,
                    }
                )
            ),
            r.finish(),
        ]
    )
    lines = text.splitlines()
    assert lines[0] == "16:06:33.168 assistant      Hello"
    assert lines[1].endswith("thinking       hmm")
    assert "tool_start     ls" in lines[2]
    assert lines[3].endswith("tool           ls ok in 1.50s")
    assert "errored after 20ms: boom" in lines[4]
    assert short_time(None).strip() == ""


def test_renderer_colour_only_when_asked() -> None:
    plain = Renderer().render(ev({"type": "log", "level": "error", "message": "x"}))
    coloured = Renderer(colour=True).render(ev({"type": "log", "level": "error", "message": "x"}))
    assert "\x1b[" not in plain and "\x1b[31m" in coloured


def test_unknown_events_render_their_fields() -> None:
    line = Renderer().render(ev({"type": "brand_new", "foo": 1}))
    assert "brand_new" in line and '"foo":1' in line


def test_demo_command_streams_a_live_run() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flue", "demo", "--pace", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert {"text_delta", "tool_start", "tool", "log"} <= set(types)
    assert [e["eventIndex"] for e in events] == list(range(len(events)))


def test_ctrl_c_exits_cleanly_with_the_checkpoint(server: FlueTestServer) -> None:
    import os
    import signal

    run_id = make_run(server, 150, end=False)  # stays active: the stream waits for more
    proc = subprocess.Popen(
        [sys.executable, "-m", "flue", "runs", "stream", run_id, "--json", "--live", "sse"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FLUE_BASE_URL": server.url, "FLUE_TOKEN": TOKEN},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(151)]  # every event so far has arrived
        assert json.loads(lines[-1])["eventIndex"] == 150
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "last checkpoint: 0000000000000000_0000000000000150" in err


# -- global options, before and after the command --------------------------------------------

RECORD = (
    b'{"runId":"run_1","workflowName":"w","status":"active","startedAt":"2025-01-01T00:00:00Z"}'
)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def placed(command: list[str], options: list[str], position: str) -> list[str]:
    """`options` before the command, between its words, or after it."""
    if position == "before":
        return [*options, *command]
    if position == "between":
        return [command[0], *options, *command[1:]]
    return [*command, *options]


@pytest.fixture
def tls_server() -> Iterator[tuple[RawServer, trustme.CA]]:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    def answer(ex: Exchange) -> None:
        ex.send(http_response(200, {"content-type": "application/json"}, RECORD))

    with RawServer(answer, tls=context) as srv:
        yield srv, ca


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("FLUE_BASE_URL", raising=False)
    monkeypatch.delenv("FLUE_TOKEN", raising=False)
    return monkeypatch


POSITIONS = ["before", "between", "after"]


@pytest.mark.parametrize("position", POSITIONS)
def test_base_url_anywhere(server: FlueTestServer, no_env: Any, position: str) -> None:
    no_env.setenv("FLUE_TOKEN", TOKEN)
    run_id = make_run(server, 1)
    code, out, err = cli(*placed(["runs", "get", run_id], ["--base-url", server.url], position))
    assert code == 0, err
    assert json.loads(out)["runId"] == run_id


@pytest.mark.parametrize("position", POSITIONS)
def test_token_anywhere(server: FlueTestServer, no_env: Any, position: str) -> None:
    no_env.setenv("FLUE_BASE_URL", server.url)
    run_id = make_run(server, 1)
    code, _, err = cli("runs", "events", run_id)
    assert code == 1 and "401" in err  # the server wants the token...
    code, _, err = cli(*placed(["runs", "events", run_id], ["--token", TOKEN], position))
    assert code == 0, err  # ...and gets it wherever it was written


@pytest.mark.parametrize("position", POSITIONS)
def test_json_anywhere(server: FlueTestServer, no_env: Any, position: str) -> None:
    no_env.setenv("FLUE_BASE_URL", server.url)
    no_env.setenv("FLUE_TOKEN", TOKEN)
    run_id = make_run(server, 1)
    code, human, _ = cli("runs", "get", run_id)
    assert code == 0 and human.count("\n") > 1  # indented for people
    code, out, _ = cli(*placed(["runs", "get", run_id], ["--json"], position))
    assert code == 0 and out.count("\n") == 1 and json.loads(out)["runId"] == run_id


@pytest.mark.parametrize("position", POSITIONS)
def test_debug_anywhere(server: FlueTestServer, no_env: Any, position: str) -> None:
    no_env.setenv("FLUE_BASE_URL", server.url)
    no_env.setenv("FLUE_TOKEN", TOKEN)
    run_id = make_run(server, 1)
    assert "flue: GET" not in cli("runs", "get", run_id)[2]
    code, _, err = cli(*placed(["runs", "get", run_id], ["--debug"], position))
    assert code == 0 and "flue: GET" in err
    assert TOKEN not in err


@pytest.mark.parametrize("position", POSITIONS)
def test_retries_anywhere(server: FlueTestServer, no_env: Any, position: str) -> None:
    no_env.setenv("FLUE_BASE_URL", server.url)
    no_env.setenv("FLUE_TOKEN", TOKEN)
    run_id = make_run(server, 1)
    server.faults.add(Fault.status(503), run_id=run_id)
    code, _, err = cli(*placed(["runs", "get", run_id], ["--retries", "1"], position))
    assert code == 1 and "gave up after 2 attempts" in err


@pytest.mark.parametrize("position", POSITIONS)
def test_ca_bundle_anywhere(
    tls_server: tuple[RawServer, trustme.CA], no_env: Any, tmp_path: Path, position: str
) -> None:
    srv, ca = tls_server
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    no_env.setenv("FLUE_BASE_URL", srv.url)
    code, _, err = cli("runs", "get", "run_1")
    assert code == 1 and "certificate verification failed" in err
    code, out, err = cli(*placed(["runs", "get", "run_1"], ["--ca-bundle", str(bundle)], position))
    assert code == 0, err
    assert json.loads(out)["runId"] == "run_1"


def test_a_later_global_option_wins_and_defaults_never_clobber(
    server: FlueTestServer, no_env: Any
) -> None:
    no_env.setenv("FLUE_TOKEN", TOKEN)
    run_id = make_run(server, 1)
    server.faults.add(Fault.status(503), run_id=run_id)
    code, _, err = cli(
        "--retries",
        "5",
        "--base-url",
        server.url,
        "runs",
        "--json",
        "get",
        run_id,
        "--retries",
        "0",
    )
    assert code == 1 and "gave up after 1 attempt)" in err


def test_bad_global_option_values_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["runs", "get", "r", "--retries", "-1"],
        ["--retries", "many", "runs", "get", "r"],
        ["runs", "get", "r", "--ca-bundle", "/no/such/ca.pem"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv, out=io.StringIO(), err=io.StringIO())
        assert info.value.code == 2
    usage = capsys.readouterr().err
    assert "must be 0 or more" in usage and "not a whole number" in usage
    assert "no such file or folder: '/no/such/ca.pem'" in usage


# -- workflows invoke ------------------------------------------------------------------------


def test_invoke_prints_the_bare_run_id(server: FlueTestServer) -> None:
    code, out, _ = run_cli(server, "workflows", "invoke", "emit", "--input", '{"count": 1}')
    assert code == 0
    assert re.fullmatch(r"run_\w+\n", out), out
    assert out.strip() in server.run_ids


def test_invoke_json_is_the_whole_answer_on_one_line(server: FlueTestServer) -> None:
    code, out, _ = run_cli(server, "workflows", "invoke", "emit", "--json")
    assert code == 0 and out.count("\n") == 1
    assert json.loads(out)["runId"] in server.run_ids


def test_invoke_wait_prints_the_run_id_then_the_result(server: FlueTestServer) -> None:
    code, out, _ = run_cli(
        server, "workflows", "invoke", "emit", "--input", '{"count": 2}', "--wait"
    )
    assert code == 0
    run_id, result = out.splitlines()
    assert run_id in server.run_ids
    assert json.loads(result) == {"emitted": 2, "size": 0}


# -- retries, failures and hints ------------------------------------------------------------

PRIVATE_NAME = re.compile(r"\b_+[A-Z]\w*|object at 0x")


def test_retries_are_reported_on_stderr_without_a_terminal(server: FlueTestServer) -> None:
    run_id = make_run(server, 2)
    server.faults.add(Fault.status(503), run_id=run_id, times=2)
    code, out, err = run_cli(server, "runs", "events", run_id, "--json")
    assert code == 0 and len(out.splitlines()) == 4
    notes = err.splitlines()
    assert len(notes) == 2, err
    assert notes[0].startswith("retry: attempt 1 of 4 failed; next try in ")
    assert notes[1].startswith("retry: attempt 2 of 4 failed; next try in ")
    assert all("HTTP 503" in note for note in notes)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_fails_within_seconds(no_env: Any) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    started = time.monotonic()
    code, out, err = cli("runs", "stream", "run_1", "--base-url", url)
    elapsed = time.monotonic() - started
    # nothing ever answered there: 3 attempts (fail_fast, docs/retries.md), waits of at most
    # 0.5 + 1 s, and a refusal is immediate
    assert elapsed < 1.5 + 3.0, elapsed
    assert code == 1 and out == ""
    notes = err.splitlines()
    assert [n.startswith("retry: attempt ") for n in notes] == [True, True, False]
    # the limit shown is the one that applies where nothing ever answered, not --retries + 1
    assert notes[0].startswith("retry: attempt 1 of 3 failed") and "attempt 2 of 3" in notes[1]
    assert notes[-1] == (
        f"error: could not connect to {url}/runs/run_1: connection refused (is the server "
        "running, and is the port in the URL right?) (gave up after 3 attempts)"
    )


def test_unknown_host_fails_after_the_few_default_retries(no_env: Any) -> None:
    # (how long a failed lookup takes is up to the machine's resolver, so only count attempts)
    code, out, err = cli("runs", "get", "run_1", "--base-url", "http://no-such-host.invalid")
    assert code == 1 and out == ""
    notes = err.splitlines()
    assert len(notes) == 2 and notes[-1].startswith(
        "error: could not connect to http://no-such-host.invalid/runs/run_1: the host name "
        "'no-such-host.invalid' could not be resolved ("
    )
    # nothing ever answered there: one retry only (fail_fast, docs/retries.md)
    assert notes[-1].endswith("check the URL's host (gave up after 2 attempts)")
    assert not PRIVATE_NAME.search(err), err


def test_retries_zero_fails_at_once(no_env: Any) -> None:
    code, _, err = cli(
        "runs", "get", "r", "--base-url", f"http://127.0.0.1:{unused_port()}", "--retries", "0"
    )
    assert code == 1 and err.count("\n") == 1 and "gave up after 1 attempt)" in err


def test_wrong_path_prefix_is_not_blamed_on_the_run_or_token(server: FlueTestServer) -> None:
    run_id = make_run(server, 1)
    code, _, err = cli("runs", "get", run_id, "--base-url", server.url + "/api", "--token", TOKEN)
    assert code == 1 and "route_not_found" in err
    assert "check the base URL" in err
    assert "token" not in err.lower() and "unknown or expired" not in err
    code, _, err = cli("workflows", "invoke", "emit", "--base-url", server.url + "/api")
    assert code == 1 and "check the base URL" in err and "defines no workflow" not in err
    code, _, err = run_cli(server, "runs", "get", "run_nope")  # a real unknown run still is
    assert "unknown or expired" in err and "--base-url" not in err


def test_https_to_a_plain_port_says_the_server_may_not_speak_tls(
    server: FlueTestServer,
) -> None:
    url = server.url.replace("http://", "https://")
    code, _, err = cli("runs", "get", "run_1", "--base-url", url, "--token", TOKEN)
    assert code == 1 and err.count("\n") == 1  # not retried: a retry cannot fix it
    assert "may not speak TLS" in err and "use an http:// URL" in err
    assert "--ca-bundle" not in err and "verify=" not in err and "certificate" not in err
    assert not PRIVATE_NAME.search(err), err


def test_hints_name_the_cli_options(
    server: FlueTestServer, tls_server: tuple[RawServer, trustme.CA], no_env: Any
) -> None:
    srv, _ = tls_server
    code, _, err = cli("runs", "get", "run_1", "--base-url", srv.url)
    assert code == 1 and "Pass --ca-bundle PATH" in err and "verify=" not in err
    run_id = make_run(server, 1)
    code, _, err = run_cli(server, "runs", "get", run_id, token=None)
    assert "pass --token TOKEN (or set FLUE_TOKEN)" in err and "token=..." not in err
    code, _, err = cli("runs", "get", "r")
    assert code == 1 and err == (
        "error: no application URL: pass --base-url URL or set FLUE_BASE_URL\n"
    )
    code, _, err = cli("runs", "get", "r", "--base-url", "ftp://example")
    assert code == 1 and err.startswith("error: --base-url must be an absolute")
    server.faults.add(Fault.status(429), run_id=run_id)
    code, _, err = run_cli(server, "runs", "get", run_id, "--retries", "0")
    assert code == 1 and "raise --retries" in err


def test_cli_text_rewrites_every_library_spelling() -> None:
    from flue._cli.main import _CLI_WORDS

    for library, cli_words in _CLI_WORDS:
        assert cli_text(f"x {library} y") == f"x {cli_words} y"
    assert cli_text("two\nlines  here") == "two lines here"
