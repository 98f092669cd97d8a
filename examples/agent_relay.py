"""An asyncio service relaying one agent conversation's live transcript to its subscribers.

One task observes the conversation (`client.agents.observe`) and turns each new state into
small updates (a message appeared, text was appended to it) that it fans out to every
subscriber's queue, as a service pushing a chat to its browser clients would. Here the
subscribers are two tasks: one prints the updates, the other keeps a copy of the transcript.
The prompts given on the command line are sent once the relay is live; it stops after they
have all settled.

FLUE_BASE_URL=http://127.0.0.1:8787 FLUE_TOKEN=... \\
    python examples/agent_relay.py assistant conv-1 "Hello" "think: how are you?"
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

from flue import AsyncFlueClient
from flue.models import ConversationState


@dataclass(frozen=True)
class Update:
    """What changed: text appended to message `message_id` (a new message starts empty)."""

    message_id: str
    role: str
    appended: str
    new: bool


DONE = Update(message_id="", role="", appended="", new=False)  # the end of the relay


class TranscriptRelay:
    """Follows one conversation and fans its changes out to subscribers."""

    def __init__(self, client: AsyncFlueClient, agent: str, conversation_id: str) -> None:
        self.client = client
        self.agent = agent
        self.conversation_id = conversation_id
        self.subscribers: list[asyncio.Queue[Update]] = []
        self.live = asyncio.Event()  # set once the history has been relayed
        self._sent: dict[str, str] = {}  # message id -> text relayed so far

    def subscribe(self) -> asyncio.Queue[Update]:
        queue: asyncio.Queue[Update] = asyncio.Queue()
        self.subscribers.append(queue)
        return queue

    def _publish(self, state: ConversationState) -> None:
        for message in state.messages:
            if message.id is None:
                continue
            before = self._sent.get(message.id)
            text = message.text
            if before is not None and text == before:
                continue
            if before is not None and not text.startswith(before):
                before = ""  # rewritten (rare): send it whole again
            update = Update(
                message_id=message.id,
                role=message.role or "?",
                appended=text[len(before or "") :],
                new=before is None,
            )
            self._sent[message.id] = text
            for queue in self.subscribers:
                queue.put_nowait(update)

    async def run(self, settlements: int) -> None:
        """Relay until `settlements` more submissions have settled than when it started."""
        target = None
        async with self.client.agents.observe(self.agent, self.conversation_id) as obs:
            async for state in obs:
                if target is None:
                    target = len(state.settlements) + settlements
                self._publish(state)
                self.live.set()
                if len(state.settlements) >= target:
                    break
        for queue in self.subscribers:
            queue.put_nowait(DONE)


async def printer(queue: asyncio.Queue[Update]) -> int:
    count = 0
    while (update := await queue.get()) is not DONE:
        count += 1
        if update.new:
            print(f"+ {update.role} message")
    return count


async def keeper(queue: asyncio.Queue[Update]) -> dict[str, tuple[str, str]]:
    transcript: dict[str, tuple[str, str]] = {}
    while (update := await queue.get()) is not DONE:
        role, text = transcript.get(update.message_id, (update.role, ""))
        transcript[update.message_id] = (role, text + update.appended)
    return transcript


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agent")
    parser.add_argument("conversation_id")
    parser.add_argument("prompts", nargs="+")
    args = parser.parse_args()
    async with AsyncFlueClient() as client:
        relay = TranscriptRelay(client, args.agent, args.conversation_id)
        printing = asyncio.create_task(printer(relay.subscribe()))
        keeping = asyncio.create_task(keeper(relay.subscribe()))
        relaying = asyncio.create_task(relay.run(settlements=len(args.prompts)))
        await relay.live.wait()  # the conversation may not exist yet: that state counts too
        for prompt in args.prompts:
            await client.agents.send(args.agent, args.conversation_id, prompt)
        await relaying
        updates = await printing
        transcript = await keeping
    print(f"relayed {updates} updates")
    for role, text in transcript.values():
        print(f"{role}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
