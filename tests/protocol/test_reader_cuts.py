"""A cut inside a page or an SSE data frame (issue: progress per item, not per page).

The complete items received before a cut are handed out, the read resumes from the exact
position and skips them on the re-read; a cut that moved the position is progress (it resets
the attempt count), the same cut at the same place ends the read, and a server that changes
the items at an offset on the re-read is a ProtocolError. Scripted bytes: no sockets, no sleep.
"""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from flue._protocol.actions import Deliver, SendRequest
from flue._protocol.http import HttpRequest
from flue._protocol.params import LiveMode
from flue._protocol.reader import ReadMachine
from flue._protocol.retry import RetryPolicy
from flue.errors import ConnectionLostError, ProtocolError, TransportError
from tests.protocol.scripted import Scripted, drive

URL = "https://h/runs/r1"
POLICY = RetryPolicy(jitter=False, initial_delay=0.5, max_attempts=3)
PAGE = 5
EVENTS = 23
SSE = {"Content-Type": "text/event-stream"}


def offset_of(index: int) -> str:
    return f"o{index:04d}"


def page(start: int) -> tuple[bytes, str, bool]:
    """The catch-up page from item `start`: its body, next offset and whether it is the end."""
    end = min(start + PAGE, EVENTS)
    items = [{"type": "log", "eventIndex": i, "pad": "x" * (i % 7)} for i in range(start, end)]
    return json.dumps(items).encode(), offset_of(end), end == EVENTS


def start_of(req: HttpRequest) -> int:
    offset = parse_qs(urlsplit(req.url).query)["offset"][0]
    return 0 if offset == "-1" else int(offset[1:])


def answer(req: HttpRequest, cut_at: int | None) -> Scripted:
    body, next_offset, last = page(start_of(req))
    headers = {"Stream-Next-Offset": next_offset, "Content-Type": "application/json"}
    if last:
        headers["Stream-Up-To-Date"] = "true"
    if cut_at is None or cut_at >= len(body):
        return Scripted(headers=headers, chunks=[body])
    return Scripted(
        headers=headers, chunks=[body[:cut_at]] if cut_at else [], error_at=int(cut_at > 0)
    )


def reader(**kw: Any) -> ReadMachine:
    kw.setdefault("offset", "-1")
    kw.setdefault("retry", POLICY)
    kw.setdefault("rng", random.Random(0))
    kw.setdefault("clock", lambda: 0.0)
    return ReadMachine(URL, **kw)


def indexes(items: list[Any]) -> list[int]:
    return [e["eventIndex"] for e in items]


def item_ends(body: bytes) -> list[int]:
    """The byte counts after which items 1, 2, ... of a page are whole (their delimiter in)."""
    return [i + 2 for i in range(len(body)) if body[i : i + 2] in (b"},", b"}]")]


@pytest.mark.parametrize("seed", range(8))
def test_every_answer_cut_after_a_new_item_never_gives_up(seed: int) -> None:
    # every answer is cut (but the one that ends a page whole), each cut one item or more
    # further into the page than the last: far more cuts in a row than max_attempts=3, each
    # one progress, retried at once
    rng = random.Random(seed)
    reached: dict[int, int] = {}
    cuts = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal cuts
        start = start_of(req)
        body, _, _ = page(start)
        ends = item_ends(body)
        done = reached.get(start, 0)
        if done == len(ends):
            return answer(req, None)
        reached[start] = rng.randint(done + 1, min(done + 2, len(ends)))
        cuts += 1
        return answer(req, ends[reached[start] - 1] + rng.randrange(0, 4))

    trace = drive(reader(), respond)
    assert indexes(trace.items) == list(range(EVENTS))
    assert trace.done is not None
    assert cuts > 3 * POLICY.max_attempts
    assert set(trace.sleeps) == {0.0}


