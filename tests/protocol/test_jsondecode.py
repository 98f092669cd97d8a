"""The two JSON decoders (the standard library's; msgspec's first, when installed) give identical
results and identical errors: values of the same types, or the same exception with the same
message, for valid, odd and broken documents, and at the nesting limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flue._protocol import jsondecode
from flue._protocol.batches import SSEBatcher
from flue._protocol.jsondecode import JSONTooDeepError, load_json
from flue._protocol.sse import SSEEvent
from flue.errors import ProtocolError

pytest.importorskip("msgspec")  # in the [test] extra: these tests always run in CI


@pytest.fixture(autouse=True)
def _restore_decoder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(jsondecode, "FAST_MIN_SIZE", 0)  # every document may go to msgspec
    yield
    jsondecode.use_decoder(None)


def canonical(value: Any) -> str:
    """Every node of a decoded value with its exact type, in order (1, 1.0 and True differ; key
    order counts), walked without recursion: values nested 10,000 deep are compared too."""
    out: list[str] = []
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        is_key, x = stack.pop()
        if is_key:
            out.append(f"key {x!r}")
        elif type(x) is list:
            out.append(f"list {len(x)}")
            stack.extend((False, item) for item in reversed(x))
        elif type(x) is dict:
            out.append(f"dict {len(x)}")
            for k, v in reversed(list(x.items())):
                stack += [(False, v), (True, k)]
        else:
            out.append(f"{type(x).__name__} {x!r}")
    return "\n".join(out)


def outcome(decoder: str, data: Any) -> tuple[str, ...]:
    """What decoding `data` gives: the value, or the exception's type and message."""
    jsondecode.use_decoder(decoder)  # type: ignore[arg-type]
    try:
        value = load_json(data)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("value", canonical(value))


def assert_same(data: Any) -> tuple[str, ...]:
    stdlib = outcome("stdlib", data)
    assert outcome("msgspec", data) == stdlib, data
    return stdlib


CASES: list[Any] = [
    # valid
    '{"type":"log","v":3,"attributes":{"i":1,"data":"xx"}}',
    "[1, 2.5, -0, -0.0, 1E5, 1e-400, 2.5e-324, 0.1, true, false, null]",
    '{"a":1,"b":2,"a":3}',  # duplicate keys: the last wins, in the first key's place
    '"\\u00e9\\ud83d\\ude00\\u0000\\/\\n"',
    '"\u2028\x7f"',
    " \t\r\n[1]\n",
    # integers: arbitrary size, and the interpreter's digit limit
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "9007199254740993",
    "1" * 4300,
    "1" * 4301,
    "[" + "9" * 400 + "]",
    # what msgspec refuses and the standard library reads
    "NaN",
    "[Infinity, -Infinity]",
    "1e400",
    "-1.7976931348623157e309",
    '"\\ud800"',  # lone surrogates
    '"\\udc00\\ud800"',
    '"\ud800"',
    b'"\xed\xa0\x80"',  # an encoded surrogate
    b"\xef\xbb\xbf[1]",  # UTF-8 BOM in bytes
    "[1]".encode("utf-16"),
    "[1]".encode("utf-32-le"),
    # broken
    "",
    " ",
    "\ufeff[1]",
    "[1,]",
    '{"a":1,}',
    "[1 2]",
    "01",
    "-01",
    "1.",
    ".5",
    "+1",
    "1.e5",
    "0.1e",
    "tru",
    '"\\x41"',
    '"a\tb"',
    '"\x00"',
    "[1]\x00",
    "[1] x",
    "\x0c[1]",
    "\xa0[1]",
    b'"\xff"',
    b'"\xc0\x80"',
    b'"\xf4\x90\x80\x80"',
    "1],[2",  # would be a valid array inside brackets
    "1,2",
    '"a"]["b"',
    # not text
    None,
    3,
]


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_fixed_cases_decode_alike(data: Any) -> None:
    assert_same(data)


