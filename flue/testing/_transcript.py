# Writing one submission into a fake conversation, in the batches a Flue beta.9 server writes.
#
# Flue appends canonical records in batches and projects each batch into `view=updates` chunks;
# some records project to nothing (a text block's start and end, a tool outcome before its
# commit), so their batches read as empty and positions have gaps. `Transcript` reproduces the
# layout observed on a real server: the user message, `message-started`, an empty batch opening
# each text/reasoning block, the deltas (coalesced like Flue's writer: the deltas written while
# the reply runs without yielding to the loop land in one batch, so a reply that sleeps, is
# paced or is paused between tokens is seen growing), an empty batch closing the block,
# `message-completed`; for a tool call `tool-input`, `message-completed`, an empty batch, then
# `tool-output(-error)`; finally the abort notice and `submission-settled`. The history form of
# every message is kept up to date alongside. Chunk keys are in the order Flue writes them.

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from typing import Any, ClassVar

from ._agent_state import AgentDef, Conversation, Submission, public
from ._agents import AgentFailure, ToolCall
from ._store import now_iso

__all__ = [
    "ABORT_NOTICE",
    "Transcript",
    "aborted_error",
    "entry_id",
    "failed_error",
    "usage",
]

ABORT_NOTICE = "Submission was aborted."


def usage(output: int, *, reasoning_key: bool = True) -> dict[str, Any]:
    """Token usage as Flue reports it (message metadata has a ``reasoning`` count; results not)."""
    out: dict[str, Any] = {"input": 0, "output": output, "cacheRead": 0, "cacheWrite": 0}
    if reasoning_key:
        out["reasoning"] = 0
    out["totalTokens"] = output
    out["cost"] = {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}
    return out


def entry_id(submission_id: str) -> str:
    """The user message id Flue derives from a direct submission's id."""
    encoded = base64.urlsafe_b64encode(submission_id.encode()).decode().rstrip("=")
    return f"entry_direct_{encoded}"


def _error(type_: str, message: str, details: str) -> dict[str, Any]:
    return {"name": "FlueError", "message": message, "type": type_, "details": details}


def aborted_error() -> dict[str, Any]:
    """The error of an aborted settlement."""
    return _error(
        "submission_aborted",
        ABORT_NOTICE,
        "The operation was stopped before it produced a completed response.",
    )


def failed_error(exc: BaseException, submission_id: str) -> dict[str, Any]:
    """The error of a failed settlement: a model failure, or any other exception."""
    if isinstance(exc, AgentFailure):
        return _error("operation_failed", f"direct({submission_id}) failed: {exc.reason}", "")
    return {
        "name": "Error",
        "message": "The agent submission failed because of an internal error.",
        "type": "internal_error",
    }


