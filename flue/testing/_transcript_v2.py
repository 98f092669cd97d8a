# Writing one submission into a fake conversation in the records a Flue 2.x server writes.
#
# The batch layout is beta.9's (`_transcript.Transcript`) with what 2.x changed, as observed on
# real 2.0.3/2.1.0 servers: two batches that project to no chunk follow a submission's first
# user message (one follows a joined message); messages carry `purpose`/`display` (signals
# and notices are `system` messages), assistant messages `submissionId` and `turnId`, and no
# metadata; `message-started` has a `turnId` and no model, `message-completed` a timestamp and
# no usage, `tool-input`/`tool-output` timestamps (and `durationMs`). One submission writes
# ONE assistant message: every later turn (after a tool call, or answering a joined message)
# reopens it with another `message-started` of the same id and a new turn id. Settlements name
# `answeredBySubmissionId` (not for a submission aborted before its reply started) and carry
# no result; the abort notice is a system advisory with `settlement: {outcome: "aborted"}`.

from __future__ import annotations

from typing import Any

from ._agent_state import Conversation, Submission, public, ulid
from ._store import now_iso
from ._transcript import ABORT_NOTICE, Transcript, entry_id

__all__ = ["TranscriptV2", "failed_error_v2"]


def failed_error_v2(reason: str, submission_id: str) -> dict[str, Any]:
    """The error of a submission whose model call failed (2.x adds ``meta``)."""
    operation = f"direct({submission_id})"
    return {
        "name": "FlueError",
        "message": f"{operation} failed: {reason}",
        "type": "operation_failed",
        "details": "",
        "meta": {"operation": operation, "reason": reason},
    }


class TranscriptV2(Transcript):
    """Writes one Flue 2.x submission's records (see the module comment)."""

    stamped = True
    message_id: str | None = None  # the submission's assistant message, once started
    turn_id: str | None = None  # the turn of the first model call

    def input_message(self, sub: Submission, *, joined: bool = False) -> None:
        """Append a user (or signal) message: the submission's own, or a joined one."""
        signal = sub.signal
        role, purpose, display = (
            ("user", "user", "visible") if signal is None else ("system", "dispatch", "diagnostic")
        )
        message: dict[str, Any] = {
            "id": entry_id(sub.submission_id),
            "role": role,
            "purpose": purpose,
            "display": display,
            "submissionId": sub.submission_id,
        }
        if joined:
            message["turnId"] = self.turn_id
        if signal is None:
            message["parts"] = self.user_parts(sub)
        else:
            descriptor = {key: signal[key] for key in ("tagName", "attributes") if key in signal}
            if descriptor:
                message["signal"] = descriptor
            message["parts"] = [{"type": "text", "text": sub.body, "state": "done"}]
        self.conv.messages.append(message)
        self.conv.append([{"type": "message-appended", "message": public(message)}])
        for _ in range(1 if joined else 2):
            self.conv.append([])  # the turn's opening records project to no chunk

    def start_message(self) -> dict[str, Any]:
        if self.current is not None:
            return self.current
        turn = f"turn_{ulid()}"
        if self.message_id is None:
            self.message_id = f"entry_{ulid()}"
            self.turn_id = turn
            message: dict[str, Any] = {
                "id": self.message_id,
                "role": "assistant",
                "purpose": "assistant",
                "display": "visible",
                "submissionId": self.sub.submission_id,
                "turnId": turn,
                "parts": [],
            }
            self.conv.messages.append(message)
        else:
            message = self.conv.message(self.message_id)  # a later turn reopens it
        message["_streaming"] = True
        message["_output"] = 0  # counted by `delta`
        self.current = message
        chunk = {
            "type": "message-started",
            "messageId": self.message_id,
            "submissionId": self.sub.submission_id,
            "turnId": turn,
            "timestamp": now_iso(),
        }
        self.conv.append([chunk])
        return message

    def _completed(self, message: dict[str, Any], output: int) -> dict[str, Any]:
        return {"type": "message-completed", "messageId": message["id"], "timestamp": now_iso()}

    def aborted_notice(self, sub: Submission) -> None:
        """The advisory message of an aborted submission (the running one or a queued one)."""
        message = {
            "id": f"entry_submission_aborted_{sub.submission_id}",
            "role": "system",
            "purpose": "advisory",
            "display": "diagnostic",
            "signal": {
                "attributes": {
                    "submissionId": sub.submission_id,
                    "kind": "direct",
                    "reason": "aborted",
                }
            },
            "settlement": {"outcome": "aborted"},
            "parts": [{"type": "text", "text": ABORT_NOTICE, "state": "done"}],
        }
        self.conv.messages.append(message)
        self.conv.append([{"type": "message-appended", "message": public(message)}])

    def settle_v2(
        self, sub: Submission, outcome: str, error: dict[str, Any] | None, answered: bool
    ) -> None:
        """Settle ``sub``; ``answered``: its reply is this transcript's assistant message."""
        settlement: dict[str, Any] = {"submissionId": sub.submission_id, "outcome": outcome}
        if error is not None:
            settlement["error"] = error
        if answered:
            settlement["answeredBySubmissionId"] = self.sub.submission_id
        self.conv.settlements.append(settlement)
        self.conv.append([{"type": "submission-settled", **settlement, "timestamp": now_iso()}])


def new_conversation(agent: str, instance_id: str, initial_data: Any) -> Conversation:
    """A Flue 2.x conversation (fresh incarnation and uid)."""
    return Conversation(agent, instance_id, line="2", initial_data=initial_data)
