"""Tail a run and survive restarts: the checkpoint file says where to continue.

    python examples/resumable_tail.py RUN_ID checkpoint.txt [--stop-after N]

Kill it at any point and start it again: it resumes right after the last event it handled
(the stream's `position`, saved after each event), so no event is skipped and none is printed
twice. (A crash between handling an event and saving the position prints that one event
again: save the position in the same transaction as the event's effect to close that gap.)
See docs/resume.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from flue import FlueClient


def save(path: Path, position: str) -> None:
    # write-then-rename, so a crash never leaves a half-written checkpoint
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ckpt-")
    with os.fdopen(fd, "w") as fh:
        fh.write(position)
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--stop-after", type=int, default=None, help="simulate a crash")
    args = parser.parse_args()

    position = args.checkpoint.read_text() if args.checkpoint.exists() else None
    seen = 0
    with FlueClient() as client, client.runs.stream(args.run_id, position=position) as stream:
        for event in stream:
            print(event.event_index, event.type, flush=True)
            save(args.checkpoint, stream.position)  # after the event is handled
            seen += 1
            if args.stop_after is not None and seen >= args.stop_after:
                return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