def test_the_cases_cover_values_errors_and_fallbacks() -> None:
    results = [assert_same(d) for d in CASES]
    assert sum(r[0] == "value" for r in results) >= 20
    assert sum(r[0] == "error" for r in results) >= 20
    # the fast decoder really is used, and really refuses what it cannot decode alike
    jsondecode.use_decoder("msgspec")
    assert jsondecode.decoder_name() == "msgspec"
    fast = jsondecode._fast
    assert fast is not None
    assert fast('{"a":[1,2.5,"x"]}') == {"a": [1, 2.5, "x"]}
    for refused in ("NaN", '"\\ud800"', "1e400", "1],[2", "[1,]"):
        with pytest.raises(Exception):  # noqa: B017 (any exception: load_json falls back)
            fast(refused)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()  # NaN and the infinities included
    | st.text(),  # lone surrogates included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(JSON_VALUES, st.booleans(), st.sampled_from([None, 2]), st.booleans())
def test_any_encoded_value_decodes_alike(
    value: Any, ascii_only: bool, indent: int | None, as_bytes: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    data: str | bytes = text
    if as_bytes:
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate with ensure_ascii=False
            data = text.encode("utf-8", "surrogatepass")
    assert_same(data)


JSONISH = st.text(
    alphabet='[]{}",:0123456789.eE+-truefalsnNIity \t\n\\u\x00\x7f\ud800é', max_size=30
)


@settings(max_examples=500)
@given(JSONISH)
def test_any_text_decodes_alike(text: str) -> None:
    assert_same(text)


@settings(max_examples=200)
@given(st.binary(max_size=30))
def test_any_bytes_decode_alike(data: bytes) -> None:
    assert_same(data)


@settings(max_examples=200)
@given(JSON_VALUES, st.integers(min_value=0, max_value=40), st.text(max_size=3))
def test_a_cut_or_spliced_document_decodes_alike(value: Any, cut: int, splice: str) -> None:
    text = json.dumps(value)
    assert_same(text[:cut] + splice + text[cut:])
    assert_same(text[:cut])


def _first_failing_depth() -> int:
    jsondecode.use_decoder("stdlib")
    depth = 100
    while True:
        try:
            load_json("[" * depth + "]" * depth)
        except JSONTooDeepError:
            return depth
        depth += 1 if depth > 900 else 100


def test_the_nesting_limit_is_the_same() -> None:
    # the limit is the interpreter's (it moves with the caller's stack depth): at every depth
    # around it, from this same call site, both give the same value or the same error
    limit = _first_failing_depth()
    assert 100 < limit < 200_000
    for depth in range(limit - 8, limit + 8):
        for doc in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            result = assert_same(doc)
            if depth >= limit + 2:  # objects and arrays take the same budget per level
                assert result == ("error", "JSONTooDeepError", "JSON nested too deeply to decode")
    assert assert_same("[" * 100_000 + "]" * 100_000)[1] == "JSONTooDeepError"


def test_small_documents_never_load_msgspec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsondecode, "FAST_MIN_SIZE", 2048)
    jsondecode.use_decoder(None)
    assert load_json('{"runId":"r","status":"completed"}') == {"runId": "r", "status": "completed"}
    assert not jsondecode._resolved  # msgspec not even looked for
    assert load_json(json.dumps([{"data": "x" * 100}] * 30))[29] == {"data": "x" * 100}
    assert jsondecode._resolved and jsondecode.decoder_name() == "msgspec"


def test_use_decoder_refuses_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown JSON decoder"):
        jsondecode.use_decoder("orjson")  # type: ignore[arg-type]


def _batch_outcome(decoder: str, frame: str) -> tuple[str, ...]:
    jsondecode.use_decoder(decoder)  # type: ignore[arg-type]
    batcher = SSEBatcher()
    try:
        batcher.push(SSEEvent(event="data", data=frame, id=None, retry=None))
        batch = batcher.push(
            SSEEvent(event="control", data='{"streamNextOffset":"1"}', id=None, retry=None)
        )
    except ProtocolError as exc:
        return ("error", str(exc))
    assert batch is not None
    return ("items", canonical(batch.items))


@pytest.mark.parametrize(
    "frame",
    [
        json.dumps([{"type": "log", "v": 3, "eventIndex": i, "big": 10**30} for i in range(50)]),
        '[{"type":"log","n":NaN}]',
        '[{"type":"log"},]',
        "[" * 100_000,
        '{"type":"log"}',
        "[1]",
    ],
)
def test_sse_frames_read_alike(frame: str) -> None:
    # the decode site of the stream: the same items, or the same ProtocolError text
    assert _batch_outcome("msgspec", frame) == _batch_outcome("stdlib", frame)
