"""Fake Flue agents (conversations) for :class:`~flue.testing.FlueTestServer`.

A fake server answers Flue 1.0.0-beta.9's agent routes as a real one does: ``POST
/agents/{name}/{id}`` (202 admission, or ``?wait=result``), ``GET .../{id}`` (``view=history``,
the default, and ``view=updates`` in catch-up, long-poll and SSE), ``HEAD``, ``POST
.../{id}/abort`` and ``GET .../{id}/attachments/{attachment_id}``. The model is replaced by a
scripted *reply*::

    from flue.testing import AgentFailure, FlueTestServer, Reasoning, ToolCall

    async with FlueTestServer(token="secret") as server:
        # The demo agent "assistant" is registered unless demo_agents=False: it answers
        # "echo: <message>" one word per token, like the interop app's fake model (message
        # directives "slow:", "fail:", "think:", "tool:", "words<n>:", see DEMO_DIRECTIVES).
        greeter = server.add_agent("greeter", reply=lambda p: f"Hello, {p.message}!")
        # POST {server.url}/agents/greeter/conv-1 {"message": "Ada"}  -> 202
        #   {"streamUrl": ".../agents/greeter/conv-1", "offset": "...", "submissionId": "..."}
        # GET  {server.url}/agents/greeter/conv-1                     -> the history snapshot
        # GET  {server.url}/agents/greeter/conv-1?view=updates&offset=-1&live=sse

    with FlueTestServer.running_in_thread(token="secret") as server:   # for sync tests
        ...

A reply is a function of the :class:`AgentPrompt` (sync or async) returning a ``str`` (streamed
one word per token), or an iterable / async iterable of tokens: ``str`` (text), :class:`Reasoning`
(reasoning text) and :class:`ToolCall` (a tool call and its output or error; the reply then goes
on in a new assistant message, as a model answering the tool result does). Raising
:class:`AgentFailure` (at once or mid-reply) fails the submission as a model failure does;
any other exception fails it as an internal error::

    def reply(prompt):
        yield Reasoning("thinking")
        yield ToolCall("search", {"q": prompt.message}, output={"hits": 1})
        yield "Found "
        yield "one."

    server.add_agent("searcher", reply=reply)
    server.add_agent("broken", reply=AgentFailure("the model is down"))

Timing, deterministic for tests (no sleeps needed):

- ``token_delay=0.05``: seconds between tokens (each token then lands in its own batch, so
  observers see the reply grow); 0 (the default) writes the reply as fast as possible.
- ``pause_after=2``: every reply stops after 2 tokens (flushed, so readers see them) until
  :meth:`AgentHandle.resume` (``hold()`` re-arms the pause for later replies) or an abort.
  ``handle.wait_paused(timeout)`` (blocking, for ``running_in_thread``) or ``await
  handle.wait_paused_async(timeout)`` returns once a reply is held there (``count=n``: once
  ``n`` have been in all): the moment to test abort and live observation mid-reply::

      agent = server.add_agent("slow", pause_after=1)
      sent = requests.post(f"{server.url}/agents/slow/c1", json={"message": "hi"}, ...)
      agent.wait_paused(5)                                    # "echo:" streamed, reply held
      requests.post(f"{server.url}/agents/slow/c1/abort", ...)  # {"aborted": true}

Deltas are written as soon as the reply lets the event loop run (a real server coalesces them
for up to 1 s), so a reply that awaits between tokens is seen growing at once. The server's
``long_poll_timeout`` is also the idle window after which a conversation SSE stream re-reads
and repeats its control frame (Flue uses its 30 s long-poll window for both), and
``sse_heartbeat`` spaces its heartbeat comments.

Other options of :meth:`FlueTestServer.add_agent`: ``attachments=True`` exposes the attachment
route (Flue agents opt in by exporting an ``attachments`` middleware; without it, the default,
the route is a 404 ``route_not_found``; the demo ``assistant`` opts in, like the interop app's),
``model=("fake", "echo")`` (provider and id in messages and results). Adding an agent under an
existing name (``"assistant"`` too) replaces it. Images sent with a prompt become ``file`` parts
of the user message and attachments ``att_direct_<submission id>_<index>``. Inspection:
``handle.history(id)`` (the snapshot ``view=history`` answers), ``handle.chunks(id)`` (every
``view=updates`` chunk so far), ``handle.instances``, ``handle.abort(id)``;
``server.agent_handle("assistant")`` is the demo agent's handle.

What the fake does as Flue beta.9 does: the agent's ``route`` auth (the server's ``token``/
``auth`` hook) guards prompts, reads and abort (401); an unknown agent is 404
``agent_not_found``, a never-prompted instance 404 ``stream_not_found``; prompts of one instance
run one at a time in order; an abort answers ``{"aborted": true|false}``, keeps the partial reply
(marked done), appends a user-role notice and settles ``aborted`` with an error of type
``submission_aborted``; ``?wait=result`` answers 500 ``submission_aborted`` /
``operation_failed`` then; long-polls time out with ``200 []``; SSE never sends ``streamClosed``;
an offset past the head answers 500; records that project to no chunk (a text block's start
and end, a tool outcome) leave empty batches, so positions have gaps and a long-poll can answer
``[]`` with an advanced ``Stream-Next-Offset``. The user message id is
``entry_direct_<base64url(submission id)>``; history's assistant messages carry no
``submissionId`` (``message-started`` does).
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import typing

    _T = typing.TypeVar("_T")

    class _Server(typing.Protocol):
        """What a handle needs of `FlueTestServer`, which imports this module (so no import
        back): its loop, its app (whose ``agents`` registry imports this module too) and
        `_call`, which runs a function on the server's loop."""

        _loop: asyncio.AbstractEventLoop | None
        _app: Any

        def _call(self, fn: Callable[..., _T], *args: Any) -> _T: ...


