"""The reader's transition table is the code: every state reachable, every unlisted input an
internal error at once, and no other place moves the state."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

from flue._protocol.actions import ReaderState, SendRequest
from flue._protocol.reader import ReadMachine
from flue._protocol.transitions import TRANSITIONS, Input, ReaderStateError, Transitions

PROTOCOL = Path(__file__).resolve().parents[2] / "flue" / "_protocol"


def _paths() -> dict[ReaderState, list[Input]]:
    """A shortest list of legal inputs from the start to each state (breadth first)."""
    paths: dict[ReaderState, list[Input]] = {ReaderState.SEND: []}
    todo = deque([ReaderState.SEND])
    while todo:
        state = todo.popleft()
        for event in TRANSITIONS[state]:
            machine = _walk(paths[state])
            target = machine.move(event)
            if target not in paths:
                paths[target] = [*paths[state], event]
                todo.append(target)
    return paths


def _walk(events: list[Input]) -> Transitions:
    machine = Transitions()
    for event in events:
        machine.move(event)
    return machine


def test_every_state_is_in_the_table_and_reachable() -> None:
    assert set(TRANSITIONS) == set(ReaderState)
    assert set(_paths()) == set(ReaderState)


@pytest.mark.parametrize("state", list(ReaderState), ids=lambda s: s.value)
def test_an_input_the_table_does_not_list_raises_at_once(state: ReaderState) -> None:
    path = _paths()[state]
    unlisted = [event for event in Input if event not in TRANSITIONS[state]]
    assert unlisted  # every state refuses something
    for event in unlisted:
        machine = _walk(path)
        with pytest.raises(ReaderStateError, match=f"cannot take '{event.value}'"):
            machine.move(event)
        assert machine.state is state  # refused: nothing moved


def test_delivered_goes_back_where_the_delivery_started() -> None:
    machine = _walk([Input.REQUEST, Input.SSE_HEAD, Input.DELIVER])
    assert machine.state is ReaderState.DELIVERING
    assert machine.move(Input.DELIVERED) is ReaderState.SSE_BODY
    machine = _walk([Input.REQUEST, Input.JSON_HEAD, Input.ANSWERED, Input.DELIVER])
    assert machine.move(Input.DELIVERED) is ReaderState.SEND


def test_a_driver_that_breaks_the_order_gets_the_internal_error() -> None:
    reader = ReadMachine("http://127.0.0.1:1/s", offset="-1")
    with pytest.raises(ReaderStateError, match="receive_response"):
        reader.receive_response(200, {})
    assert isinstance(reader.next_action(), SendRequest)
    with pytest.raises(ReaderStateError, match="batch_delivered"):
        reader.batch_delivered()
    reader.receive_response(200, {"stream-next-offset": "1", "content-type": "application/json"})
    with pytest.raises(ReaderStateError, match="receive_response"):
        reader.receive_response(200, {})
    assert reader.state is ReaderState.JSON_BODY


def test_only_the_mover_assigns_the_state() -> None:
    """No `X.state = ...` anywhere in the core, and `_state` only in the transitions module."""
    offenders = []
    for path in sorted(PROTOCOL.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if not isinstance(target, ast.Attribute):
                    continue
                if target.attr == "state" and path.name in ("reader.py", "answers.py"):
                    offenders.append(f"{path.name}:{node.lineno}")
                if target.attr == "_state" and path.name != "transitions.py":
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