@pytest.mark.parametrize("seed", range(8))
def test_random_cuts_inside_pages_lose_nothing_and_never_give_up(seed: int) -> None:
    # 80% of answers cut at a random byte after their first item: a re-read (which starts at
    # the page's start) is often cut before the items already handed out, bringing nothing
    # new; those cuts back off but never end the read
    rng = random.Random(seed)

    def respond(req: HttpRequest) -> Scripted:
        body, _, _ = page(start_of(req))
        if rng.random() < 0.8:
            return answer(req, rng.randrange(item_ends(body)[0], len(body)))
        return answer(req, None)

    trace = drive(reader(), respond)
    assert indexes(trace.items) == list(range(EVENTS))
    assert trace.done is not None


def test_a_cut_at_every_byte_of_a_page_delivers_each_item_once() -> None:
    body, _, _ = page(0)
    for at in range(len(body) + 1):
        calls = 0

        def respond(req: HttpRequest, at: int = at) -> Scripted:
            nonlocal calls
            calls += 1
            return answer(req, at if calls == 1 else None)

        trace = drive(reader(), respond)
        assert indexes(trace.items) == list(range(EVENTS)), at


def test_the_position_is_exact_after_a_cut_and_the_checkpoint_stays_per_batch() -> None:
    body, _, _ = page(0)
    cut_at = body.index(b"}, {", body.index(b"}, {") + 1) + 2  # after two whole items
    seen: list[tuple[list[int], str, str]] = []
    r = reader()
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        return answer(req, cut_at if calls == 1 else None)

    real_delivered = r.batch_delivered

    def delivered() -> None:
        batch = r._delivery.delivering
        assert batch is not None
        real_delivered()
        seen.append((indexes(batch.items), r.offset, r.position()))

    r.batch_delivered = delivered  # type: ignore[method-assign]
    drive(r, respond)
    assert seen[0] == ([0, 1], "-1", "-1+2")  # handed out; the checkpoint did not move
    assert seen[1] == ([2, 3, 4], offset_of(5), f"{offset_of(5)}+0")  # the re-read skipped 2


def test_the_position_inside_a_partial_batch_counts_from_the_checkpoint() -> None:
    body, _, _ = page(PAGE)
    cut_at = body.index(b"}, {", body.index(b"}, {") + 1) + 2
    r = reader(offset=offset_of(PAGE))
    r.resume_after(1)
    assert isinstance(r.next_action(), SendRequest)
    r.receive_response(200, {"stream-next-offset": offset_of(2 * PAGE)})
    r.receive_data(body[:cut_at])
    r.receive_transport_error(ConnectionLostError("cut"))
    assert r.next_action().seconds == 0.0  # type: ignore[union-attr]  # the Sleep first
    action = r.next_action()
    assert isinstance(action, Deliver)
    assert indexes(action.batch.items) == [PAGE + 1]  # item PAGE was handed out before
    assert action.batch.partial and action.batch.skipped == 1
    assert r.position(0) == f"{offset_of(PAGE)}+1"
    assert r.position(1) == f"{offset_of(PAGE)}+2"
    r.batch_delivered()
    assert (r.offset, r.position()) == (offset_of(PAGE), f"{offset_of(PAGE)}+2")


def test_the_same_cut_at_the_same_place_ends_the_read_naming_it() -> None:
    body, _, _ = page(0)
    cut_at = body.index(b"}") - 3  # inside item 1: no item ever completes

    with pytest.raises(ConnectionLostError) as caught:
        drive(reader(retry=RetryPolicy(jitter=False, max_attempts=10)), lambda r: answer(r, cut_at))
    message = str(caught.value)
    assert f"cut 3 times in a row after the same {cut_at} bytes" in message
    assert "'-1+0'" in message and "retrying cannot help" in message


def test_cuts_at_new_places_without_a_whole_item_retry_at_once_and_never_give_up() -> None:
    # bytes keep arriving, at a new place each time, but no item completes: not counted
    # towards max_attempts=3 (the server keeps sending), and retried at once
    body, _, _ = page(0)
    places = list(range(3, body.index(b"}"), 3))[:8]
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        return answer(req, places[calls - 1] if calls <= len(places) else None)

    trace = drive(reader(), respond)
    assert indexes(trace.items) == list(range(EVENTS))
    assert trace.sleeps == [0.0] * 8


