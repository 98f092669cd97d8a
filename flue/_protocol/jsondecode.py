"""The one JSON decoder: the standard library's, or msgspec's when it is installed.

How this works: `load_json` is every decode site's decoder. With ``msgspec`` installed (the
``flue-client[speed]`` extra) it tries ``msgspec.json.decode`` first, about twice as fast, and
hands every document that msgspec refuses to ``json.loads``, whose answer (the value, or the
error and its message) is then the answer. So the results and the errors are those of the
standard library in both cases, by construction:

- msgspec accepts only a subset of what ``json.loads`` accepts, and decodes that subset to the
  same values (arbitrary-size integers included: orjson, by contrast, silently turns an integer
  beyond 64 bits into a float, which no fallback can see, so it is not used). What msgspec
  refuses and the standard library accepts (``NaN``/``Infinity``, numbers beyond the float
  range, lone surrogates, a UTF-8 BOM in bytes, UTF-16/32 bytes) is decoded by the standard
  library; what both refuse (invalid UTF-8, control characters in strings, trailing commas...)
  raises the standard library's error. Duplicate keys keep the last value in both.
- Nesting: both decoders recurse and raise RecursionError at the interpreter's limit, which
  `load_json` reports as `JSONTooDeepError` (a ValueError, like any malformed JSON). msgspec is
  run so that near the limit it runs out first (see `_msgspec_decoder`) and the standard
  library decides (``tests/protocol/test_jsondecode.py`` checks every depth around the limit).

Documents under `FAST_MIN_SIZE` always go to the standard library. `use_decoder()` switches the
decoder (for tests and benchmarks).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["FAST_MIN_SIZE", "JSONTooDeepError", "decoder_name", "load_json", "use_decoder"]

DecoderName = Literal["stdlib", "msgspec"]


class JSONTooDeepError(ValueError):
    """A JSON document nested too deeply to decode (it would exhaust the interpreter's stack)."""


FAST_MIN_SIZE = 2048
"""Documents shorter than this go to ``json.loads`` directly: it is as fast on them, and a
program that reads only small ones (a run record, control frames) never imports msgspec."""

_fast: Callable[[Any], Any] | None = None
_resolved = False


def load_json(data: str | bytes) -> Any:
    """Decode one JSON document like `json.loads` (same values, same errors), with nesting too
    deep to decode reported as a `ValueError` like any other malformed JSON (every decode site
    turns that into a `ProtocolError`)."""
    if (type(data) is str or type(data) is bytes) and len(data) >= FAST_MIN_SIZE:
        if not _resolved:
            _resolve()
        if _fast is not None:
            try:
                return _fast(data)
            except Exception:  # refused: the standard library decides (frames: see below)
                pass
    try:
        return json.loads(data)
    except RecursionError:
        raise JSONTooDeepError("JSON nested too deeply to decode") from None


def decoder_name() -> DecoderName:
    """Which decoder `load_json` tries first."""
    if not _resolved:
        _resolve()
    return "stdlib" if _fast is None else "msgspec"


def use_decoder(name: DecoderName | None) -> None:
    """Decode with the standard library alone (``"stdlib"``), msgspec first (``"msgspec"``,
    ImportError when it is not installed), or the default (None: msgspec when installed)."""
    global _fast, _resolved
    if name is None:
        _resolved = False
        _fast = None
    elif name == "stdlib":
        _fast, _resolved = None, True
    elif name == "msgspec":
        _fast, _resolved = _msgspec_decoder(), True
    else:
        raise ValueError(f"unknown JSON decoder {name!r}")


def _resolve() -> None:
    global _fast, _resolved
    try:
        _fast = _msgspec_decoder()
    except ImportError:
        _fast = None
    _resolved = True


def _msgspec_decoder() -> Callable[[Any], Any]:
    decode = importlib.import_module("msgspec.json").decode  # ImportError: not installed

    # Near the recursion limit, msgspec must give up first so that the standard library
    # decides. msgspec decodes the document inside two more arrays, two more levels of nesting
    # (Python 3.12+: msgspec alone goes one level deeper than json.loads), and through four
    # Python frames, one more than json.loads calls its scanner through (3.10, 3.11: a frame
    # takes a unit of the same budget). "[[" + text + "]]" is an array holding one array
    # holding one value exactly when the text is one JSON value; anything else is refused.
    def _frame_4(data: Any) -> Any:
        if isinstance(data, str):
            outer = decode("[[" + data + "]]")
        else:
            outer = decode(b"[[" + bytes(data) + b"]]")
        if len(outer) != 1 or len(outer[0]) != 1:  # e.g. "1],[2": not one JSON value
            raise ValueError("not one JSON document")
        return outer[0][0]

    def _frame_3(data: Any) -> Any:
        return _frame_4(data)

    def _frame_2(data: Any) -> Any:
        return _frame_3(data)

    def fast(data: Any) -> Any:
        return _frame_2(data)

    return fast
