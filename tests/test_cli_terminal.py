"""The status line on a terminal: the CLI runs in a pseudo-terminal, its output is replayed
through a small terminal emulator, and the final screen must hold exactly the event lines.

A status line written over an event, or an erase that hits an event line, leaves a corrupt
line on the screen and fails these tests.
"""

from __future__ import annotations

import errno
import io
import os
import re
import select
import struct
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from typing import Any

import pytest

from flue._cli.render import Renderer
from flue.models import event_from_dict
from flue.testing import Fault, FlueTestServer
from tests.conftest import TOKEN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

COLUMNS = 100
CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


class Screen:
    """Just enough of a VT100 for the CLI's output: text, CR, LF, wrap, CSI K/m/A-D/G.

    Anything else is an error, so that the test notices an escape sequence it does not model.
    The screen never scrolls away: every line stays in `lines`.
    """

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.lines: list[list[str]] = [[]]
        self.row = 0
        self.col = 0
        self.wrap_pending = False
        self.wrapped: set[int] = set()  # rows that continue on the next row (soft wrap)

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            char = text[i]
            if char == "\x1b":
                match = CSI.match(text, i)
                assert match is not None, f"unexpected escape sequence {text[i : i + 8]!r}"
                self._csi(match.group(1), match.group(2))
                i = match.end()
                continue
            if char == "\r":
                self.col, self.wrap_pending = 0, False
            elif char == "\n":
                self._down()
                self.wrap_pending = False
            elif ord(char) < 32:
                raise AssertionError(f"unexpected control character {char!r}")
            else:
                self._put(char)
            i += 1

    def _down(self) -> None:
        self.row += 1
        while len(self.lines) <= self.row:
            self.lines.append([])

    def _put(self, char: str) -> None:
        if self.wrap_pending:
            self.wrapped.add(self.row)
            self._down()
            self.col, self.wrap_pending = 0, False
        line = self.lines[self.row]
        while len(line) <= self.col:
            line.append(" ")
        line[self.col] = char
        if self.col == self.columns - 1:
            self.wrap_pending = True
        else:
            self.col += 1

    def _csi(self, params: str, final: str) -> None:
        n = int(params) if params.isdigit() else None
        if final == "m":
            return  # colours
        if final == "K":
            assert n in (None, 0), f"erase-line mode {params!r} not modelled"
            del self.lines[self.row][self.col :]
        elif final == "A":
            self.row = max(0, self.row - (n or 1))
        elif final == "B":
            self.row += n or 1
            self._down()
            self.row -= 1
        elif final == "C":
            self.col = min(self.columns - 1, self.col + (n or 1))
        elif final == "D":
            self.col = max(0, self.col - (n or 1))
        elif final == "G":
            self.col = min(self.columns - 1, (n or 1) - 1)
        else:
            raise AssertionError(f"escape sequence CSI {params}{final} not modelled")
        self.wrap_pending = False

    def text_lines(self) -> list[str]:
        """The screen's lines, soft-wrapped rows joined again."""
        lines: list[str] = []
        joining = False
        for row, cells in enumerate(self.lines):
            text = "".join(cells)
            if joining:
                lines[-1] += text
            else:
                lines.append(text)
            joining = row in self.wrapped
        lines = [line.rstrip() for line in lines]
        while lines and not lines[-1]:
            lines.pop()
        return lines


def screen_of(raw: bytes, columns: int = COLUMNS) -> list[str]:
    screen = Screen(columns)
    screen.feed(raw.decode("utf-8"))
    return screen.text_lines()


