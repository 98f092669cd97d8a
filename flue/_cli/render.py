# Human rendering of events: one line per event with time, type and the essentials; text and
# thinking deltas joined into running text; colour only when asked for (a terminal). Pure:
# takes events, returns strings, so it is tested without a terminal.

from __future__ import annotations

import json
from typing import Any

from flue._cli.text import printable
from flue.models import (
    BaseEvent,
    LogEvent,
    RunEndEvent,
    RunStartEvent,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolEvent,
    ToolStartEvent,
    TurnEvent,
)

__all__ = ["Renderer", "short_time"]

_COLOURS = {
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
    "red": "\x1b[31m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "blue": "\x1b[34m",
    "magenta": "\x1b[35m",
    "cyan": "\x1b[36m",
    "reset": "\x1b[0m",
}


def short_time(timestamp: str | None) -> str:
    """``2026-11-24T16:06:33.168Z`` -> ``16:06:33.168``."""
    if not timestamp:
        return " " * 12
    _, _, clock = timestamp.partition("T")
    return (clock or timestamp).rstrip("Z")[:12].ljust(12)


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.0f}ms"


def _compact(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Renderer:
    """Turns events into output text; keeps the state of running text between deltas."""

    def __init__(self, *, colour: bool = False) -> None:
        self.colour = colour
        self._stream: str | None = None  # "text" or "thinking" while deltas are running
        self._tool_names: dict[str, str] = {}

    def _c(self, name: str, text: str) -> str:
        if not self.colour:
            return text
        return f"{_COLOURS[name]}{text}{_COLOURS['reset']}"

    def _line(self, event: BaseEvent, label: str, colour: str, detail: str) -> str:
        prefix = ""
        if self._stream is not None:
            prefix = "\n"
            self._stream = None
        # everything but our colour codes comes from the server: shown, never acted on
        when = printable(short_time(event.timestamp))
        head = f"{self._c('dim', when)} {self._c(colour, printable(label).ljust(14))}"
        return f"{prefix}{head} {printable(detail)}".rstrip() + "\n"

    def render(self, event: BaseEvent) -> str:
        """The text to print for `event` (may continue the previous line for deltas)."""
        if isinstance(event, (TextDeltaEvent, ThinkingDeltaEvent)):
            kind = "text" if isinstance(event, TextDeltaEvent) else "thinking"
            piece = printable(
                (event.text if isinstance(event, TextDeltaEvent) else event.delta) or ""
            )
            if self._stream == kind:
                return self._c("dim", piece) if kind == "thinking" else piece
            out = "\n" if self._stream is not None else ""
            self._stream = kind
            label = "assistant" if kind == "text" else "thinking"
            head = f"{self._c('dim', printable(short_time(event.timestamp)))} "
            head += self._c("magenta" if kind == "text" else "dim", label.ljust(14))
            body = self._c("dim", piece) if kind == "thinking" else piece
            return f"{out}{head} {body}"
        return self._line(event, *self._describe(event))

    def finish(self) -> str:
        """Text that ends running output (a newline after running text)."""
        if self._stream is not None:
            self._stream = None
            return "\n"
        return ""

    def _describe(self, event: BaseEvent) -> tuple[str, str, str]:
        if isinstance(event, RunStartEvent):
            detail = f"workflow {event.workflow_name or '?'}"
            if event.input is not None:
                detail += f" input={_compact(event.input, 60)}"
            return "run_start", "bold", detail
        if isinstance(event, RunEndEvent):
            dur = _duration(event.duration_ms)
            if event.is_error:
                err = event.error
                msg = err.get("message") if isinstance(err, dict) else err
                return "run_end", "red", f"errored after {dur}: {msg}"
            return "run_end", "green", f"completed in {dur} result={_compact(event.result, 60)}"
        if isinstance(event, ToolStartEvent):
            if event.tool_call_id:
                self._tool_names[event.tool_call_id] = event.tool_name or "?"
            return "tool_start", "cyan", f"{event.tool_name} {_compact(event.args, 60)}"
        if isinstance(event, ToolEvent):
            name = event.tool_name or self._tool_names.get(event.tool_call_id or "", "?")
            status = "failed" if event.is_error else "ok"
            colour = "red" if event.is_error else "cyan"
            return "tool", colour, f"{name} {status} in {_duration(event.duration_ms)}"
        if isinstance(event, LogEvent):
            level = (event.level or "info").lower()
            colour = {"error": "red", "warn": "yellow", "warning": "yellow"}.get(level, "blue")
            attrs = f" {_compact(event.attributes, 60)}" if event.attributes else ""
            return f"log.{level}", colour, f"{event.message or ''}{attrs}"
        if isinstance(event, TurnEvent):
            model = event.request.requested_model if event.request is not None else event.model
            return "turn", "dim", f"{model or ''} {_duration(event.duration_ms)}".strip()
        return event.type or "event", "dim", _essentials(event)


_COMMON = {"type", "v", "eventIndex", "timestamp", "runId"}


def _essentials(event: BaseEvent) -> str:
    extra = {k: v for k, v in event.raw.items() if k not in _COMMON}
    return _compact(extra, 90) if extra else ""
