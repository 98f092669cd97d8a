# The `flue agents ...` commands and `flue workflows run`: a reply printed as it streams, a
# conversation's live transcript, a run followed to its result.

from __future__ import annotations

import json
from typing import Any

from flue._cli.chat import ReplyPrinter, state_json, transcript
from flue._cli.console import Console

__all__ = ["observe", "prompt", "run_workflow", "transcript"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def prompt(client: Any, console: Console, name: str, conversation_id: str, message: str) -> int:
    """Send `message` and print the reply's text as it streams (``--json``: every chunk)."""
    sent = client.agents.send(name, conversation_id, message)
    if console.as_json:
        client.agents.wait(sent, on_event=lambda chunk: console.line(_json(chunk.raw)))
        return 0
    printer = ReplyPrinter(console, sent.submission_id)
    try:
        result = client.agents.wait(sent, on_event=printer.chunk)
    finally:
        printer.finish()
    if not printer.streamed and result.text:
        console.line(result.text)  # a server that streamed nothing: the result says it
    return 0


def observe(client: Any, console: Console, name: str, conversation_id: str, *, live: str) -> int:
    """Print a conversation's transcript, then every change as it happens, until Ctrl-C."""
    printed = ""
    told: set[str] = set()
    with client.agents.observe(name, conversation_id, live=live) as obs:
        try:
            for state in obs:
                if console.as_json:
                    console.line(_json(state_json(state)))
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
