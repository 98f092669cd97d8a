# Where the command's text goes: results and events on stdout, notes on stderr, and a status line
# on stderr (terminals only) saying that a live stream waits or that a read is being retried.
#
# How the status line stays out of the output: it is one line, never wider than the terminal,
# with the cursor left at its end. Every write, to either stream, takes one lock, erases the
# status line first ("\r" + erase-line leaves the cursor at the start of that same line, where
# the next output then goes) and draws it again afterwards if it still applies. When stdout is
# the same terminal and is in the middle of a line (running text), the running text is ended
# with a newline before the status line is drawn, so that the status line has a line of its own.
# Retries are learnt from the client's DEBUG "retry" log record, through a logging handler.

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TextIO

import attrs

from flue._cli.text import printable

if TYPE_CHECKING:  # imported with the first event to print: `runs get` needs no event class
    from flue._cli.render import Renderer

__all__ = ["RETRY_LOG", "Console", "StatusMode", "bridged_logging", "fit", "status_mode"]

StatusMode = Literal["shared", "separate"]

#: the client's log message for a retry; its arguments are (attempt, delay, reason)
RETRY_LOG = "flue: retry %d in %.2fs after: %s"  # the client's DEBUG record (not read here)

_ERASE = "\r\x1b[K"


def _fstat(stream: TextIO) -> os.stat_result | None:
    try:
        return os.fstat(stream.fileno())
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both
        return None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def status_mode(out: TextIO, err: TextIO) -> StatusMode | None:
    """Whether, and how, a status line can be drawn on `err`.

    ``"shared"``: stdout is the same terminal (stdout writes must erase it first);
    ``"separate"``: stdout goes elsewhere (a file, another terminal); None: no status line,
    because stderr is no terminal, or stdout is a pipe whose reader may print to this terminal
    (a status line there would be overwritten by output we do not control).
    """
    if os.environ.get("TERM") == "dumb" or not _isatty(err):
        return None
    err_st = _fstat(err)
    out_st = _fstat(out)
    if err_st is None:
        return None
    if out_st is None:
        return "separate"
    if (
        stat.S_ISCHR(out_st.st_mode)
        and stat.S_ISCHR(err_st.st_mode)
        and out_st.st_rdev == err_st.st_rdev
        and _isatty(out)
    ):
        return "shared"
    if stat.S_ISFIFO(out_st.st_mode) or stat.S_ISSOCK(out_st.st_mode):
        return None
    return "separate"


def _width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def fit(text: str, columns: int) -> str:
    """`text` on one line of at most ``columns - 1`` cells (so the cursor never wraps)."""
    text = "".join(" " if (ord(c) < 32 or 127 <= ord(c) < 160) else c for c in text)
    limit = max(columns - 1, 1)
    used = 0
    kept: list[str] = []
    for char in text:
        width = _width(char)
        if used + width > limit:
            while kept and used + 1 > limit:  # room for the ellipsis
                used -= _width(kept.pop())
            kept.append("…")
            break
        kept.append(char)
        used += width
    return "".join(kept)


@attrs.define
class _Retry:
    attempt: int
    deadline: float
    reason: str


