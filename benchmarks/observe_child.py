"""One observer of a conversation in its own process, for ``benchmarks/observe.py``.

``python -m benchmarks.observe_child KIND BASE_URL CONVERSATION_URL TOKEN LAST_TEXT``, KIND one of:

* ``sync`` / ``async``: ``conversation.observe(live="sse")`` of `FlueClient` /
  `AsyncFlueClient`. Prints ``ready`` once the observer is live (history read, updates stream
  answering), then, when a state holds a new settlement, one JSON line: ``chunks`` (states
  handed out after ``ready``: one per chunk for the TS SDK, one per arrival for flue, whose
  observer applies the deltas read together as one), ``cpu_s`` (``time.process_time()``, every
  thread, over the same span), ``t_last_ns`` (``time.monotonic_ns()`` when a state first showed
  a last text part ending with LAST_TEXT). Each state is looked at as a UI would: its last
  message's last part (``state.messages[-1]``).
* ``raw``: the floor: the history's offset (one GET), then the ``view=updates`` SSE stream
  read with ``requests``, no parsing; ``t_last_ns`` when the ``data:`` line holding LAST_TEXT
  has been received whole. Prints ``ready`` once the stream answered.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any


class Watch:
    """What the consumer does with each state, and the figures."""

    def __init__(self, last_text: str) -> None:
        self.last_text = last_text
        self.cpu_start = 0.0
        self.settled_before: int | None = None
        self.chunks = 0
        self.t_last = 0

    def ready(self, settled: int) -> None:
        self.settled_before = settled
        self.cpu_start = time.process_time()
        print("ready", flush=True)

    def see(self, state: Any) -> bool:
        """True when the state holds a new settlement (the reply is over)."""
        if self.settled_before is None:
            return False
        self.chunks += 1
        if not self.t_last:
            parts = state.messages[-1].parts if state.messages else ()
            part = parts[-1] if parts else None
            if part is not None and part.type == "text" and part.text.endswith(self.last_text):
                self.t_last = time.monotonic_ns()
        return len(state.settlements) > self.settled_before

    def result(self) -> dict[str, Any]:
        cpu = time.process_time() - self.cpu_start
        return {
            "chunks": self.chunks,
            "cpu_s": cpu,
            "t_last_ns": self.t_last,
            "ok": bool(self.t_last),
        }


def _watch_phase(observer: Any, watch: Watch) -> None:
    """Say ``ready`` when the observer is live (a thread: the iteration is blocked then)."""

    def run() -> None:
        while observer.phase != "live":
            time.sleep(0.002)
        state = observer.state
        watch.ready(len(state.settlements))

    threading.Thread(target=run, daemon=True).start()


def observe_sync(base: str, url: str, token: str, last_text: str) -> dict[str, Any]:
    from flue import FlueClient

    watch = Watch(last_text)
    with (
        FlueClient(base, token=token) as client,
        client.conversation(url).observe(live="sse") as observer,
    ):
        _watch_phase(observer, watch)
        for state in observer:
            if watch.see(state):
                break
    return watch.result()


async def _observe_async(base: str, url: str, token: str, last_text: str) -> dict[str, Any]:
    from flue import AsyncFlueClient

    watch = Watch(last_text)
    async with (
        AsyncFlueClient(base, token=token) as client,
        client.conversation(url).observe(live="sse") as observer,
    ):
        _watch_phase(observer, watch)
        async for state in observer:
            if watch.see(state):
                break
    return watch.result()


def observe_raw(url: str, token: str, last_text: str) -> dict[str, Any]:
    import requests

    headers = {"Authorization": f"Bearer {token}"}
    marker = json.dumps(last_text).encode()[1:-1]
    with requests.Session() as session:
        offset = session.get(url, headers=headers, timeout=30).json()["offset"]
        params = {"view": "updates", "offset": offset, "live": "sse"}
        with session.get(url, params=params, headers=headers, stream=True, timeout=300) as r:
            r.raise_for_status()
            print("ready", flush=True)
            t_last = 0
            for line in r.iter_lines(chunk_size=65536):
                if not t_last and line.startswith(b"data:") and marker in line:
                    t_last = time.monotonic_ns()
                if line.startswith(b"data:") and b'"submission-settled"' in line and t_last:
                    break
    return {"t_last_ns": t_last, "ok": bool(t_last)}


def main(argv: list[str]) -> int:
    kind, base, url, token, last_text = argv
    if kind == "sync":
        result = observe_sync(base, url, token, last_text)
    elif kind == "async":
        result = asyncio.run(_observe_async(base, url, token, last_text))
    elif kind == "raw":
        result = observe_raw(url, token, last_text)
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
