# The `flue` command: argument parsing, the commands, and clean exits. Errors print one line
# (exit code 1) unless --debug; Ctrl-C ends a stream cleanly and prints the last checkpoint.

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from flue._cli.render import Renderer
from flue.errors import FlueError, InvalidArgumentError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base-url", help="application URL (default: $FLUE_BASE_URL)")
    common.add_argument("--token", help="bearer token (default: $FLUE_TOKEN)")
    common.add_argument("--json", action="store_true", help="one JSON object per line")
    common.add_argument("--debug", action="store_true", help="tracebacks and debug logging")

    parser = argparse.ArgumentParser(
        prog="flue", description="Read Flue workflow runs.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    runs = sub.add_parser("runs", help="read runs", parents=[common])
    runs_sub = runs.add_subparsers(dest="action", required=True)
    get = runs_sub.add_parser("get", help="the run record", parents=[common])
    get.add_argument("run_id")
    events = runs_sub.add_parser("events", help="every event until up to date", parents=[common])
    events.add_argument("run_id")
    events.add_argument("--offset", default="-1")
    events.add_argument("--tail", type=int)
    stream = runs_sub.add_parser("stream", help="follow a run live", parents=[common])
    stream.add_argument("run_id")
    stream.add_argument("--live", choices=["long-poll", "sse"], default="long-poll")
    stream.add_argument("--offset", default=None, help="start offset (default: -1)")
    stream.add_argument("--tail", type=int)
    stream.add_argument(
        "--checkpoint",
        type=Path,
        help="resume from this file if present; save the offset there after each batch",
    )

    workflows = sub.add_parser("workflows", help="start runs", parents=[common])
    wf_sub = workflows.add_subparsers(dest="action", required=True)
    invoke = wf_sub.add_parser("invoke", help="start a workflow run", parents=[common])
    invoke.add_argument("name")
    invoke.add_argument("--input", default=None, help="JSON input")
    invoke.add_argument("--wait", action="store_true", help="wait for the result")

    demo = sub.add_parser(
        "demo", help="stream a demo run from an embedded test server", parents=[common]
    )
    demo.add_argument("--live", choices=["long-poll", "sse"], default="sse")
    demo.add_argument("--pace", type=float, default=1.0, help="slow down (>1) or speed up (<1)")
    return parser


class _Output:
    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.colour = (
            not as_json
            and out.isatty()
            and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb"
        )
        self.renderer = Renderer(colour=self.colour)
        self.lock = threading.Lock()

    def event(self, event: Any) -> None:
        with self.lock:
            if self.as_json:
                self.out.write(json.dumps(event.raw, ensure_ascii=False) + "\n")
            else:
                self.out.write(self.renderer.render(event))
            self.out.flush()

    def value(self, doc: Any) -> None:
        if self.as_json:
            self.out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            self.out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        self.out.flush()

    def finish(self) -> None:
        with self.lock:
            if not self.as_json:
                self.out.write(self.renderer.finish())
                self.out.flush()


class _Spinner:
    """A status line on stderr (terminals only) while a live stream waits for events."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, output: _Output, err: TextIO) -> None:
        self._output = output
        self._err = err
        self._enabled = err.isatty() and not output.as_json
        self._stop = threading.Event()
        self._activity = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Spinner:
        if self._enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)
            self._err.write("\r\x1b[K")
            self._err.flush()

    def poke(self) -> None:
        self._activity.set()

    def _run(self) -> None:
        frame = 0
        shown = False
        while not self._stop.is_set():
            if self._activity.wait(1.0):
                self._activity.clear()
                if shown:
                    with self._output.lock:
                        self._err.write("\r\x1b[K")
                        self._err.flush()
                    shown = False
                continue
            with self._output.lock:
                self._err.write(f"\r{self.FRAMES[frame % len(self.FRAMES)]} waiting for events…")
                self._err.flush()
            shown = True
            frame += 1


def _save_checkpoint(path: Path, offset: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(offset + "\n")
    os.replace(tmp, path)


def _load_checkpoint(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def _client(args: argparse.Namespace, base_url: str | None = None) -> Any:
    from flue import FlueClient

    return FlueClient(base_url or args.base_url, token=args.token)


def _stream(
    client: Any,
    output: _Output,
    err: TextIO,
    run_id: str,
    *,
    live: str,
    offset: str,
    tail: int | None,
    checkpoint: Path | None,
) -> int:
    stream = client.runs.stream(run_id, offset=offset, tail=tail, live=live)
    saved = offset
    try:
        with _Spinner(output, err) as spinner, stream:
            for event in stream:
                spinner.poke()
                output.event(event)
                if checkpoint is not None and stream.offset != saved:
                    saved = stream.offset
                    _save_checkpoint(checkpoint, saved)
    except KeyboardInterrupt:
        output.finish()
        err.write(f"interrupted; last checkpoint: {stream.offset}\n")
        return 130
    output.finish()
    if checkpoint is not None and stream.offset != saved:
        _save_checkpoint(checkpoint, stream.offset)
    return 0


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    output = _Output(out, as_json=args.json)
    if args.command == "demo":
        return _demo(args, output, err)
    with _client(args) as client:
        if args.command == "runs" and args.action == "get":
            output.value(client.runs.get(args.run_id).raw)
        elif args.command == "runs" and args.action == "events":
            for event in client.runs.events(args.run_id, offset=args.offset, tail=args.tail):
                output.event(event)
            output.finish()
        elif args.command == "runs" and args.action == "stream":
            offset = args.offset
            if offset is None and args.checkpoint is not None:
                offset = _load_checkpoint(args.checkpoint)
                if offset is not None:
                    err.write(f"resuming from checkpoint {offset}\n")
            return _stream(
                client,
                output,
                err,
                args.run_id,
                live=args.live,
                offset=offset or "-1",
                tail=args.tail,
                checkpoint=args.checkpoint,
            )
        else:
            payload = None
            if args.input is not None:
                try:
                    payload = json.loads(args.input)
                except ValueError as exc:
                    raise InvalidArgumentError(f"--input is not valid JSON: {exc}") from exc
            started = client.workflows.invoke(args.name, payload, wait=args.wait)
            output.value(started.raw)
    return 0


def _demo(args: argparse.Namespace, output: _Output, err: TextIO) -> int:
    from flue._cli.demo import DEMO_WORKFLOW, demo_workflow
    from flue.testing import FlueTestServer

    with FlueTestServer.running_in_thread() as server:
        server.add_workflow(DEMO_WORKFLOW, demo_workflow)
        err.write(f"demo: embedded Flue test server at {server.url}\n")
        with _client(args, base_url=server.url) as client:
            started = client.workflows.invoke(DEMO_WORKFLOW, {"pace": args.pace})
            err.write(f"demo: streaming run {started.run_id} live ({args.live})\n")
            return _stream(
                client,
                output,
                err,
                started.run_id,
                live=args.live,
                offset="-1",
                tail=None,
                checkpoint=None,
            )


@contextlib.contextmanager
def _debug_logging(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger = logging.getLogger("flue")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        with _debug_logging(args.debug):
            return _run(args, out, err)
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
    except FlueError as exc:
        if args.debug:
            raise
        err.write(f"error: {exc}\n")
        return 1
    except OSError as exc:
        if args.debug:
            raise
        err.write(f"error: {exc}\n")
        return 1


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