class Console:
    """stdout for results and events, stderr for notes, and the status line between them."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    IDLE_AFTER = 1.0  # seconds without an event before "waiting for events" shows
    TICK = 0.125
    RETRY_LINGER = 2.0  # seconds the "trying again" text stays after the wait is over

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        as_json: bool,
        max_attempts: int | None,
        mode: StatusMode | Literal["auto"] | None = "auto",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.err = err
        self.as_json = as_json
        self.max_attempts = max_attempts
        self.mode: StatusMode | None = status_mode(out, err) if mode == "auto" else mode
        colour = (
            not as_json
            and _isatty(out)
            and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb"
        )
        self._colour = colour
        self._renderer: Renderer | None = None
        self._clock = clock
        self._lock = threading.RLock()
        self._drawn = False
        self._mid_line = False
        self._waiting = False
        self._last_activity = clock()
        self._retry: _Retry | None = None
        self._frame = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Console:
        if self.mode is not None:
            self._thread = threading.Thread(target=self._tick, name="flue-status", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        with self._lock:
            self._retry = None
            self._waiting = False
            self._erase()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """While inside, idle time shows as "waiting for events" (a live stream)."""
        with self._lock:
            self._waiting = True
            self._last_activity = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self._waiting = False
                self._draw()

    # -- stdout ------------------------------------------------------------------------------

    def event(self, event: Any) -> None:
        """One event: a JSON line, or its human rendering."""
        if self.as_json:
            self._write_out(printable(json.dumps(event.raw, ensure_ascii=False)) + "\n")
        else:
            self._write_out(self.renderer.render(event))

    def line(self, text: str) -> None:
        """A line of output (a result, a run id); server text is shown, never acted on."""
        self._write_out(printable(text) + "\n")

    def write(self, text: str) -> None:
        """Text as it comes (a reply streaming), no newline added."""
        self._write_out(printable(text))

    def end_line(self) -> None:
        """End a line left open by `write()` (nothing if none is open)."""
        with self._lock:
            if self._mid_line:
                self._write_out("\n")

    @property
    def renderer(self) -> Renderer:
        """What turns events into text (created on first use)."""
        if self._renderer is None:
            from flue._cli.render import Renderer

            self._renderer = Renderer(colour=self._colour)
        return self._renderer

    def finish(self) -> None:
        """End running text with a newline."""
        if not self.as_json:
            self._write_out(self.renderer.finish())

    def _write_out(self, text: str) -> None:
        with self._lock:
            self._erase()
            if text:
                self.out.write(text)
                self.out.flush()
                self._mid_line = not text.endswith("\n")
            self._last_activity = self._clock()
            self._retry = None  # output means the read got through
            self._draw()

    # -- stderr ------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """A line on stderr (the status line is erased first and drawn again after)."""
        with self._lock:
            self._erase()
            if self.mode == "shared" and self._mid_line:
                self._end_running_text()
            self.err.write(printable(text) + "\n")
            self.err.flush()
            self._draw()

    def retrying(
        self, attempt: int, delay: float, reason: str, *, limit: int | None = None
    ) -> None:
        """Attempt `attempt` failed with `reason`; the next one starts in `delay` seconds
        (`limit`: the attempts the client allows this request, when it says)."""
        if limit is not None:
            self.max_attempts = limit
        if self.mode is None:
            self.note(
                f"retry: {self._attempt_text(attempt)} failed; next try in {delay:.1f} s: {reason}"
            )
            return
        with self._lock:
            self._retry = _Retry(attempt=attempt, deadline=self._clock() + delay, reason=reason)
            self._draw()

    # -- the status line ---------------------------------------------------------------------

    def _attempt_text(self, attempt: int) -> str:
        if self.max_attempts is None:
            return f"attempt {attempt}"
        return f"attempt {attempt} of {self.max_attempts}"

    def status_text(self) -> str | None:
        """What the status line says now (None: nothing)."""
        now = self._clock()
        frame = self.FRAMES[self._frame % len(self.FRAMES)]
        retry = self._retry
        if retry is not None and now < retry.deadline + self.RETRY_LINGER:
            if now < retry.deadline:
                return (
                    f"{frame} {self._attempt_text(retry.attempt)} failed; next try in "
                    f"{retry.deadline - now:.1f} s: {retry.reason}"
                )
            return (
                f"{frame} {self._attempt_text(retry.attempt + 1)} under way; "
                f"the last one failed: {retry.reason}"
            )
        if self._waiting and now - self._last_activity >= self.IDLE_AFTER:
            return f"{frame} waiting for events…"
        return None

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.err.fileno()).columns or 80
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            return 80

    def _draw(self) -> None:
        if self.mode is None:
            return
        text = self.status_text()
        if text is None:
            self._erase()
            return
        if self.mode == "shared" and self._mid_line:
            self._end_running_text()
        one_line = printable(text).replace("\n", " ")  # a retry reason quotes the server
        self.err.write("\r" + fit(one_line, self._columns()) + "\x1b[K")
        self.err.flush()
        self._drawn = True

    def _erase(self) -> None:
        if self._drawn:
            self.err.write(_ERASE)
            self.err.flush()
            self._drawn = False

    def _end_running_text(self) -> None:
        # the status line must not share a line with output: end the running text here (the
        # next delta starts a new labelled line)
        self.out.write(self.renderer.finish() or "\n")
        self.out.flush()
        self._mid_line = False

    def _tick(self) -> None:
        while not self._stop.wait(self.TICK):
            with self._lock:
                self._frame += 1
                if self._drawn or self.status_text() is not None:
                    self._draw()


class _LogBridge(logging.Handler):
    """Turns the client's log records into status updates and notes."""

    def __init__(self, console: Console, *, debug: bool) -> None:
        super().__init__(logging.DEBUG)
        self._console = console
        self._debug = debug
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from flue._protocol.decide import RETRY_INFO  # loaded by then: the client logs it

            args = record.args
            if record.msg == RETRY_INFO and isinstance(args, tuple) and len(args) == 5:
                # decide()'s record: (attempt, limit or "unlimited", note, delay, error); the
                # limit is the one that applies (fewer attempts where nothing ever answered)
                attempt, limit, _note, delay, reason = args
                if isinstance(attempt, int) and isinstance(delay, (int, float)):
                    known = limit if isinstance(limit, int) else None
                    self._console.retrying(attempt, float(delay), str(reason), limit=known)
            if self._debug:
                self._console.note(self.format(record))
            elif record.levelno >= logging.WARNING:
                message = record.getMessage()
                self._console.note("warning: " + message.removeprefix("flue: "))
        except Exception:  # a logging handler must never raise into the client
            self.handleError(record)


@contextlib.contextmanager
def bridged_logging(console: Console, *, debug: bool) -> Iterator[None]:
    """Route the ``flue`` logger to `console` for the duration (everything with `debug`)."""
    logger = logging.getLogger("flue")
    handler = _LogBridge(console, debug=debug)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # every record: --debug shows the DEBUG ones
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
