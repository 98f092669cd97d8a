# `flue demo`: a workflow that emits a realistic mix of events over a few seconds, served by the
# embedded flue.testing server, so the CLI can show a live stream with nothing else installed.
# `flue demo --agent`: a conversation with the embedded server's demo agent, whose replies
# stream in token by token (its message directives ask for reasoning, a tool call, a pace).

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flue._cli.console import Console
from flue.testing import RunContext

__all__ = ["DEMO_WORKFLOW", "agent_demo", "demo_workflow"]

DEMO_WORKFLOW = "demo"

_ANSWER = (
    "The three largest files are report.pdf (4.2 MB), photo.jpg (2.9 MB) and notes.txt "
    "(12 KB). I can archive the two largest if you like."
)


async def demo_workflow(run: RunContext, input: Any) -> dict[str, Any]:
    """Plan, think, call a tool, log, answer: what an agent run typically streams."""
    pace = 1.0
    if isinstance(input, dict) and isinstance(input.get("pace"), (int, float)):
        pace = max(0.0, float(input["pace"]))
    run.emit({"type": "agent_start", "agentName": "files"})
    run.emit({"type": "turn_start", "purpose": "prompt", "turnId": "t1"})
    run.log("workspace mounted", {"path": "/workspace", "files": 3})
    await run.sleep(0.3 * pace)
    run.emit({"type": "thinking_start", "contentIndex": 0, "turnId": "t1"})
    for piece in ["I should ", "list the files ", "with their sizes ", "first."]:
        await run.sleep(0.15 * pace)
        run.emit({"type": "thinking_delta", "contentIndex": 0, "delta": piece, "turnId": "t1"})
    run.emit({"type": "thinking_end", "contentIndex": 0, "turnId": "t1"})
    run.emit(
        {
            "type": "tool_start",
            "toolName": "list_files",
            "toolCallId": "call_1",
            "args": {"path": "/workspace", "sort": "size"},
        }
    )
    await run.sleep(0.8 * pace)
    run.emit(
        {
            "type": "tool",
            "toolName": "list_files",
            "toolCallId": "call_1",
            "isError": False,
            "result": ["report.pdf", "photo.jpg", "notes.txt"],
            "durationMs": 812,
        }
    )
    run.log("tool finished", {"tool": "list_files", "entries": 3})
    for word in _ANSWER.split(" "):
        await run.sleep(0.06 * pace)
        run.emit({"type": "text_delta", "text": word + " ", "turnId": "t1"})
    run.emit(
        {
            "type": "turn",
            "purpose": "prompt",
            "durationMs": 2400,
            "isError": False,
            "turnId": "t1",
            "request": {"requestedModel": "demo-model", "providerId": "demo"},
            "response": {"finishReason": "stop"},
        }
    )
    run.emit({"type": "agent_end", "agentName": "files"})
    run.emit({"type": "idle"})
    return {"answer": _ANSWER}


# (message, token delay in ms at pace 1): the demo agent's directives lead the message
_EXCHANGES = (
    ("think: tool: slow{ms}: What is in the workspace?", 150),
    ("slow{ms}: Thanks! Say that back to me, one word at a time.", 110),
)


def agent_demo(console: Console, *, pace: float, live: str, connect: Callable[[str], Any]) -> int:
    """Talk to the embedded server's demo agent: each user message, then the reply printed
    as it streams in (``--json``: every chunk as it arrives, then the reply object)."""
    from flue._cli.chat import ReplyPrinter
    from flue.testing import FlueTestServer

    pace = max(0.0, pace)
    with FlueTestServer.running_in_thread(line="2") as server:
        console.note(f"demo: embedded Flue test server at {server.url}")
        with connect(server.url) as client:
            conv = client.conversation("agents/assistant/demo")
            console.note(f"demo: conversation {conv.url}, replies read live ({live})")
            for template, ms in _EXCHANGES:
                message = template.format(ms=round(ms * pace))
                admission = conv.send(message)
                if console.as_json:
                    reply = conv.read(
                        admission,
                        on_event=lambda chunk: console.line(json.dumps(chunk.raw)),
                        live=live,
                    )
                    console.line(json.dumps(reply.raw))
                    continue
                console.line(f"user: {message}")
                console.write("assistant: ")
                printer = ReplyPrinter(console, admission.submission_id)
                try:
                    with console.waiting():
                        conv.read(admission, on_event=printer.chunk, live=live)
                finally:
                    printer.finish()
            messages = len(conv.history().messages)
        console.note(
            f"demo: done ({messages} messages). Try it on a server of your own: "
            "`python -m flue.testing --port 8787` then `flue --base-url http://127.0.0.1:8787 "
            "conversation prompt agents/assistant/c1 'tool: hello'`"
        )
    return 0
