from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from flue._protocol.http import (
    RequestKind,
    build_invoke_request,
    build_read_request,
    build_run_record_request,
    join_url,
    normalize_base_url,
    run_url,
)
from flue._protocol.params import (
    OFFSET_NOW,
    OFFSET_START,
    LiveMode,
    check_offset,
    check_run_id,
    check_tail,
    normalize_live,
)
from flue.errors import InvalidArgumentError


def test_offset_constants() -> None:
    assert OFFSET_START == "-1"
    assert OFFSET_NOW == "now"


@pytest.mark.parametrize("bad", ["", None, 5, b"-1", "a\nb", "a\x7f"])
def test_bad_offsets_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        check_offset(bad)


def test_empty_offset_message_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match="'-1'"):
        check_offset("")


@pytest.mark.parametrize("good", ["-1", "now", "0000000000000001_0000000000000042", "a/b?c#d"])
def test_good_offsets_pass_unchanged(good: str) -> None:
    assert check_offset(good) == good


@pytest.mark.parametrize("bad", [0, -3, True, False, 1.0, "5", [1]])
def test_bad_tail(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="tail"):
        check_tail(bad)


def test_good_tail() -> None:
    assert check_tail(None) is None
    assert check_tail(1) == 1
    assert check_tail(250) == 250


def test_live_normalisation() -> None:
    assert normalize_live(True) is LiveMode.LONG_POLL
    assert normalize_live("long-poll") is LiveMode.LONG_POLL
    assert normalize_live("sse") is LiveMode.SSE
    assert normalize_live(LiveMode.SSE) is LiveMode.SSE
    assert normalize_live(False) is None
    for bad in ("SSE", "longpoll", 1, "off", "websocket"):
        with pytest.raises(InvalidArgumentError, match="live"):
            normalize_live(bad)


def test_run_id_validation() -> None:
    assert check_run_id("run_1") == "run_1"
    for bad in ("", None, 3):
        with pytest.raises(InvalidArgumentError):
            check_run_id(bad)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://h.example", "https://h.example"),
        ("https://h.example/", "https://h.example"),
        ("https://h.example/api", "https://h.example/api"),
        ("https://h.example/api/", "https://h.example/api"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_base_url_with_and_without_path(base: str, expected: str) -> None:
    normalized = normalize_base_url(base)
    assert normalized == expected
    assert run_url(normalized, "r1") == f"{expected}/runs/r1"


@pytest.mark.parametrize("bad", [None, "", "h.example", "ftp://h", "https://h/x?y=1", "/runs"])
def test_bad_base_urls(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="base_url"):
        normalize_base_url(bad)


@pytest.mark.parametrize(
    ("run_id", "segment"),
    [
        ("../workflows/x", "..%2Fworkflows%2Fx"),
        ("a?b#c/d", "a%3Fb%23c%2Fd"),
        ("ü space", "%C3%BC%20space"),
        ("..", ".."),
    ],
)
def test_run_id_is_one_encoded_segment(run_id: str, segment: str) -> None:
    url = run_url("https://h/api", run_id)
    assert url == f"https://h/api/runs/{segment}"
    parts = urlsplit(url)
    assert parts.query == "" and parts.fragment == ""
    assert parts.path.count("/") == 3


def test_run_record_request() -> None:
    req = build_run_record_request("https://h/api", "r/1")
    assert req.method == "GET"
    assert req.url == "https://h/api/runs/r%2F1?meta"
    assert req.kind is RequestKind.META


def _q(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_catch_up_request_sends_tail_only_with_start() -> None:
    req = build_read_request("https://h/runs/r", offset="-1", tail=5)
    assert _q(req.url) == {"offset": ["-1"], "tail": ["5"]}
    assert req.kind is RequestKind.CATCH_UP
    for offset in ("now", "abc_12"):
        assert "tail" not in _q(build_read_request("https://h/runs/r", offset=offset, tail=5).url)


def test_offset_is_url_encoded_once() -> None:
    req = build_read_request("https://h/runs/r", offset="a&b=c/d+e%")
    assert urlsplit(req.url).query.count("offset=") == 1
    assert _q(req.url)["offset"] == ["a&b=c/d+e%"]


def test_long_poll_echoes_cursor() -> None:
    req = build_read_request("https://h/runs/r", offset="o1", live=LiveMode.LONG_POLL, cursor="77")
    assert _q(req.url) == {"offset": ["o1"], "live": ["long-poll"], "cursor": ["77"]}
    assert req.kind is RequestKind.LONG_POLL
    assert req.headers["Accept"] == "application/json"


def test_catch_up_does_not_send_cursor() -> None:
    req = build_read_request("https://h/runs/r", offset="o1", cursor="77")
    assert "cursor" not in _q(req.url) and "live" not in _q(req.url)


def test_sse_request() -> None:
    req = build_read_request("https://h/runs/r", offset="now", live=LiveMode.SSE)
    assert _q(req.url) == {"offset": ["now"], "live": ["sse"]}
    assert req.kind is RequestKind.SSE
    assert req.headers["Accept"] == "text/event-stream"


def test_read_request_on_url_with_query() -> None:
    req = build_read_request("https://h/s?x=1", offset="-1")
    assert _q(req.url) == {"x": ["1"], "offset": ["-1"]}


def test_invoke_request() -> None:
    req = build_invoke_request("https://h/api", "emit", {"count": 3}, wait=False)
    assert req.method == "POST"
    assert req.url == "https://h/api/workflows/emit"
    assert json.loads(req.body or b"") == {"count": 3}
    assert req.headers["Content-Type"] == "application/json"
    waited = build_invoke_request("https://h/api", "a/b", None, wait=True)
    assert waited.url == "https://h/api/workflows/a%2Fb?wait=result"
    assert waited.body is None and "Content-Type" not in waited.headers


def test_invoke_request_rejects_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match="JSON"):
        build_invoke_request("https://h", "emit", {"x": object()}, wait=False)
    with pytest.raises(InvalidArgumentError, match="workflow name"):
        build_invoke_request("https://h", "", None, wait=False)


def test_join_url() -> None:
    assert join_url("https://h/api", "/streams/x") == "https://h/api/streams/x"
    assert join_url("https://h/api", "streams/x") == "https://h/api/streams/x"
    assert join_url("https://h/api", "http://other/s") == "http://other/s"
