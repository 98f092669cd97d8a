"""The stream reader's transitions, as data (after h11's ``_state.py``).

`TRANSITIONS` maps each state of `flue._protocol.reader.ReadMachine` to the inputs it accepts
and the state each one leads to; `Transitions.move()` is the only place the state changes, and
an input the table does not list for the current state raises `ReaderStateError` at once (a bug
in the reader or its driver, never a server's doing: what a server sends is judged by
`flue._protocol.answers` and arrives here as ANSWERED, FINISHED, RETRY or FAIL).

Inputs: REQUEST (a `SendRequest` handed out), JSON_HEAD / SSE_HEAD / ERROR_HEAD (a response head
whose body is read next), ANSWERED (a complete answer judged good: its batch, if any, waits in
the delivery queue, and the next request follows), FINISHED (the stream is over), RETRY (a
failed attempt: a `Sleep` is pending and the next request follows it), RECYCLE (an SSE body
ended cleanly: reconnect at once), FAIL (the error is final), DELIVER / DELIVERED (a batch handed
to the caller, then back to the state it was handed out from).
"""

from __future__ import annotations

import enum
from typing import Final

from flue._protocol.actions import ReaderState

__all__ = ["BACK", "TRANSITIONS", "Input", "ReaderStateError", "Transitions"]


class Input(enum.Enum):
    """What happened to the reader (see the module comment)."""

    REQUEST = "request"
    JSON_HEAD = "json-head"
    SSE_HEAD = "sse-head"
    ERROR_HEAD = "error-head"
    ANSWERED = "answered"
    FINISHED = "finished"
    RETRY = "retry"
    RECYCLE = "recycle"
    FAIL = "fail"
    DELIVER = "deliver"
    DELIVERED = "delivered"


class _Back(enum.Enum):
    BACK = "the state the delivery started from"


BACK: Final = _Back.BACK

_S = ReaderState
_I = Input

TRANSITIONS: Final[dict[ReaderState, dict[Input, ReaderState | _Back]]] = {
    _S.SEND: {_I.REQUEST: _S.AWAIT_RESPONSE, _I.DELIVER: _S.DELIVERING},
    _S.AWAIT_RESPONSE: {
        _I.JSON_HEAD: _S.JSON_BODY,
        _I.SSE_HEAD: _S.SSE_BODY,
        _I.ERROR_HEAD: _S.ERROR_BODY,
        _I.ANSWERED: _S.SEND,  # 204 / 304
        _I.FINISHED: _S.DONE,
        _I.RETRY: _S.SEND,
        _I.FAIL: _S.ERROR,
    },
    _S.JSON_BODY: {
        _I.ANSWERED: _S.SEND,
        _I.FINISHED: _S.DONE,
        _I.RETRY: _S.SEND,
        _I.FAIL: _S.ERROR,
    },
    _S.ERROR_BODY: {_I.RETRY: _S.SEND, _I.FAIL: _S.ERROR},
    _S.SSE_BODY: {
        _I.DELIVER: _S.DELIVERING,
        _I.RECYCLE: _S.SEND,
        _I.RETRY: _S.SEND,
        _I.FAIL: _S.ERROR,
    },
    _S.DELIVERING: {_I.DELIVERED: BACK, _I.FINISHED: _S.DONE},
    _S.DONE: {},
    _S.ERROR: {},
}


class ReaderStateError(RuntimeError):
    """An input the transition table does not allow in the current state (a bug)."""


class Transitions:
    """The reader's current state, moved only by `move()`."""

    def __init__(self) -> None:
        self._state = ReaderState.SEND
        self._back = ReaderState.SEND

    @property
    def state(self) -> ReaderState:
        return self._state

    def move(self, event: Input) -> ReaderState:
        """Apply `event`; raises `ReaderStateError` when the table does not allow it."""
        target = TRANSITIONS[self._state].get(event)
        if target is None:
            raise ReaderStateError(
                f"the stream reader cannot take {event.value!r} in state {self._state.value!r}"
            )
        if event is Input.DELIVER:
            self._back = self._state
        self._state = self._back if isinstance(target, _Back) else target
        return self._state

    def expect(self, state: ReaderState, call: str) -> None:
        """A driver call that is only valid in `state`."""
        if self._state is not state:
            raise ReaderStateError(
                f"{call} called in state {self._state.value!r}, expected {state.value!r}"
            )
