# The `flue agents ...` commands and `flue workflows run`: a reply printed as it streams, a
# conversation's live transcript, a run followed to its result.

from __future__ import annotations

import json
from typing import Any

from flue._cli.console import Console
from flue.models import (
    ConversationChunk,
    ConversationState,
    MessageDeltaChunk,
    MessageStartedChunk,
    ToolInputChunk,
)

__all__ = ["observe", "prompt", "run_workflow", "transcript"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def prompt(client: Any, console: Console, name: str, conversation_id: str, message: str) -> int:
    """Send `message` and print the reply's text as it streams (``--json``: every chunk)."""
    sent = client.agents.send(name, conversation_id, message)
    ours: set[str] = set()  # the assistant messages of this submission

    def show(chunk: ConversationChunk) -> None:
        if console.as_json:
            console.line(_json(chunk.raw))
        elif isinstance(chunk, MessageStartedChunk):
            if chunk.submission_id == sent.submission_id and chunk.message_id is not None:
                if ours:
                    console.write("\n")
                ours.add(chunk.message_id)
        elif isinstance(chunk, MessageDeltaChunk) and chunk.message_id in ours:
            if chunk.kind == "text" and chunk.delta:
                console.write(chunk.delta)
        elif isinstance(chunk, ToolInputChunk) and chunk.message_id in ours:
            console.write(f"[tool {chunk.tool_name}({_json(chunk.input)})]")

    try:
        result = client.agents.wait(sent, on_event=show)
    finally:
        if not console.as_json:
            console.end_line()
    if not console.as_json and not ours and result.text:
        console.line(result.text)  # a server that streamed nothing: the result says it
    return 0


def transcript(state: ConversationState) -> str:
    """A conversation as text: one ``role: text`` paragraph per message (no final newline),
    so that a reply growing only appends to it."""
    lines = []
    for m in state.messages:
        tools = "".join(
            f" [tool {getattr(p, 'tool_name', '')}]" for p in m.parts if p.type == "dynamic-tool"
        )
        lines.append(f"{m.role or '?'}: {m.text}{tools}")
    return "\n".join(lines)


def _state_json(state: ConversationState) -> dict[str, Any]:
    return {
        "conversationId": state.conversation_id,
        "messages": [
            {"id": m.id, "role": m.role, "submissionId": m.submission_id, "text": m.text}
            for m in state.messages
        ],
        "settlements": [s.raw for s in state.settlements],
    }


def observe(client: Any, console: Console, name: str, conversation_id: str, *, live: str) -> int:
    """Print a conversation's transcript, then every change as it happens, until Ctrl-C."""
    printed = ""
    told: set[str] = set()
    with client.agents.observe(name, conversation_id, live=live) as obs:
        try:
            for state in obs:
                if console.as_json:
                    console.line(_json(_state_json(state)))
                    continue
                if obs.exists is False and not printed:
                    console.note(
                        f"conversation {conversation_id!r} does not exist yet; waiting for its "
                        "first prompt"
                    )
                text = transcript(state)
                if text.startswith(printed):
                    console.write(text[len(printed) :])
                else:  # not an append (the history was re-read): print it again
                    console.end_line()
                    console.note("(the conversation changed; the whole transcript follows)")
                    console.write(text)
                printed = text
                for s in state.settlements:
                    if s.outcome != "completed" and s.submission_id not in told:
                        told.add(s.submission_id or "")
                        console.end_line()
                        console.note(f"(submission {s.submission_id} {s.outcome})")
        except KeyboardInterrupt:
            console.end_line()
            console.note(f"interrupted at offset {obs.offset}")
            return 130
    return 0


def run_workflow(client: Any, console: Console, name: str, payload: Any) -> int:
    """Start a run, print its events as they happen, then its result (one JSON line)."""
    result = client.workflows.run(name, payload, on_event=console.event)
    console.finish()
    if console.as_json:
        console.line(_json({"runId": result.run_id, "result": result.result}))
    else:
        console.line(_json(result.result))
    return 0
