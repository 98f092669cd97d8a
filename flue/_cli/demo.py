# `flue demo`: a workflow that emits a realistic mix of events over a few seconds, served by the
# embedded flue.testing server, so the CLI can show a live stream with nothing else installed.

from __future__ import annotations

from typing import Any

from flue.testing import RunContext

__all__ = ["DEMO_WORKFLOW", "demo_workflow"]

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