def test_the_users_deadline_still_ends_cuts_that_bring_no_item() -> None:
    body, _, _ = page(0)
    places = iter(range(3, body.index(b"}")))
    clock = iter(range(0, 10_000, 10))
    policy = RetryPolicy(jitter=False, max_attempts=3, max_elapsed=60.0)

    # max_attempts=3 would have ended it after 3: here only the 60 s deadline does
    with pytest.raises(TransportError, match=r"scripted cut \(gave up after 5 attempts\)"):
        drive(reader(retry=policy, clock=lambda: next(clock)), lambda r: answer(r, next(places)))


def test_a_server_that_changes_the_items_on_the_re_read_is_a_protocol_error() -> None:
    body, _, _ = page(0)
    cut_at = body.index(b"}, {") + 2
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        if calls == 1:
            return answer(req, cut_at)
        items = json.loads(page(0)[0])
        items[0]["pad"] = "changed"
        headers = {"Stream-Next-Offset": offset_of(PAGE), "Content-Type": "application/json"}
        return Scripted(headers=headers, chunks=[json.dumps(items).encode()])

    with pytest.raises(ProtocolError, match=r"different data at offset '-1'.*item 1"):
        drive(reader(), respond)


def test_a_re_read_cut_again_is_checked_too() -> None:
    body, _, _ = page(0)
    first = body.index(b"}, {") + 2
    second = body.index(b"}, {", first) + 2
    changed = json.loads(body)
    changed[0]["eventIndex"] = 99
    other = json.dumps(changed).encode()
    answers = [body[:first], other[:second]]

    def respond(req: HttpRequest) -> Scripted:
        headers = {"Stream-Next-Offset": offset_of(PAGE), "Content-Type": "application/json"}
        return Scripted(headers=headers, chunks=[answers.pop(0)], error_at=1)

    with pytest.raises(ProtocolError, match="different data"):
        drive(reader(), respond)


def sse_frames(start: int) -> bytes:
    body, next_offset, last = page(start)
    control = {"streamNextOffset": next_offset, "streamCursor": "1"}
    if last:
        control["streamClosed"] = True
    return (
        b"event: data\ndata:"
        + body
        + b"\n\nevent: control\ndata:"
        + json.dumps(control).encode()
        + b"\n\n"
    )


@pytest.mark.parametrize("seed", range(4))
def test_sse_data_frames_cut_inside_lose_nothing_and_never_give_up(seed: int) -> None:
    rng = random.Random(seed)

    def respond(req: HttpRequest) -> Scripted:
        frames = sse_frames(start_of(req))
        data = frames[: frames.index(b"\n\nevent: control")]
        first_item = data.index(b"}") + 2
        if rng.random() < 0.8:
            return Scripted(
                headers=SSE, chunks=[frames[: rng.randrange(first_item, len(data))]], error_at=1
            )
        return Scripted(headers=SSE, chunks=[frames])

    trace = drive(reader(live=LiveMode.SSE), respond)
    assert indexes(trace.items) == list(range(EVENTS))
    assert trace.done is not None and trace.done.closed


def test_no_per_item_resume_where_items_have_no_fixed_start() -> None:
    # from "now" the items of the next answer are not known in advance: the cut page is read
    # again whole (its items are handed out once, from the re-read)
    body, _, _ = page(0)
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        headers = {"Stream-Next-Offset": offset_of(PAGE), "Stream-Up-To-Date": "true"}
        if calls == 1:
            return Scripted(headers=headers, chunks=[body[: body.index(b"}, {") + 2]], error_at=1)
        if calls == 2:
            return Scripted(headers=headers, chunks=[body])
        return Scripted(status=204, headers={**headers, "Stream-Closed": "true"})

    trace = drive(reader(offset="now", live=LiveMode.LONG_POLL), respond)
    assert indexes(trace.items) == list(range(PAGE))
    assert trace.sleeps == [0.5]  # nothing was handed out: an ordinary failed attempt
