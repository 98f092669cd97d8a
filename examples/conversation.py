"""A Flue 2.x conversation: prompt an agent, send a signal, stop a reply, read the history
(blocking flavour).

FLUE_BASE_URL=http://127.0.0.1:8787 FLUE_TOKEN=... python examples/conversation.py [URL]

URL is the conversation (default: a fresh one under /agents/assistant, the demo agent of
``python -m flue.testing --line 2``); a path is resolved under FLUE_BASE_URL. Against a real
app, pass the conversation URL under the mount its app.ts chose, e.g. /api/chat/support-42.
"""

from __future__ import annotations

import sys
import uuid

from flue import FlueClient, FlueError, FlueExecutionError, Signal


def main(argv: list[str]) -> int:
    url = argv[0] if argv else f"/agents/assistant/example-{uuid.uuid4().hex[:8]}"
    with FlueClient() as client:  # base URL and token from FLUE_BASE_URL / FLUE_TOKEN
        conv = client.conversation(url)
        try:
            reply = conv.prompt("Hello there")  # send, wait for the settlement, read the reply
            print(f"reply: {reply.text}")
            # an idempotency key makes a send safe to retry: a repeat is deduplicated
            key = f"msg-{uuid.uuid4().hex}"
            sent = conv.send("Tell me more", idempotency_key=key)
            again = conv.send("Tell me more", idempotency_key=key)
            print(f"sent {sent.submission_id} (repeat deduplicated: {again.deduplicated})")
            print(f"reply: {conv.read(sent).text}")
            signal = conv.send(Signal("webhook", "build passed", attributes={"repo": "flue"}))
            print(f"signal answered: {conv.read(signal).text!r}")
            failing = conv.send("fail: on purpose")  # the demo agent's model fails on "fail:"
            try:
                conv.read(failing)
            except FlueExecutionError as exc:
                print(f"submission {exc.failure}: {exc.error.get('type') if exc.error else ''}")
            snapshot = conv.history()
            print(
                f"history: {len(snapshot.messages)} messages, {len(snapshot.settlements)} settled"
            )
            for message in snapshot.messages:
                print(f"  {message.role:<9} {message.text[:60]!r}")
        except FlueError as exc:
            print(f"conversation failed: {exc}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
