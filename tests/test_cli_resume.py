"""The CLI's exact checkpoint (`--checkpoint FILE`: the run id and the position), its manners
in a pipe whose reader goes away, and `--version`. Pipes are real: subprocesses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import flue
from flue._cli.main import main
from flue.testing import FlueTestServer
from tests.conftest import TOKEN


def make_run(server: FlueTestServer, n: int, *, end: bool = True) -> str:
    run = server.create_run(workflow="emit")
    server.append(run, [{"type": "log", "level": "info", "message": f"m{i}"} for i in range(n)])
    if end:
        server.end_run(run, result={"emitted": n})
    return str(run)


class _Interrupted(io.StringIO):
    """stdout that gets Ctrl-C while the line after `lines` lines is written."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.lines = lines

    def write(self, text: str) -> int:
        if self.getvalue().count("\n") >= self.lines:
            raise KeyboardInterrupt
        return super().write(text)


def stream_cli(
    server: FlueTestServer, run_id: str, ckpt: Path, out: io.StringIO
) -> tuple[int, list[int], str]:
    err = io.StringIO()
    argv = ["runs", "stream", run_id, "--json", "--checkpoint", str(ckpt), "--live", "sse"]
    code = main([*argv, "--base-url", server.url, "--token", TOKEN], out=out, err=err)
    return (
        code,
        [json.loads(line)["eventIndex"] for line in out.getvalue().splitlines()],
        err.getvalue(),
    )


def test_checkpoint_resumes_exactly_after_the_last_event_printed(
    server: FlueTestServer, tmp_path: Path
) -> None:
    run_id = make_run(server, 6)  # 8 events, one batch
    ckpt = tmp_path / "ckpt"
    code, first, _ = stream_cli(server, run_id, ckpt, _Interrupted(3))
    assert (code, first) == (130, [0, 1, 2])
    saved = json.loads(ckpt.read_text())
    assert saved["run_id"] == run_id and saved["position"].endswith("+3")
    code, second, err = stream_cli(server, run_id, ckpt, io.StringIO())
    assert code == 0 and "resuming from checkpoint" in err
    assert second == [3, 4, 5, 6, 7]  # each event once


def test_checkpoint_of_another_run_is_refused(server: FlueTestServer, tmp_path: Path) -> None:
    first, other = make_run(server, 6), make_run(server, 6)
    ckpt = tmp_path / "ckpt"
    code, _, _ = stream_cli(server, first, ckpt, _Interrupted(3))
    assert code == 130
    before = ckpt.read_text()
    code, printed, err = stream_cli(server, other, ckpt, io.StringIO())
    assert code != 0 and printed == []
    assert f"checkpoint of run {first!r}, not of {other!r}" in err
    assert ckpt.read_text() == before  # left alone
    ckpt.write_text("0000000000000000_0000000000000003\n")  # a bare offset: whose run?
    code, printed, err = stream_cli(server, first, ckpt, io.StringIO())
    assert code != 0 and printed == [] and "--offset" in err


def _cli(server: FlueTestServer, *argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flue", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "FLUE_BASE_URL": server.url, "FLUE_TOKEN": TOKEN},
    )


def test_a_reader_that_goes_away_ends_the_stream_quietly(server: FlueTestServer) -> None:
    run_id = make_run(server, 1, end=False)  # live: more is written after the reader left
    proc = _cli(server, "runs", "stream", run_id, "--json", "--live", "sse")
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["eventIndex"] == 0  # like `head -1`
        proc.stdout.close()
        server.append(run_id, [{"type": "log", "message": "x" * 100}] * 50)
        server.end_run(run_id)
        _, raw_err = proc.communicate(timeout=30)  # (stdout is closed: only stderr is read)
        err, code = raw_err.decode(), proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code in (0, 141)
    assert err == ""  # no "error: [Errno 32] Broken pipe", no "Exception ignored"


def test_version(server: FlueTestServer) -> None:
    proc = _cli(server, "--version")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.decode().strip() == f"flue {flue.__version__}"
