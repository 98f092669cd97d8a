# Conversations as terminal text, shared by `flue conversation`, `flue agents` and `flue demo
# --agent`: a reply printed while it is written (from the chunks a wait hands out), a
# transcript that only grows at its end while a reply grows, and a state as a JSON object.
# Everything goes through the Console, which escapes what a terminal would act on.

from __future__ import annotations

import json
from typing import Any

from flue._cli.console import Console
from flue.models import (
    ConversationChunk,
    ConversationState,
    FilePart,
    MessageDeltaChunk,
    MessageStartedChunk,
    TextPart,
    ToolInputChunk,
    ToolOutputErrorChunk,
    ToolPart,
)

__all__ = ["ReplyPrinter", "state_json", "transcript"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class ReplyPrinter:
    """Prints one submission's reply as its chunks arrive (pass `chunk` as ``on_event``).

    Text deltas run on as they come; reasoning runs on a line of its own after
    ``(thinking)``; a tool call is a line ``[tool NAME(INPUT)]`` (a failed one adds
    ``[tool NAME failed: ERROR]``); each new assistant message of the reply starts a line.
    `finish()` ends the last line. Only the chunks of `submission_id`'s messages are shown.
    """

    def __init__(self, console: Console, submission_id: str) -> None:
        self.console = console
        self.submission_id = submission_id
        self.streamed = False
        """True once some text of the reply was printed."""
        self._ours: set[str] = set()  # message ids of this submission's assistant messages
        self._tools: dict[str, str] = {}  # tool call id -> tool name
        self._run: str | None = None  # "text" or "reasoning" while a line runs on

    def chunk(self, chunk: ConversationChunk) -> None:
        """Show `chunk` (anything not of this submission's reply is left out)."""
        if isinstance(chunk, MessageStartedChunk):
            if chunk.submission_id == self.submission_id and chunk.message_id is not None:
                if chunk.message_id not in self._ours:
                    self._end_run()
                self._ours.add(chunk.message_id)
        elif isinstance(chunk, MessageDeltaChunk) and chunk.message_id in self._ours:
            if chunk.delta and chunk.kind in ("text", "reasoning"):
                self._start_run(chunk.kind)
                self.console.write(chunk.delta)
                self.streamed = self.streamed or chunk.kind == "text"
        elif isinstance(chunk, ToolInputChunk) and chunk.message_id in self._ours:
            name = chunk.tool_name or "?"
            if chunk.tool_call_id is not None:
                self._tools[chunk.tool_call_id] = name
            self._end_run()
            self.console.line(f"[tool {name}({_json(chunk.input)})]")
        elif isinstance(chunk, ToolOutputErrorChunk) and chunk.tool_call_id in self._tools:
            self._end_run()
            name = self._tools[chunk.tool_call_id or ""]
            self.console.line(f"[tool {name} failed: {chunk.error_text or ''}]")

    def finish(self) -> None:
        """End the line the reply left open."""
        self._end_run()

    def _start_run(self, kind: str) -> None:
        if self._run == kind:
            return
        self._end_run()
        self._run = kind
        if kind == "reasoning":
            self.console.write("(thinking) ")

    def _end_run(self) -> None:
        if self._run is not None:
            self.console.write("\n")
            self._run = None


def _message_text(message: Any) -> str:
    """A message's parts in order: text as is, a tool call as ``[tool NAME]``, a file as
    ``[file NAME]`` (reasoning and data left out), so that text growing at the end of the
    message only appends."""
    out = ""
    after_mark = False
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text and after_mark:
                out += " "
            out += part.text or ""
            after_mark = after_mark and not part.text
            continue
        if isinstance(part, ToolPart):
            mark = f"[tool {part.tool_name or '?'}]"
        elif isinstance(part, FilePart):
            mark = f"[file {part.filename or part.media_type or '?'}]"
        else:
            continue
        out += ("" if not out or out.endswith((" ", "\n")) else " ") + mark
        after_mark = True
    return out


def transcript(state: ConversationState) -> str:
    """A conversation as text: one ``role: text`` paragraph per message (no final newline),
    so that a reply growing only appends to it."""
    return "\n".join(f"{m.role or '?'}: {_message_text(m)}" for m in state.messages)


def state_json(state: ConversationState) -> dict[str, Any]:
    """A state as JSON: its messages (id, role, submission id, text) and settlements."""
    return {
        "conversationId": state.conversation_id,
        "messages": [
            {"id": m.id, "role": m.role, "submissionId": m.submission_id, "text": m.text}
            for m in state.messages
        ],
        "settlements": [s.raw for s in state.settlements],
    }
