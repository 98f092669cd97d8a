"""Agent conversation models: messages, settlements, snapshots, the live state of `observe()`,
and the results of the agent and ``workflows.run`` calls (the parts of a message are in
`flue._models.parts`, re-exported here; the chunks of the ``view=updates`` stream are in
`flue._models.chunks`).

Every model is built leniently like the run models (`flue._models.base`): a missing or mistyped
field reads as ``None`` and the JSON object it came from is kept in ``raw``. Sequences are
tuples, so a state handed to you never changes under you. An unknown part ``type`` gives an
`UnknownPart`, which keeps the raw object.

Both server lines parse with the same models: Flue 1.0 (beta.9) fields stay (``usage``,
``model``, a settlement's ``result``) and read None on 2.x; the 2.x fields (a message's
``purpose``, ``display``, ``turn_id``, ``signal``, ``settlement``, data parts, a snapshot's
``incarnation``...) read None on beta.9.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from flue._models.base import register_model
from flue._models.parts import (
    DataPart,
    FilePart,
    Part,
    ReasoningPart,
    TextPart,
    ToolPart,
    UnknownPart,
    parts_from_list,
)
from flue._models.records import PromptUsage

__all__ = [
    "Admission",
    "AgentAbortResult",
    "AgentPromptResult",
    "AgentResult",
    "AgentSendResult",
    "ConversationSnapshot",
    "ConversationState",
    "DataPart",
    "FilePart",
    "Message",
    "MessageMetadata",
    "ModelRef",
    "Part",
    "ReasoningPart",
    "Settlement",
    "SettlementMarker",
    "SignalDescriptor",
    "TextPart",
    "ToolPart",
    "UnknownPart",
    "WorkflowRunResult",
    "message_from_dict",
    "metadata_from_dict",
    "snapshot_from_dict",
]


# -- messages -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class ModelRef:
    """The model that produced a message: ``provider`` and ``id``."""

    provider: str | None = None
    id: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(ModelRef)


@attrs.frozen(kw_only=True, slots=False, eq=False, repr=False)
class MessageMetadata(Mapping[str, Any]):
    """A message's metadata: its JSON object as a read-only mapping, plus typed readings of the
    keys Flue 1.0 (beta.9) set.

    On Flue 2.x the metadata is entirely the agent's (what its ``useResponseStart`` /
    ``useResponseFinish`` hooks return, deep-merged as the reply streams): read any key with
    ``metadata["key"]`` or ``metadata.get("key")``, iterate it, or take ``dict(metadata)``.
    On beta.9 the server set ``timestamp`` (when a user message was recorded or an assistant
    message started), ``usage`` and ``model``: the attributes of those names read them typed
    (``usage`` a `PromptUsage`, ``model`` a `ModelRef`; None when absent or of another shape,
    as when a 2.x agent uses those keys for something else), while ``metadata["usage"]`` is the
    JSON value itself.

    The mapping is ``raw``, so a `MessageMetadata` built by hand with only the attributes is an
    empty mapping. Two metadata are equal when their attributes and mappings are; a metadata
    equals a plain dict holding the same keys and values.
    """

    timestamp: str | None = None
    usage: PromptUsage | None = None
    model: ModelRef | None = None
    raw: dict[str, Any] = attrs.field(factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MessageMetadata):
            return (self.timestamp, self.usage, self.model, self.raw) == (
                other.timestamp,
                other.usage,
                other.model,
                other.raw,
            )
        if isinstance(other, Mapping):
            return self.raw == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.timestamp, self.usage, self.model))

    def __repr__(self) -> str:
        return f"MessageMetadata({self.raw!r})"


_structure_metadata = register_model(MessageMetadata)


def metadata_from_dict(d: dict[str, Any]) -> MessageMetadata:
    """A `MessageMetadata` over the JSON object `d` (kept as its mapping)."""
    return _structure_metadata(d)


def _str_dict(v: Any, _: Any = None) -> dict[str, str] | None:
    if not isinstance(v, dict):
        return None
    return {k: x for k, x in v.items() if isinstance(k, str) and isinstance(x, str)}


@attrs.frozen(kw_only=True, slots=False)
class SignalDescriptor:
    """What a ``system`` message projected from a signal says about it (Flue 2.x): the
    signal's ``tag_name`` and ``attributes`` (string values; any other value is left out
    here and kept in ``raw``)."""

    tag_name: str | None = None
    attributes: dict[str, str] | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(SignalDescriptor, hooks={"attributes": _str_dict})


@attrs.frozen(kw_only=True, slots=False)
class SettlementMarker:
    """The marker on the advisory message the server appends when a submission settles short
    of a reply (Flue 2.x): ``outcome`` is ``"failed"`` or ``"aborted"``. The message's
    ``submission_id`` names the submission."""

    outcome: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(SettlementMarker)


@attrs.frozen(kw_only=True, slots=False)
class Message:
    """One message of a conversation.

    ``role`` is ``"user"``, ``"assistant"`` or (Flue 2.x) ``"system"``: every message that is
    neither chat nor an answer, such as a signal delivered to the agent or a runtime advisory.
    ``submission_id`` is set on messages of a tracked submission when the server says so. An
    assistant message is one whole reply: every step of it accumulates as parts.

    Flue 2.x also sends ``purpose`` (``"user"``, ``"assistant"``, ``"dispatch"`` for a signal
    sent to the agent, ``"advisory"`` for the runtime's own notices; the list may grow),
    ``display`` (``"visible"``, ``"diagnostic"`` or ``"hidden"``: how a transcript should
    treat it), ``turn_id`` (shared by the messages of one model round trip), ``signal`` (on a
    ``system`` message from a signal) and ``settlement`` (on the advisory of a submission that
    failed or was aborted). All read None on beta.9.
    """

    id: str | None = None
    role: str | None = None
    purpose: str | None = None
    display: str | None = None
    submission_id: str | None = None
    turn_id: str | None = None
    signal: SignalDescriptor | None = None
    settlement: SettlementMarker | None = None
    parts: tuple[Part, ...] = ()
    metadata: MessageMetadata | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def text(self) -> str:
        """The message's text: its text parts joined (reasoning and tools left out)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


_structure_message = register_model(
    Message, hooks={"parts": parts_from_list}, rare=("signal", "settlement")
)


def message_from_dict(d: Any) -> Message:
    """A `Message` from its JSON object (a non-object raises `ProtocolError`)."""
    return _structure_message(d)


def _messages(v: Any, _: Any = None) -> tuple[Message, ...]:
    if not isinstance(v, list):
        return ()
    return tuple(_structure_message(m) for m in v if isinstance(m, dict))


@attrs.frozen(kw_only=True, slots=False)
class Settlement:
    """How one submission ended: ``outcome`` is ``"completed"``, ``"failed"`` or
    ``"aborted"`` (with ``error``, the JSON value the server sent).

    ``result`` is the reply's ``{text, usage, model}`` on Flue 1.0 (beta.9), None on 2.x.
    ``answered_by_submission_id`` (Flue 2.x) names the submission whose reply answered this
    one: a message sent while a reply was streaming joins that reply, and both settle naming
    the first submission. ``timestamp`` is when it settled, when the server says so (a
    ``submission-settled`` chunk does; a history snapshot does not).
    """

    submission_id: str | None = None
    outcome: str | None = None
    result: Any = None
    error: Any = None
    answered_by_submission_id: str | None = None
    timestamp: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_settlement = register_model(Settlement)


def _settlements(v: Any, _: Any = None) -> tuple[Settlement, ...]:
    if not isinstance(v, list):
        return ()
    return tuple(_structure_settlement(s) for s in v if isinstance(s, dict))


@attrs.frozen(kw_only=True, slots=False)
class ConversationState:
    """A conversation as `observe()` maintains it: its messages (in order) and the
    settlements of its submissions. Immutable: each change gives a new state."""

    conversation_id: str | None = None
    messages: tuple[Message, ...] = ()
    settlements: tuple[Settlement, ...] = ()

    def settlement(self, submission_id: str) -> Settlement | None:
        """The settlement of one submission, or None while it has not settled."""
        for s in self.settlements:
            if s.submission_id == submission_id:
                return s
        return None

    if not TYPE_CHECKING:  # hidden from type checkers, which would allow any attribute

        def __getattr__(self, name):
            # Only reached for a state the reducer built with a message being written
            # (`with_message`): ``messages`` is not in its __dict__ until first read, then
            # built once from the shared tuple and the one message that differs, and kept.
            spine = self.__dict__.get(_SPINE)
            if name != "messages" or spine is None:
                raise AttributeError(name)
            base, index, hot = spine
            # concatenation: fewer passes over n references than unpacking into a new tuple
            messages = base[:index] + (hot,) + base[index + 1 :]  # noqa: RUF005
            self.__dict__["messages"] = messages
            return messages


# How a delta costs O(1) in the length of the conversation: a state the reducer builds for a
# change to one message keeps (base, index, message) under this key of its __dict__ instead of
# a new ``messages`` tuple: ``base`` is a tuple shared with the states before it (its slot
# ``index`` may be stale) and ``message`` is what that slot holds now. The next change to the
# same message makes another such state over the same base; a change to another message, or a
# new message, builds one new tuple (O(n), once per message, not per delta). ``messages`` is
# built on first read (`ConversationState.__getattr__`), so equality, hashing, repr and
# ``attrs.evolve`` see an ordinary tuple.
_SPINE = "_flue_spine"


def _spine(state: ConversationState) -> tuple[tuple[Message, ...], int, Message | None]:
    spine = state.__dict__.get(_SPINE)
    return spine if spine is not None else (state.messages, -1, None)


def _lazy_state(
    template: ConversationState,
    spine: tuple[tuple[Message, ...], int, Message],
    settlements: tuple[Settlement, ...],
) -> ConversationState:
    state: ConversationState = object.__new__(ConversationState)
    state.__dict__.update(
        {"conversation_id": template.conversation_id, "settlements": settlements, _SPINE: spine}
    )
    return state


def message_count(state: ConversationState) -> int:
    """``len(state.messages)``, without building the tuple."""
    return len(_spine(state)[0])


def message_at(state: ConversationState, index: int) -> Message:
    """``state.messages[index]`` (index >= 0), without building the tuple."""
    base, hot_index, hot = _spine(state)
    return hot if index == hot_index and hot is not None else base[index]


def find_message(state: ConversationState, message_id: str | None) -> int:
    """The index of the last message with this id, or -1: the message being written first
    (O(1)), else a scan from the end."""
    if message_id is None:
        return -1
    base, hot_index, hot = _spine(state)
    if hot is not None and hot.id == message_id:
        return hot_index
    for i in range(len(base) - 1, -1, -1):
        if i != hot_index and base[i].id == message_id:
            return i
    return -1


def with_message(state: ConversationState, index: int, message: Message) -> ConversationState:
    """`state` with message `index` replaced: O(1) when it is the message the last change
    wrote (or there was none), else one O(n) copy."""
    base, hot_index, hot = _spine(state)
    if hot is not None and hot_index != index:
        base = state.messages
    return _lazy_state(state, (base, index, message), state.settlements)


def with_appended(state: ConversationState, message: Message) -> ConversationState:
    """`state` with `message` added at the end (one O(n) copy)."""
    return ConversationState(
        conversation_id=state.conversation_id,
        messages=(*state.messages, message),
        settlements=state.settlements,
    )


def with_settlements(
    state: ConversationState, settlements: tuple[Settlement, ...]
) -> ConversationState:
    """`state` with other settlements, the messages shared (not copied)."""
    spine = state.__dict__.get(_SPINE)
    if spine is None:
        return attrs.evolve(state, settlements=settlements)
    return _lazy_state(state, spine, settlements)


@attrs.frozen(kw_only=True, slots=False)
class ConversationSnapshot:
    """A whole conversation read at ``offset`` (``agents.history()``).

    ``incarnation`` (Flue 2.x) names the generation of the stream it was read from: a stream
    that was reset and grew again (a development server restarted on its in-memory store)
    has another one, and offsets of the old one mean nothing in it. None on beta.9, and in
    the snapshot of a ``conversation-reset`` chunk.
    """

    conversation_id: str | None = None
    offset: str | None = None
    incarnation: str | None = None
    messages: tuple[Message, ...] = ()
    settlements: tuple[Settlement, ...] = ()
    v: int | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def state(self) -> ConversationState:
        """The snapshot as a `ConversationState`."""
        return ConversationState(
            conversation_id=self.conversation_id,
            messages=self.messages,
            settlements=self.settlements,
        )


_structure_snapshot = register_model(
    ConversationSnapshot, hooks={"messages": _messages, "settlements": _settlements}
)


def snapshot_from_dict(d: Any) -> ConversationSnapshot:
    """A `ConversationSnapshot` from the history JSON object (a non-object raises
    `ProtocolError`)."""
    return _structure_snapshot(d)


# -- results --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class AgentResult:
    """What a completed prompt produced: the reply ``text``, ``usage`` and ``model``."""

    text: str | None = None
    usage: PromptUsage | None = None
    model: ModelRef | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_agent_result = register_model(AgentResult)


def agent_result_from_value(v: Any) -> AgentResult:
    """An `AgentResult` from a settlement's ``result`` (a non-object gives an empty one, with
    the value under ``raw["value"]``)."""
    if isinstance(v, dict):
        return _structure_agent_result(v)
    return AgentResult(text=v if isinstance(v, str) else None, raw={"value": v})


@attrs.frozen(kw_only=True, slots=False)
class AgentSendResult:
    """A message the agent accepted (its admission; also named ``flue.Admission``): its
    ``submission_id``, and where its events are (``stream_url`` read from ``offset``). Pass it
    to ``wait()`` or ``read()``.

    ``uid`` (Flue 2.x) identifies the conversation's instance: minted when this message
    created the conversation, echoed when it continued one; pass it back to make sure later
    messages reach the same instance. ``deduplicated`` is True when the message's idempotency
    key had been sent before: the server answered with the original submission (and
    ``offset`` ``"-1"``, the stream's start) and ran nothing again.

    ``conversation_url`` is the conversation's URL as the client addressed it (what `wait()`
    reads; None when the result was built from saved values, then ``stream_url`` is used).
    """

    submission_id: str
    stream_url: str | None = None
    offset: str | None = None
    uid: str | None = None
    deduplicated: bool = False
    conversation_url: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


Admission = AgentSendResult

_structure_send = register_model(
    AgentSendResult,
    hooks={"conversation_url": lambda v, _: None, "deduplicated": lambda v, _: v is True},
)


@attrs.frozen(kw_only=True, slots=False)
class AgentPromptResult:
    """A prompt that was waited for: the admission fields and its ``result``."""

    submission_id: str
    stream_url: str | None = None
    offset: str | None = None
    result: AgentResult = attrs.field(factory=AgentResult)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class AgentAbortResult:
    """``aborted`` is True when there was work under way or queued (it now settles as
    aborted), False when the conversation was idle."""

    aborted: bool = False
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class WorkflowRunResult:
    """A finished run started by ``workflows.run()``: its id and its result."""

    run_id: str
    result: Any = None