class Transcript:
    """Writes one submission's records (see the module comment)."""

    stamped: ClassVar[bool] = False
    """Whether tool chunks carry a ``timestamp`` and tool outcomes a ``durationMs`` (2.x)."""

    def __init__(self, conv: Conversation, agent: AgentDef, sub: Submission) -> None:
        self.conv = conv
        self.agent = agent
        self.sub = sub
        self.pending: list[dict[str, Any]] = []  # deltas not flushed yet
        self.timer: asyncio.Handle | None = None
        self.current: dict[str, Any] | None = None  # the assistant message being streamed
        self.blocks = 0  # text/reasoning blocks of the current message not completed yet
        self.texts: list[str] = []  # text of the latest assistant message
        self.output = 0  # tokens of the whole submission
        self.tokens = 0  # text/reasoning tokens so far (for pause_after)

    def flush(self) -> None:
        """Append the pending deltas as one batch."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            self.conv.append(self.pending)
            self.pending = []

    def user_parts(self, sub: Submission) -> list[dict[str, Any]]:
        """The parts of ``sub``'s user message: its text, then its images as file parts (kept
        in the conversation's attachments)."""
        parts: list[dict[str, Any]] = [{"type": "text", "text": sub.message, "state": "done"}]
        for image in sub.images:
            part: dict[str, Any] = {
                "type": "file",
                "mediaType": image.mime_type,
                "id": image.id,
                "size": len(image.data),
            }
            if image.filename:
                part["filename"] = image.filename
            self.conv.attachments[image.id] = (part, image.data)
            parts.append(part)
        return parts

    def user_message(self) -> None:
        sub = self.sub
        parts = self.user_parts(sub)
        message = {
            "id": entry_id(sub.submission_id),
            "role": "user",
            "submissionId": sub.submission_id,
            "parts": parts,
            "metadata": {"timestamp": now_iso()},
        }
        self.conv.messages.append(message)
        self._appended(message)

    def _appended(self, message: dict[str, Any]) -> None:
        shown = {k: v for k, v in public(message).items() if k != "parts"}
        shown["parts"] = public(message)["parts"]  # Flue writes metadata before parts here
        self.conv.append([{"type": "message-appended", "message": shown}])

    def start_message(self) -> dict[str, Any]:
        if self.current is None:
            provider, model_id = self.agent.model
            stamp = now_iso()
            self.current = {
                "id": f"entry_{uuid.uuid4()}",
                "role": "assistant",
                "parts": [],
                "metadata": {"timestamp": stamp},
                "_streaming": True,
                "_output": 0,
            }
            self.conv.messages.append(self.current)
            self.texts = []
            chunk = {
                "type": "message-started",
                "messageId": self.current["id"],
                "timestamp": stamp,
                "submissionId": self.sub.submission_id,
                "model": {"provider": provider, "id": model_id},
            }
            self.conv.append([chunk])
        return self.current

    def _close_blocks(self) -> None:
        """Complete the open text/reasoning blocks: Flue records their ends after the deltas."""
        self.flush()
        for _ in range(self.blocks):
            self.conv.append([])  # a block's completion record projects to no chunk
        self.blocks = 0
        if self.current is not None:
            for part in self.current["parts"]:
                if part["type"] in ("text", "reasoning"):
                    part["state"] = "done"

    def delta(self, kind: str, text: str) -> None:
        message = self.start_message()
        parts = message["parts"]
        if not parts or parts[-1]["type"] != kind or parts[-1]["state"] != "streaming":
            # A new block: its start record is written at once (ahead of pending deltas) and
            # projects to no chunk; the earlier block stays open until the message completes.
            self.conv.append([])
            self.blocks += 1
            parts.append({"type": kind, "text": "", "state": "streaming"})
        parts[-1]["text"] += text
        if kind == "text":
            self.texts.append(text)
        message["_output"] += 1
        self.output += 1
        self.pending.append(
            {"type": "message-delta", "messageId": message["id"], "kind": kind, "delta": text}
        )
        if self.timer is None:  # written as soon as the reply lets the loop run
            self.timer = asyncio.get_running_loop().call_soon(self.flush)

    def tool(self, call: ToolCall, call_id: str) -> None:
        message = self.start_message()
        self._close_blocks()
        started = time.monotonic()
        part: dict[str, Any] = {
            "type": "dynamic-tool",
            "toolName": call.name,
            "toolCallId": call_id,
            "state": "input-available",
            "input": call.input,
        }
        message["parts"].append(part)
        chunk = {
            "type": "tool-input",
            "messageId": message["id"],
            "toolCallId": call_id,
            "toolName": call.name,
            "input": call.input,
            **self._stamp(),
        }
        self.conv.append([chunk])
        self.complete()
        self.conv.append([])  # the tool outcome; its commit projects to the output chunk
        timed = {"durationMs": int((time.monotonic() - started) * 1000)} if self.stamped else {}
        if call.error is not None:
            part.update(state="output-error", errorText=call.error, **timed)
            chunk = {"type": "tool-output-error", "toolCallId": call_id, "errorText": call.error}
        else:
            part.update(state="output-available", output=call.output, **timed)
            chunk = {"type": "tool-output", "toolCallId": call_id, "output": call.output}
        self.conv.append([{**chunk, **timed, **self._stamp()}])

    def _stamp(self) -> dict[str, Any]:
        return {"timestamp": now_iso()} if self.stamped else {}

    def complete(self, *, zero_usage: bool = False) -> None:
        """Complete the streamed assistant message, if any."""
        if self.current is None:
            return
        self._close_blocks()
        message, self.current = self.current, None
        output = message.pop("_output", 0)
        message.pop("_streaming", None)
        self.conv.append([self._completed(message, 0 if zero_usage else output)])

    def _completed(self, message: dict[str, Any], output: int) -> dict[str, Any]:
        """The ``message-completed`` chunk of ``message`` (beta.9: with the reply's usage,
        which goes into the message's metadata with its model)."""
        provider, model_id = self.agent.model
        spent = usage(output)
        message["metadata"].update(usage=spent, model={"provider": provider, "id": model_id})
        return {"type": "message-completed", "messageId": message["id"], "usage": spent}

    def result(self) -> dict[str, Any]:
        provider, model_id = self.agent.model
        return {
            "text": "".join(self.texts),
            "usage": usage(self.output, reasoning_key=False),
            "model": {"provider": provider, "id": model_id},
        }

    def notice(self) -> None:
        message = {
            "id": f"entry_submission_aborted_{self.sub.submission_id}",
            "role": "user",
            "parts": [{"type": "text", "text": ABORT_NOTICE, "state": "done"}],
            "metadata": {"timestamp": now_iso()},
        }
        self.conv.messages.append(message)
        self._appended(message)

    def settle(self, outcome: str, value: Any) -> None:
        settlement: dict[str, Any] = {"submissionId": self.sub.submission_id, "outcome": outcome}
        settlement["result" if outcome == "completed" else "error"] = value
        self.conv.settlements.append(settlement)
        self.conv.append([{"type": "submission-settled", **settlement}])
