"""The reply of one agent submission, read from its conversation (`flue._protocol.replies`
chooses the message)."""

from __future__ import annotations

from typing import Any

import attrs

from flue._models.conversation import Message, MessageMetadata

__all__ = ["Reply"]


@attrs.frozen(kw_only=True, slots=False)
class Reply:
    """What a settled submission answered, read from the conversation.

    ``text`` is the reply message's text parts joined by a blank line (``""`` when there is no
    reply). ``data`` holds the message's data parts (Flue 2.x ``useDataWriter``): part name ->
    the data of each part of that name, in order. ``metadata`` is the message's metadata (on
    2.x the agent's own keys: ``reply.metadata["key"]``), None when it has none.
    ``submission_id`` is the submission asked about; ``uid`` the conversation instance's, when
    the admission carried one. ``message`` is the reply message itself (None when there is
    none): the last assistant message of the submission, else of the submission whose reply
    answered it, else the conversation's last assistant message. ``raw`` is the reply as the
    TypeScript SDK's ``read()`` gives it, a JSON object ``{"text", "data", "metadata"?,
    "submissionId", "uid"?}``.
    """

    submission_id: str
    text: str = ""
    data: dict[str, tuple[Any, ...]] = attrs.field(factory=dict, hash=False)
    metadata: MessageMetadata | None = None
    uid: str | None = None
    message: Message | None = attrs.field(default=None, repr=False)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