__all__ = [
    "DEMO_DIRECTIVES",
    "AgentFailure",
    "AgentHandle",
    "AgentImage",
    "AgentPrompt",
    "Reasoning",
    "Reply",
    "ReplyFn",
    "ToolCall",
    "demo_reply",
]


class AgentFailure(Exception):
    """Raise (or pass as a reply) to fail a submission as a failing model call does: the
    settlement is ``failed`` with an ``operation_failed`` error, ``?wait=result`` answers 500."""

    def __init__(self, reason: str = "The model call failed.") -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class Reasoning:
    """A reasoning token of a reply."""

    text: str


@attrs.frozen
class ToolCall:
    """A tool call of a reply: ``output`` when it succeeds, else ``error`` (its error text).

    ``call_id`` defaults to a fresh id. The tool's result is committed right after the call and
    the reply's next tokens open a new assistant message."""

    name: str
    input: Any = attrs.field(factory=dict)
    output: Any = None
    error: str | None = None
    call_id: str | None = None


Token = str | Reasoning | ToolCall


@attrs.frozen
class AgentImage:
    """An image sent with a prompt: its decoded bytes, media type, optional filename and the
    attachment id it is stored under (``att_direct_<submission id>_<index>``)."""

    data: bytes
    mime_type: str
    filename: str | None = None
    id: str = ""


@attrs.frozen
class AgentPrompt:
    """What a reply function is given."""

    agent: str
    instance_id: str
    submission_id: str
    message: str
    images: tuple[AgentImage, ...] = ()
    messages: tuple[dict[str, Any], ...] = ()
    """The conversation's messages before this prompt (history form)."""
    signal: dict[str, Any] | None = None
    """Flue 2.x: the signal answered (``type``, ``body``, ``attributes``?, ``tagName``?), else
    ``None``; ``message`` is then the signal as the model sees it (``<signal type="...">``)."""
    initial_data: Any = None
    """Flue 2.x: the ``initialData`` the conversation was created with (``None`` without)."""


ReplyValue = str | Iterable[Token] | AsyncIterable[Token]
ReplyFn = Callable[[AgentPrompt], ReplyValue | Awaitable[ReplyValue]]
"""``reply(prompt)``: text, or tokens (see the module docstring); may be ``async def``."""

Reply = ReplyFn | str | Iterable[Token] | AgentFailure
"""What an agent answers with: a reply function, or a fixed text, token list or failure."""

DEMO_DIRECTIVES = ("slow:", "slow<ms>:", "fail:", "think:", "tool:", "words<n>:")
"""Leading message directives of the demo reply (the interop app's fake model's rules)."""

_DIRECTIVE = re.compile(r"^(slow\d*|fail|think|tool|words\d+):\s*")


def words(text: str) -> list[str]:
    """Tokens that join back to ``text``: each word with its leading spaces."""
    return re.findall(r"\s*\S+", text) or [text]


_FAKE_MODEL_FAILURE = (
    '400: {"message":"the fake model was told to fail","type":"invalid_request_error"}'
)


async def demo_reply(prompt: AgentPrompt) -> AsyncIterable[Token]:
    """The demo agent's reply, as the interop app's fake model answers through Flue: ``echo:
    <text>`` one word per token (a message with images gets Flue's attachment note appended, as
    the fake model cannot see images); directives: ``slow:``/``slow<ms>:`` (200 ms or ``<ms>``
    before each token), ``fail:`` (a model failure), ``think:`` (reasoning ``thinking about
    <text>`` first), ``tool:`` (call ``echo`` with ``{"text": text}``, answered ``{"echoed":
    text}``, or an error for text starting with ``boom``; then ``tool said: ...``),
    ``words<n>:`` (``w0 w1 ...``, ``n`` words)."""
    text = prompt.message
    delay = 0.0
    flags: set[str] = set()
    count = 0
    while (match := _DIRECTIVE.match(text)) is not None:
        name = match.group(1)
        text = text[match.end() :]
        if name.startswith("slow"):
            delay = int(name[4:] or 200) / 1000
        elif name.startswith("words"):
            count = int(name[5:])
        else:
            flags.add(name)
    if "fail" in flags:
        raise AgentFailure(_FAKE_MODEL_FAILURE)
    tokens: list[Token] = []
    if "think" in flags:
        tokens += [Reasoning(t) for t in words(f"thinking about {text}")]
    if "tool" in flags:
        failed = text.startswith("boom")
        output = None if failed else {"echoed": text}
        error = f"echo refused: {text}" if failed else None
        tokens.append(ToolCall("echo", {"text": text}, output=output, error=error))
        said = error if failed else f'{{"echoed":"{text}"}}'
        tokens += words(f"tool said: {said}")
    elif count:
        tokens += [("" if i == 0 else " ") + f"w{i}" for i in range(count)]
    else:
        if prompt.images:
            notes = "\n".join(
                f'<image id="{image.id}" mimeType="{image.mime_type}" />' for image in prompt.images
            )
            text += f"\n\n<attachments>\n{notes}\n</attachments>"
            text += "(image omitted: model does not support images)"
        tokens += words(f"echo: {text}")
    return _paced(tokens, delay)


