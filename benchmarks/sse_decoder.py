"""Measure `flue._protocol.sse.SSEDecoder` throughput in MB/s against a naive baseline.

Cases: (a) Flue-shaped frames (``event: data`` with 100 events of ~200 bytes on one ``data:``
line, then ``event: control``, with heartbeats) fed in 64 KB chunks; (b) the same in 1 KB
chunks; (c) many tiny events (``data: x``). The baseline is the obvious non-incremental parser:
decode the whole body, ``split("\\n\\n")``, ``splitlines()`` each block. It needs the whole body
at once and is wrong in corner cases; it is only a speed reference. Usage::

    python -m benchmarks.sse_decoder [--mb 16] [--tiny-mb 2] [--repeat 5]

(`nox -s bench` runs it through `run()`; it used to be scripts/bench_sse.py.)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from flue._protocol.sse import SSEDecoder, SSEEvent

if TYPE_CHECKING:
    from benchmarks.common import Log


def flue_body(size: int) -> bytes:
    """About ``size`` bytes of what Flue sends over ``live=sse``."""
    frames: list[bytes] = []
    total, index, offset = 0, 0, 0
    while total < size:
        events = []
        for _ in range(100):
            events.append(
                {
                    "type": "log",
                    "v": 3,
                    "eventIndex": index,
                    "timestamp": "2026-01-15T10:20:30.123Z",
                    "runId": "run_01JH3ZK8Q4W6N2V7X9YB5C0D1E",
                    "level": "info",
                    "message": "emit",
                    "attributes": {"i": index, "text": "x" * 40},
                }
            )
            index += 1
        offset += 1
        control = {
            "streamNextOffset": f"{offset:016d}_{index:016d}",
            "streamCursor": str(1000 + offset),
            "upToDate": True,
        }
        frame = (
            b"event: data\ndata:"
            + json.dumps(events, separators=(",", ":")).encode()
            + b"\n\nevent: control\ndata:"
            + json.dumps(control, separators=(",", ":")).encode()
            + b"\n\n"
        )
        if offset % 10 == 0:
            frame += b": heartbeat\n\n"
        frames.append(frame)
        total += len(frame)
    return b"".join(frames)


def tiny_body(size: int) -> bytes:
    return b"data: x\n\n" * (size // 9)


def chunks_of(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def decode_incremental(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.feed(b""))
    return events


def decode_naive(chunks: list[bytes]) -> list[SSEEvent]:
    text = b"".join(chunks).decode("utf-8")
    events: list[SSEEvent] = []
    last_id: str | None = None
    for block in text.split("\n\n"):
        etype, data, retry = "", [], None
        for line in block.splitlines():
            if not line or line[0] == ":":
                continue
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                etype = value
            elif name == "id":
                last_id = value
            elif name == "retry" and value.isdigit():
                retry = int(value)
        if data:
            events.append(
                SSEEvent(event=etype or "message", data="\n".join(data), id=last_id, retry=retry)
            )
    return events


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        del result
    return best


def run(mb: float, tiny_mb: float, repeat: int) -> list[dict[str, object]]:
    """The three cases; MB/s from the best of `repeat` runs, decoder vs naive baseline."""
    flue, tiny = flue_body(int(mb * 1e6)), tiny_body(int(tiny_mb * 1e6))
    cases = [
        ("Flue frames, 64 KB chunks", chunks_of(flue, 64 * 1024)),
        ("Flue frames, 1 KB chunks", chunks_of(flue, 1024)),
        ("many small lines (data: x), 64 KB chunks", chunks_of(tiny, 64 * 1024)),
    ]
    results: list[dict[str, object]] = []
    for name, chunks in cases:
        assert decode_incremental(chunks) == decode_naive(chunks), name
        size = sum(map(len, chunks)) / 1e6
        ours = size / best_of(partial(decode_incremental, chunks), repeat)
        naive = size / best_of(partial(decode_naive, chunks), repeat)
        results.append({"case": name, "decoder_mb_s": ours, "naive_mb_s": naive})
    return results


def bench(quick: bool, log: Log) -> list[dict[str, object]]:
    """Section 3: :func:`run` with 4 MB (``quick``) or 16 MB bodies."""
    return run(4 if quick else 16, 1 if quick else 2, 3 if quick else 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=16, help="body size per case, in MB")
    parser.add_argument("--tiny-mb", type=float, default=2, help="body size of case (c), in MB")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'case':42} {'decoder MB/s':>13} {'naive MB/s':>11} {'ratio':>6}")
    for row in run(args.mb, args.tiny_mb, args.repeat):
        ours, naive = float(row["decoder_mb_s"]), float(row["naive_mb_s"])  # type: ignore[arg-type]
        print(f"{row['case']!s:42} {ours:13.0f} {naive:11.0f} {ours / naive:6.2f}")


if __name__ == "__main__":
    main()