class Pty:
    """The CLI as a subprocess whose stdin, stdout and stderr are one pseudo-terminal."""

    def __init__(self, argv: list[str], env: dict[str, str], columns: int = COLUMNS) -> None:
        import fcntl
        import pty
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flue", *argv],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(slave)
        self.raw = b""
        self._mark = 0
        self._eof = False

    def _read(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([self.master], [], [], remaining)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError as exc:  # Linux: EIO once every writer has closed the terminal
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._eof = True
            return False
        self.raw += data
        return True

    def read_until(self, needle: bytes, timeout: float = 20.0) -> None:
        """Wait until `needle` appears after the previous match."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.raw.find(needle, self._mark)
            if found >= 0:
                self._mark = found + len(needle)
                return
            if self._eof or not self._read(deadline):
                raise AssertionError(f"{needle!r} never appeared; output so far: {self.raw!r}")

    def finish(self, timeout: float = 30.0) -> int:
        """Read to the end and return the exit code."""
        deadline = time.monotonic() + timeout
        while not self._eof:
            if not self._read(deadline) and not self._eof:
                raise AssertionError(f"the CLI did not finish; output so far: {self.raw!r}")
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def cli_env(server: FlueTestServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FLUE_TOKEN")}
    env.update(FLUE_BASE_URL=server.url, FLUE_TOKEN=TOKEN, TERM="xterm-256color")
    return env


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[Pty] = []

    def start(argv: list[str], env: dict[str, str]) -> Pty:
        started.append(Pty(argv, env))
        return started[-1]

    yield start
    for p in started:
        p.close()


def expected_lines(events: list[dict[str, Any]], *, break_after: Collection[int] = ()) -> list[str]:
    """What the CLI prints for `events` (plain), ending running text after the given indexes."""
    renderer = Renderer()
    parts: list[str] = []
    for raw in events:
        parts.append(renderer.render(event_from_dict(raw)))
        if raw["eventIndex"] in break_after:
            parts.append(renderer.finish())
    parts.append(renderer.finish())
    return [line.rstrip() for line in "".join(parts).splitlines()]


@pytest.mark.parametrize("live", ["sse", "long-poll"])
def test_status_line_never_shares_a_line_with_events(
    server: FlueTestServer, cli_env: dict[str, str], spawn: Any, live: str
) -> None:
    run = server.create_run(workflow="w")
    server.append(run, [{"type": "log", "level": "info", "message": "first"}])
    term = spawn(["runs", "stream", str(run), "--live", live], cli_env)
    term.read_until(b"first")
    term.read_until(b"waiting for events")  # idle at the start of a line
    server.append(run, [{"type": "text_delta", "text": "Hello "}])
    term.read_until(b"Hello ")
    term.read_until(b"waiting for events")  # idle in the middle of running text
    server.append(
        run,
        [
            {"type": "text_delta", "text": "world"},
            {"type": "log", "level": "warn", "message": "second"},
        ],
    )
    server.end_run(run, result={"ok": True})
    assert term.finish() == 0
    events = server.events(run)
    hello = next(e["eventIndex"] for e in events if e.get("text") == "Hello ")
    # the running text was ended before the status line was drawn under it
    assert screen_of(term.raw) == expected_lines(events, break_after={hello})
    assert "waiting for events" not in "\n".join(screen_of(term.raw))


def test_a_retrying_read_says_so_on_the_status_line(
    server: FlueTestServer, cli_env: dict[str, str], spawn: Any
) -> None:
    run = server.create_run(workflow="w")
    server.append(run, [{"type": "log", "level": "info", "message": f"m{i}"} for i in range(3)])
    server.end_run(run, result={"n": 3})
    server.faults.add(Fault.status(503), run_id=str(run), times=2)
    term = spawn(["runs", "stream", str(run), "--live", "sse"], cli_env)
    term.read_until(b"attempt 1 of 4 failed; next try in ")
    term.read_until(b"HTTP 503")
    term.read_until(b"attempt 2 of 4 failed; next try in ")
    assert term.finish() == 0
    screen = screen_of(term.raw)
    assert screen == expected_lines(server.events(run))  # the status line left no trace


def test_status_line_is_cut_to_the_terminal_width(
    server: FlueTestServer, cli_env: dict[str, str], spawn: Any
) -> None:
    # a long failure reason would wrap, and the erase would then clear only the last row
    run = server.create_run(workflow="w")
    server.end_run(run)
    server.faults.add(Fault.status(503), run_id=str(run), times=1)
    term = spawn(["runs", "events", str(run)], cli_env)
    assert term.finish() == 0
    drawn = [part for part in term.raw.decode().split("\r") if "attempt 1 of 4 failed" in part]
    assert drawn, term.raw
    for part in drawn:
        visible = CSI.sub("", part)
        assert len(visible) <= COLUMNS - 1 and visible.endswith("…")
    assert screen_of(term.raw) == expected_lines(server.events(run))


def test_notes_and_errors_do_not_land_on_the_status_line(
    server: FlueTestServer, cli_env: dict[str, str], spawn: Any
) -> None:
    run = server.create_run(workflow="w")
    server.faults.add(Fault.status(503), run_id=str(run))  # every read fails
    term = spawn(["runs", "stream", str(run), "--retries", "2"], cli_env)
    assert term.finish() == 1
    screen = screen_of(term.raw)
    assert len(screen) == 1 and screen[0].startswith("error: HTTP 503"), screen
    assert "gave up after 3 attempts" in screen[0]


# -- the Console itself, on a shared in-memory "terminal", with a controlled clock ----------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def console_on_one_terminal(**kwargs: Any) -> tuple[Any, io.StringIO, Clock]:
    from flue._cli.console import Console

    term = io.StringIO()
    clock = Clock()
    console = Console(term, term, mode="shared", clock=clock, **kwargs)
    return console, term, clock


def ev(index: int, **fields: Any) -> Any:
    return event_from_dict(
        {"v": 3, "eventIndex": index, "timestamp": "2026-11-24T16:06:33.168Z", **fields}
    )


def test_console_erases_before_output_and_redraws_for_notes() -> None:
    console, term, clock = console_on_one_terminal(as_json=False, max_attempts=4)
    with console.waiting():
        console.event(ev(0, type="log", level="info", message="a"))
        clock.now += 5
        console._draw()
        assert "waiting for events" in screen_of(term.getvalue().encode())[-1]
        console.retrying(1, 2.0, "HTTP 503 from x")
        assert screen_of(term.getvalue().encode())[-1].endswith(
            "attempt 1 of 4 failed; next try in 2.0 s: HTTP 503 from x"
        )
        console.note("a note")  # erased, the note printed, the status drawn again below
        lines = screen_of(term.getvalue().encode())
        assert lines[-2] == "a note" and "attempt 1 of 4 failed" in lines[-1]
        clock.now += 2.5
        console._draw()
        assert "attempt 2 of 4 under way" in screen_of(term.getvalue().encode())[-1]
        console.event(ev(1, type="log", level="info", message="b"))
    console.__exit__(None, None, None)
    lines = screen_of(term.getvalue().encode())
    assert len(lines) == 3, lines
    assert lines[0].endswith("log.info       a")
    assert lines[1] == "a note"
    assert lines[2].endswith("log.info       b")


def test_console_ends_running_text_before_drawing() -> None:
    console, term, clock = console_on_one_terminal(as_json=False, max_attempts=4)
    with console.waiting():
        console.event(ev(0, type="text_delta", text="Hel"))
        clock.now += 5
        console._draw()
        console.event(ev(1, type="text_delta", text="lo"))
    console.finish()
    console.__exit__(None, None, None)
    lines = screen_of(term.getvalue().encode())
    assert len(lines) == 2
    assert lines[0].endswith("assistant      Hel") and lines[1].endswith("assistant      lo")


def test_console_without_a_terminal_prints_retries_as_lines() -> None:
    from flue._cli.console import Console

    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, as_json=True, max_attempts=3)
    assert console.mode is None
    console.retrying(2, 0.5, "could not connect to http://x/runs/r: connection refused")
    assert err.getvalue() == (
        "retry: attempt 2 of 3 failed; next try in 0.5 s: could not connect to "
        "http://x/runs/r: connection refused\n"
    )
    assert out.getvalue() == ""


def test_fit_keeps_the_status_line_inside_the_terminal() -> None:
    from flue._cli.console import fit

    assert fit("abc", 10) == "abc"
    assert fit("abcdefghij", 10) == "abcdefgh…"
    assert fit("a\nb\x1b[2Jc", 80) == "a b [2Jc"  # no control characters reach the terminal
    assert fit("日本語テキスト", 8) == "日本語…"  # wide characters count two cells
