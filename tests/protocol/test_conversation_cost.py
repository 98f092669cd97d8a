"""The reducer's cost per delta does not grow with the conversation: counted, not timed.

A delta to the message being written must neither read the messages of the history (no scan)
nor copy the tuple of messages (no O(n) allocation per state kept). Reads are counted with a
`Message` subclass that counts attribute reads; copies with tracemalloc, keeping every state
(as a caller holding the states handed out would): the old reducer held a new tuple of n
references per delta, 8n bytes. Plus the laziness itself: states built over a shared tuple
equal, hash, print and evolve like ordinary ones, and an earlier state never changes.
"""

from __future__ import annotations

import copy
import gc
import pickle
import tracemalloc
from typing import Any

import attrs
import pytest

from flue._models.chunks import chunk_from_dict
from flue._models.conversation import ConversationSnapshot, ConversationState, Message
from flue._models.parts import TextPart
from flue._protocol.conversation import APPLIED, Conversation


class Counted(Message):
    """A history message that counts how often its attributes are read."""

    reads = 0

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("__"):
            Counted.reads += 1
        return super().__getattribute__(name)


def history(n: int) -> ConversationSnapshot:
    messages = tuple(
        Counted(
            id=f"m{i}",
            role="user" if i % 2 == 0 else "assistant",
            parts=(TextPart(text=f"message {i}", state="done"),),
        )
        for i in range(n)
    )
    return ConversationSnapshot(conversation_id="c1", offset="0_0", messages=messages)


class Feed:
    """Chunks with growing positions."""

    def __init__(self) -> None:
        self.index = 0

    def __call__(self, chunk_type: str, **fields: Any) -> Any:
        self.index += 1
        body = {"type": chunk_type, "position": {"batch": 1, "index": self.index}, **fields}
        return chunk_from_dict(body)


def start_reply(n: int) -> tuple[Conversation, Feed]:
    conversation = Conversation(history(n))
    feed = Feed()
    assert conversation.apply(feed("message-started", messageId="r1", turnId="t")) is APPLIED
    return conversation, feed


def delta(feed: Feed, text: str, message_id: str = "r1") -> Any:
    return feed("message-delta", messageId=message_id, kind="text", delta=text)


@pytest.mark.parametrize("n", [10, 1_000, 5_000])
def test_a_delta_reads_no_message_of_the_history(n: int) -> None:
    conversation, feed = start_reply(n)
    Counted.reads = 0
    for i in range(200):
        assert conversation.apply(delta(feed, f" w{i}")) is APPLIED
    metadata = feed("message-metadata", messageId="r1", metadata={"k": 1})
    assert conversation.apply(metadata) is APPLIED
    assert conversation.apply(feed("message-completed", messageId="r1")) is APPLIED
    settled = feed("submission-settled", submissionId="s1", outcome="completed")
    assert conversation.apply(settled) is APPLIED
    assert Counted.reads == 0
    # what was built is what the old reducer built
    state = conversation.state
    assert len(state.messages) == n + 1
    assert state.messages[:n] == history(n).messages
    assert state.messages[-1].text == "".join(f" w{i}" for i in range(200))
    assert state.messages[-1].parts[-1].state == "done"


def _bytes_held_per_delta(n: int, deltas: int = 300) -> float:
    conversation, feed = start_reply(n)
    chunks = [delta(feed, "x") for _ in range(deltas)]
    states: list[ConversationState] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for chunk in chunks:
            conversation.apply(chunk)
            states.append(conversation.state)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return held / deltas


def test_the_memory_each_delta_state_holds_does_not_grow_with_the_history() -> None:
    small, large = _bytes_held_per_delta(10), _bytes_held_per_delta(5_000)
    # a tuple of 5,001 references per state would be ~40,000 bytes more
    assert abs(large - small) < 64, (small, large)


def _reply_states(n: int) -> tuple[list[ConversationState], ConversationState]:
    """The states of a reply over `n` messages, and the same end state built without
    sharing (by an ordinary ConversationState)."""
    conversation, feed = start_reply(n)
    states = [conversation.state]
    for i in range(5):
        conversation.apply(delta(feed, f" w{i}"))
        states.append(conversation.state)
    plain = ConversationState(
        conversation_id="c1", messages=tuple(states[-1].messages), settlements=()
    )
    return states, plain


def test_lazy_states_are_ordinary_states() -> None:
    states, plain = _reply_states(3)
    last = states[-1]
    assert last == plain and hash(last) == hash(plain) and repr(last) == repr(plain)
    assert isinstance(last.messages, tuple)
    assert last.messages is last.messages  # built once, then kept
    assert attrs.evolve(last, settlements=()) == plain
    assert copy.copy(last) == plain and pickle.loads(pickle.dumps(last)) == plain
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        last.messages = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        last.no_such_attribute  # type: ignore[attr-defined]  # noqa: B018
    # every earlier state keeps its own text, though they share one tuple
    texts = [s.messages[-1].text for s in states]
    assert texts == ["", " w0", " w0 w1", " w0 w1 w2", " w0 w1 w2 w3", " w0 w1 w2 w3 w4"]


def test_changes_to_other_messages_and_new_messages_while_a_reply_is_written() -> None:
    conversation, feed = start_reply(2)
    conversation.apply(delta(feed, "a"))
    appended = {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "more"}]}
    conversation.apply(feed("message-appended", message=appended))  # a message joining
    conversation.apply(delta(feed, "b"))  # the reply, now before the last message
    before = conversation.state
    conversation.apply(delta(feed, "!", message_id="m1"))  # another message
    conversation.apply(delta(feed, "c"))
    conversation.apply(feed("message-started", messageId="r2"))
    conversation.apply(delta(feed, "z", message_id="r2"))
    ids = [m.id for m in conversation.state.messages]
    assert ids == ["m0", "m1", "r1", "u2", "r2"]
    texts = [m.text for m in conversation.state.messages]
    assert texts == ["message 0", "message 1!", "abc", "more", "z"]
    assert [m.text for m in before.messages] == ["message 0", "message 1", "ab", "more"]