async def _paced(tokens: list[Token], delay: float) -> AsyncIterable[Token]:
    for token in tokens:
        if delay:
            await asyncio.sleep(delay)
        yield token


class AgentHandle:
    """An agent registered with :meth:`FlueTestServer.add_agent`; ``str(handle)`` is its name."""

    def __init__(self, server: _Server, name: str) -> None:
        self.server = server
        self.name = name
        self._pauses = 0
        self._paused = threading.Condition()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -- pause hooks ----------------------------------------------------------------------------

    def _note_paused(self) -> None:
        """Called on the server's loop each time a reply is held."""
        with self._paused:
            self._pauses += 1
            self._paused.notify_all()
            pauses = self._pauses
        for count, future in list(self._waiters):
            if pauses >= count and not future.done():
                future.set_result(None)

    @property
    def pauses(self) -> int:
        """How many times a reply has been held at ``pause_after`` so far."""
        with self._paused:
            return self._pauses

    def wait_paused(self, timeout: float = 10.0, *, count: int = 1) -> None:
        """Block until ``count`` replies in all have been held at ``pause_after`` (raises
        ``TimeoutError`` after ``timeout`` seconds). For a server in another thread."""
        with self._paused:
            if not self._paused.wait_for(lambda: self._pauses >= count, timeout):
                raise TimeoutError(f"no reply of agent {self.name!r} paused within {timeout}s")

    async def wait_paused_async(self, timeout: float = 10.0, *, count: int = 1) -> None:
        """``await`` form of :meth:`wait_paused`; works on the server's loop too."""
        loop = asyncio.get_running_loop()
        if self.server._loop is not loop:  # the server runs in another thread
            await loop.run_in_executor(
                None, functools.partial(self.wait_paused, timeout, count=count)
            )
            return
        if self.pauses >= count:
            return
        entry = (count, loop.create_future())
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(entry[1], timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"no reply of agent {self.name!r} paused within {timeout}s"
            ) from None
        finally:
            self._waiters.remove(entry)

    def resume(self) -> None:
        """Let held replies go on (and later ones stream without holding)."""
        self.server._call(self.server._app.agents.resume, self.name, True)

    def hold(self) -> None:
        """Undo :meth:`resume`: later replies are held at ``pause_after`` again."""
        self.server._call(self.server._app.agents.resume, self.name, False)

    # -- inspection ---------------------------------------------------------------------------

    @property
    def instances(self) -> list[str]:
        """Ids of the instances prompted so far."""
        return self.server._call(self.server._app.agents.instances, self.name)

    def history(self, instance_id: str) -> dict[str, Any]:
        """The snapshot ``GET /agents/{name}/{id}`` answers (``KeyError`` if never prompted)."""
        return self.server._call(self.server._app.agents.history, self.name, instance_id)

    def chunks(self, instance_id: str) -> list[dict[str, Any]]:
        """Every ``view=updates`` chunk of the instance so far, with positions."""
        return self.server._call(self.server._app.agents.chunks, self.name, instance_id)

    def wait_for_readers(self, instance_id: str, count: int = 1, *, timeout: float = 10.0) -> None:
        """Block until ``count`` long-polls of the conversation wait for a change (then a
        message sent is certainly what wakes them; no sleeping). For a server in another
        thread; raises ``TimeoutError`` after ``timeout`` seconds (also when the conversation
        does not exist yet)."""
        conversations = self.server._app.agents.conversations
        conv = self.server._call(conversations.get, (self.name, instance_id))
        if conv is None:
            raise TimeoutError(f"agent {self.name!r} has no conversation {instance_id!r}")
        with conv.waiting_changed:
            if not conv.waiting_changed.wait_for(lambda: conv.waiting >= count, timeout):
                raise TimeoutError(
                    f"{count} long-poll(s) of {instance_id!r} were not waiting within {timeout} s"
                )

    def abort(self, instance_id: str) -> bool:
        """Abort the instance's work as ``POST .../abort`` does; True if there was some."""
        return bool(self.server._call(self.server._app.agents.abort, self.name, instance_id))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"AgentHandle({self.name!r})"
