"""The `flue` command line, against the fake server (and the pure renderer)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from flue._cli.main import main
from flue._cli.render import Renderer, short_time
from flue.models import event_from_dict
from flue.testing import FlueTestServer
from tests.conftest import TOKEN


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
    assert saved.endswith("251")
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
