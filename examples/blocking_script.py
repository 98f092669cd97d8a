"""Start a run and print its events as they happen (blocking flavour).

FLUE_BASE_URL=http://127.0.0.1:8787 FLUE_TOKEN=... python examples/blocking_script.py
"""

from __future__ import annotations

from flue import FlueClient, FlueError


def main() -> int:
    with FlueClient() as client:  # base URL and token from FLUE_BASE_URL / FLUE_TOKEN
        started = client.workflows.invoke("emit", {"count": 5, "delayMs": 100})
        print(f"started {started.run_id}")
        try:
            with client.runs.stream(started.run_id, live="sse") as stream:
                for event in stream:
                    print(f"#{event.event_index:<3} {event.type}")
        except FlueError as exc:
            print(f"stream failed: {exc}")
            return 1
        record = client.runs.get(started.run_id)
        print(f"run {record.status}: {record.result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
