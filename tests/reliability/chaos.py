"""The chaos harness shared by the reliability tests and `scripts/reliability_report.py`.

A chaos scenario: one run of `n` events appended by a writer thread while a client reads it,
through a fake Flue server (`flue.testing`) that misbehaves at random (seeded) in the ways a
network and a struggling server do: dropped connections (mid-frame, and for SSE exactly between
a data frame and its control frame), 5xx bursts, 429 with ``Retry-After``, stalls longer than the
client's stall/read timeout, cut and truncated bodies, refused answers. This module is flavour
neutral: the consumers that drive a client live in ``_async/harness.py`` (and its generated
sync twin).

A cut scenario (`CUT_MIN`..`CUT_MAX`): the same growing run, no server faults, read through
``tests/reliability/cutproxy.py``'s proxy ending every connection after a seeded 1.5-40 KB,
while the fake server pages 100 events (Flue's page and SSE batch): events padded to ~200
bytes make a page ~20 KB, so many cuts fall inside one. Each read must get every event once
and never give up (`Tally.give_ups`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import attrs

from flue import RetryPolicy, Timeout
from flue.testing import Fault, FaultRule, FlueTestServer, RecordedRequest
from flue.testing._send import Frame, encode_frame
from flue.testing._store import parse_offset
from flue.testing._wire import dumps

Mode = Literal["long-poll", "sse", "events"]
MODES: tuple[Mode, ...] = ("long-poll", "sse", "events")

TOKEN = "chaos-Tok3n-must-never-leak"
#: seeds run by CI (`nox -s tests`); the soak session draws more
CI_SEEDS = (1, 2)
EVENTS = 5000

#: server timers far shorter than Flue's, so that idle waits, keep-alives and stalls are quick
SERVER_OPTIONS: dict[str, Any] = {
    "token": TOKEN,
    "long_poll_timeout": 0.4,
    "sse_keepalive": 0.4,
    "sse_heartbeat": 0.1,
}
#: the client gives up on a silent connection after these (a stall fault lasts until it does)
TIMEOUT = Timeout(connect=2.0, read=0.6, long_poll=1.2, stall=0.5)
#: fast retries; with most SSE connections cut, long runs of failures happen: ride out 40
RETRY = RetryPolicy(initial_delay=0.005, max_delay=0.08, max_attempts=40, max_elapsed=60.0)
RETRY_AFTER = 0.05

#: the cut scenario: each proxied connection ends after a seeded CUT_MIN..CUT_MAX bytes
CUT_MIN, CUT_MAX = 1536, 40 * 1024
#: characters of padding per event (``attributes.data``): ~200 bytes on the wire, so a page
#: or SSE data frame of 100 events is ~20 KB, as on a real Flue server (emit size=150)
CUT_PADDING = 100
#: the default limits (a cut that brings new bytes is retried at once, uncounted; the same
#: cut 3 times ends the read), shorter delays
CUT_RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.5)
#: a read that gives up is counted and started again from its offset, at most this often
MAX_GIVE_UPS = 5


@contextmanager
def chaos_server(seed: int) -> Iterator[FlueTestServer]:
    """A fake Flue server in a thread, with short timers and a seeded fault source."""
    with FlueTestServer.running_in_thread(seed=seed, **SERVER_OPTIONS) as server:
        yield server


def log_event(i: int, padding: int = 0) -> dict[str, Any]:
    attributes: dict[str, Any] = {"i": i}
    if padding:
        attributes["data"] = "x" * padding
    return {"type": "log", "level": "info", "message": "chaos", "attributes": attributes}


class Writer:
    """Appends `n` log events in random chunks at a random pace, then ends the run.

    Runs in its own thread so that it works the same under both client flavours; `stop()`
    ends it early and joins it (always called, from a ``finally``).

    A ``paced`` writer appends a chunk only when the reader gives it a `turn()` (the
    ``events`` scenario gives one as each ``runs.events()`` call starts). The seeded faults
    are drawn per request, so the faults a scenario meets depend on how many requests it
    makes; the ``events`` reader stops once an answer holds the run's end, so unpaced, the
    number of its calls would depend on how fast it reads compared with the writer (on a
    loaded machine, too few calls for the faults to happen). Paced, it makes at least one call
    per chunk, whatever the timing; the chunks are still appended while calls are in flight.
    """

    def __init__(
        self,
        server: FlueTestServer,
        run_id: str,
        n: int,
        seed: int,
        *,
        paced: bool = False,
        padding: int = 0,
    ) -> None:
        self.server = server
        self.run_id = run_id
        self.n = n
        self.padding = padding
        self.rng = random.Random(seed * 7919 + 1)
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._turns = threading.Semaphore(0) if paced else None
        self._thread = threading.Thread(target=self._main, name="chaos-writer", daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def turn(self) -> None:
        """Let a paced writer append its next chunk (no effect on an unpaced one)."""
        if self._turns is not None:
            self._turns.release()

    def _main(self) -> None:
        try:
            i = 0
            while i < self.n and not self._stop.is_set():
                if self._turns is not None:
                    self._turns.acquire()  # stop() gives a turn too, so this always returns
                    if self._stop.is_set():
                        break
                size = min(self.n - i, self.rng.choice((1, 3, 20, 60, 150, 250)))
                self.server.append(
                    self.run_id, [log_event(j, self.padding) for j in range(i, i + size)]
                )
                i += size
                self._stop.wait(self.rng.uniform(0.0, 0.03))
            if not self._stop.is_set():
                self.server.end_run(self.run_id, result={"emitted": self.n})
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            self.finished.set()

    def stop(self) -> None:
        self._stop.set()
        self.turn()  # wakes a paced writer waiting for its turn
        self._thread.join(30)
        if self.error is not None:
            raise AssertionError(f"the writer failed: {self.error!r}") from self.error


class _Burst:
    """A `when` predicate failing runs of 2-5 consecutive matching requests."""

    def __init__(self, rng: random.Random, probability: float) -> None:
        self.rng = rng
        self.probability = probability
        self.left = 0

    def __call__(self, req: RecordedRequest) -> bool:
        if self.left:
            self.left -= 1
            return True
        if self.rng.random() < self.probability:
            self.left = self.rng.randint(1, 4)
            return True
        return False


class _SSEChaos:
    """Picks a fresh fault for (almost) every SSE request: one connection can carry a whole
    run, so most connections must be cut for the run to see many faults.

    The server calls this predicate on its loop while it picks a fault for a request; it
    points the rule at the chosen fault (with a byte count drawn for this request) and counts
    the kind. "Between frames" computes the first data frame the request will get and drops
    the connection right after it, before its control frame; only a full page is targeted,
    as its bytes cannot change before the server writes it.
    """

    KINDS = (
        ("drop mid-frame", 30),
        ("drop between data and control frame", 15),
        ("truncated body (ends without streamClosed)", 12),
        ("stall > stall timeout", 4),
        ("5xx burst", 4),
        ("5xx", 6),
        ("429 + Retry-After", 6),
        ("connection closed, no answer", 6),
    )

    def __init__(self, server: FlueTestServer, rng: random.Random, probability: float) -> None:
        self.server = server
        self.rng = rng
        self.probability = probability
        self.rule: FaultRule | None = None
        self.counts: Counter[str] = Counter()
        self.burst = 0

    def _data_frame_size(self, req: RecordedRequest) -> int | None:
        run = self.server._app.runs.get(req.run_id or "")
        offsets = req.query_values("offset")
        start = parse_offset(offsets[0]) if offsets else None
        if run is None or start is None:
            return None
        batch = self.server._app.config.sse_batch
        page = run.read(start, batch).events
        if len(page) < batch:
            return None
        return len(encode_frame(Frame("data", dumps(page).decode())))

    def __call__(self, req: RecordedRequest) -> bool:
        if req.mode != "sse" or self.rule is None:
            return False
        rng = self.rng
        if self.burst:
            self.burst -= 1
            kind, fault = "5xx burst", Fault.status(503)
        elif rng.random() >= self.probability:
            return False
        else:
            names = [name for name, _ in self.KINDS]
            kind = rng.choices(names, weights=[w for _, w in self.KINDS])[0]
            size = self._data_frame_size(req) if kind.startswith("drop between") else None
            if kind.startswith("drop between") and size is None:
                kind = "drop mid-frame"
            if kind == "drop mid-frame":
                fault = Fault.drop_after(bytes=rng.randint(1, 50_000))
            elif size is not None:
                fault = Fault.drop_after(bytes=size)
            elif kind.startswith("truncated"):
                fault = Fault.truncate(bytes=rng.randint(1, 50_000))
            elif kind.startswith("stall"):
                fault = Fault.stall(after_bytes=rng.randint(0, 30_000))
            elif kind == "5xx burst":
                self.burst = rng.randint(1, 4)
                fault = Fault.status(503)
            elif kind == "5xx":
                fault = Fault.status(rng.choice((500, 502, 504)))
            elif kind.startswith("429"):
                fault = Fault.status(429, retry_after=RETRY_AFTER)
            else:
                fault = Fault.disconnect()
        self.rule.fault = fault
        self.counts[kind] += 1
        return True


def install_faults(
    server: FlueTestServer, run_id: str, mode: Mode, seed: int, *, scale: float = 1.0
) -> Counter[str] | dict[str, list[FaultRule]]:
    """Add the random fault rules for one scenario; returns them by kind (for the figures).

    A long-poll or catch-up read is one short request per page, so a few percent per request
    adds up to dozens of faults per run. One SSE request can carry the whole run, so there
    most connections are cut, at a random byte (drop rules at many positions), between a data
    frame and its control frame, or end early (truncated); the rest is as for long-poll.
    """
    rng = random.Random(seed * 104729 + len(mode))
    faults = server.faults
    rules: dict[str, list[FaultRule]] = {}

    def add(kind: str, fault: Fault, probability: float | None, **kw: Any) -> FaultRule:
        if probability is not None:
            probability = min(probability * scale, 0.9)
        rule = faults.add(fault, probability=probability, run_id=run_id, **kw)
        rules.setdefault(kind, []).append(rule)
        return rule

    if mode == "sse":
        chooser = _SSEChaos(server, random.Random(rng.random()), min(0.95 * scale, 0.95))
        chooser.rule = faults.add(Fault.disconnect(), run_id=run_id, when=chooser)
        return chooser.counts
    burst_rng = random.Random(rng.random())
    add("5xx burst", Fault.status(503), None, when=_Burst(burst_rng, 0.02 * scale))
    add("5xx", Fault.status(rng.choice((500, 502, 504))), 0.02)
    add("429 + Retry-After", Fault.status(429, retry_after=RETRY_AFTER), 0.02)
    add("connection closed, no answer", Fault.disconnect(), 0.015)
    # A catch-up or long-poll body cut before its Content-Length: a truncated body.
    for _ in range(3):
        add("drop mid-body (truncated body)", Fault.drop_after(bytes=rng.randint(0, 12_000)), 0.02)
    add("stall > read timeout", Fault.stall(after_bytes=rng.randint(0, 8_000)), 0.01)
    return rules


def injected(rules: Counter[str] | dict[str, list[FaultRule]]) -> dict[str, int]:
    """How many requests each kind of fault was applied to."""
    if isinstance(rules, Counter):
        return dict(sorted(rules.items()))
    return {kind: sum(rule.hits for rule in group) for kind, group in rules.items()}


@attrs.define
class Tally:
    """The figures of one scenario."""

    expected: int
    delivered: int
    duplicates: int
    lost: int
    out_of_order: int
    faults: dict[str, int] = attrs.field(factory=dict)
    requests: int = 0
    seconds: float = 0.0
    redelivered_expected: int = 0  # crash/resume: the in-flight events a resume must repeat
    resumes: int = 0
    give_ups: int = 0  # reads that raised instead of delivering (cut scenario: started again)
    violations: list[str] = attrs.field(factory=list)

    @property
    def faults_total(self) -> int:
        return sum(self.faults.values())


def tally(expected: int, delivered: Sequence[int]) -> Tally:
    """Compare delivered event indexes with ``range(expected)``."""
    counts = Counter(delivered)
    duplicates = sum(c - 1 for c in counts.values())
    lost = sum(1 for i in range(expected) if i not in counts)
    out_of_order = 0
    high = -1
    for index in delivered:
        if index > high + 1:
            out_of_order += 1  # a gap: something was skipped (maybe delivered later)
        high = max(high, index)
    return Tally(
        expected=expected,
        delivered=len(delivered),
        duplicates=duplicates,
        lost=lost,
        out_of_order=out_of_order,
    )


@attrs.define
class Segment:
    """What one client read before it stopped (crashed) or the stream ended."""

    start_offset: str
    indexes: list[int] = attrs.field(factory=list)
    offsets: list[str] = attrs.field(factory=list)  # stream.offset after each event
    saved: str = ""
    closed: bool = False


def last_covered(saved: str) -> int:
    """The event index a checkpoint covers: a resume from it starts at the next one.

    Offsets are opaque to the client; the test knows the fake server's format (it ends in the
    sequence number of the last event read), which lets it check the checkpoint exactly.
    """
    seq = parse_offset(saved)
    assert seq is not None, f"not an offset of the fake server: {saved!r}"
    return seq


def now() -> float:
    return time.perf_counter()
