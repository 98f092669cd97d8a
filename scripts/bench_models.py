"""Time `flue.models.events_from_dicts` on 20,000 realistic v3 ``log`` events.

Prints microseconds per event for the conversion, with ``json.loads`` of the same events as a
reference (the conversion runs on already-decoded dicts, so a read pays both), and, measured in
the same run, the two obvious ways of building the same attrs models: their ``__init__`` fed
field by field, and a cattrs converter's generated hook (``cattrs.gen.make_dict_structure_fn``
with the camelCase renames; it checks no JSON type, so it does less than flue's functions).
With msgspec installed (``flue-client[speed]``), its decoder too. Usage::

    python scripts/bench_models.py [--events N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from flue.models import event_from_dict, events_from_dicts


def make_events(n: int) -> list[dict[str, Any]]:
    """``n`` log events in the shape a Flue 1.0.0-beta.5 server sends (event format v3)."""
    return [
        {
            "type": "log",
            "v": 3,
            "eventIndex": i,
            "timestamp": "2026-01-15T10:20:30.123Z",
            "runId": "run_01JH3ZK8Q4W6N2V7X9YB5C0D1E",
            "level": "info",
            "message": "emit",
            "attributes": {"i": i, "data": "x" * 100},
        }
        for i in range(n)
    ]


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` runs of ``fn``, in seconds.

    The result is freed after the clock stops: freeing 20,000 objects is a cost of their owner,
    not of building them (it is roughly a third of the build time here).
    """
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        del result
    return best


def _init_builder() -> Callable[[dict[str, Any]], object]:
    """The obvious way: rename the known keys and call the attrs ``__init__``."""
    import attrs

    from flue._models.base import to_camel
    from flue.models import LogEvent

    names = {
        to_camel(a.name): a.name for a in attrs.fields(LogEvent) if a.name not in ("type", "raw")
    }

    def build(d: dict[str, Any]) -> object:
        return LogEvent(**{names[k]: v for k, v in d.items() if k in names}, raw=d)

    return build


def _cattrs_builder() -> Callable[[dict[str, Any]], object]:
    """cattrs' own generated hook for LogEvent (renames only; no JSON type checks)."""
    import attrs
    from cattrs import Converter
    from cattrs.gen import make_dict_structure_fn, override

    from flue._models.base import to_camel
    from flue.models import LogEvent

    conv = Converter()
    for t in (str | None, int | None, dict[str, Any] | None):
        conv.register_structure_hook(t, lambda v, _: v)
    renames = {
        a.name: override(rename=to_camel(a.name))
        for a in attrs.fields(LogEvent)
        if a.name not in ("type", "raw")
    }
    hook = make_dict_structure_fn(
        LogEvent, conv, raw=override(omit=True), type=override(omit=True), **renames
    )  # type: ignore[arg-type]
    return lambda d: hook(d, LogEvent)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    n: int = args.events

    dicts = make_events(n)
    one_by_one = [json.dumps(d) for d in dicts]
    as_array = json.dumps(dicts)
    avg = len(as_array) / n

    def per_event_loop() -> list[object]:
        return [event_from_dict(d) for d in dicts]

    init_kwargs = _init_builder()
    cattrs_hook = _cattrs_builder()
    figures = [
        ("json.loads (one array)", best_of(lambda: json.loads(as_array), args.repeat)),
        (
            "json.loads (each event)",
            best_of(lambda: [json.loads(s) for s in one_by_one], args.repeat),
        ),
        ("events_from_dicts", best_of(lambda: events_from_dicts(dicts), args.repeat)),
        ("event_from_dict loop", best_of(per_event_loop, args.repeat)),
        (
            "json.loads + events_from_dicts",
            best_of(lambda: events_from_dicts(json.loads(as_array)), args.repeat),
        ),
        (
            "baseline: LogEvent(**fields) (attrs)",
            best_of(lambda: [init_kwargs(d) for d in dicts], args.repeat),
        ),
        (
            "baseline: cattrs generated hook",
            best_of(lambda: [cattrs_hook(d) for d in dicts], args.repeat),
        ),
    ]
    try:
        from msgspec.json import decode
    except ImportError:
        pass
    else:
        figures.insert(
            1, ("msgspec.json.decode (one array)", best_of(lambda: decode(as_array), args.repeat))
        )
    print(f"{n} log events, ~{avg:.0f} bytes each of JSON, best of {args.repeat} runs")
    ref = figures[0][1]
    for label, seconds in figures:
        print(
            f"  {label:32s} {seconds * 1e6 / n:6.2f} µs/event  ({seconds / ref:4.2f}x json.loads)"
        )


if __name__ == "__main__":
    main()
