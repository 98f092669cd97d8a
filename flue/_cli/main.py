# The `flue` command: argument parsing, the commands, and clean exits. Errors print one line
# (exit code 1) unless --debug; Ctrl-C ends a stream cleanly and prints the last position; a
# reader that goes away (`flue runs stream R | head -1`) ends it quietly, as Unix tools do.
#
# Global options (--base-url, --token, --json, --debug, --retries, --ca-bundle) are accepted
# before and after the command: the top-level parser holds their defaults, and every
# subparser repeats them with ``default=SUPPRESS``, so that a subparser only sets the ones
# written after the command and never resets one written before it.

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from flue._cli.conversation_args import CLI_WORDS, add_conversation_commands, json_option
from flue.errors import FlueError, InvalidArgumentError

# Each command imports what it needs when it runs: ``flue --help`` (and a mistyped command)
# imports no client, HTTP library or model class (tests/test_import_cost.py).
if TYPE_CHECKING:
    from pathlib import Path

    from flue._cli.console import Console

__all__ = ["DEFAULT_RETRIES", "cli_text", "main"]

DEFAULT_RETRIES = 3  # in a row: about 4 s of backoff at most, so a wrong URL fails fast

# library spellings in error hints -> what a CLI user types instead
_CLI_WORDS = (
    ("verify=<path to your CA bundle> (or an ssl.SSLContext)", "--ca-bundle PATH"),
    ("verify=<path to your CA bundle>", "--ca-bundle PATH"),
    ("pass token=... (or set FLUE_TOKEN)", "pass --token TOKEN (or set FLUE_TOKEN)"),
    (
        "base_url is required: pass base_url='https://your-app.example' or set FLUE_BASE_URL",
        "no application URL: pass --base-url URL or set FLUE_BASE_URL",
    ),
    ("base_url must", "--base-url must"),
    ("raise the retry limits", "raise --retries"),
)


def cli_text(message: str, *, command: str | None = None) -> str:
    """An error message on one line, its hints phrased as command-line options (of `command`
    when it has its own)."""
    words = _CLI_WORDS + CLI_WORDS if command == "conversation" else _CLI_WORDS
    for library, cli in words:
        message = message.replace(library, cli)
    return " ".join(message.split())


def _retries(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {count}")
    return count


def _ca_bundle(value: str) -> str:
    if not os.path.exists(value):
        raise argparse.ArgumentTypeError(f"no such file or folder: {value!r}")
    return value


def _add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    group = parser.add_argument_group("global options (before or after the command)")

    def option(flag: str, value: object, text: str, **more: Any) -> None:
        # the default on the top parser only: a command's copy keeps what came before it
        group.add_argument(flag, default=value if top else argparse.SUPPRESS, help=text, **more)

    option(
        "--base-url",
        None,
        "application URL, path prefix included (default: $FLUE_BASE_URL)",
        metavar="URL",
    )
    option(
        "--token",
        None,
        "bearer token (default: $FLUE_TOKEN, which keeps it out of the process list)",
    )
    option("--json", False, "machine output: one compact JSON value per line", action="store_true")
    option("--debug", False, "tracebacks and debug logging", action="store_true")
    option(
        "--retries",
        DEFAULT_RETRIES,
        f"retries of a failed request in a row before giving up (default: {DEFAULT_RETRIES},"
        " a few seconds); raise it to ride out a server restart",
        type=_retries,
        metavar="N",
    )
    option(
        "--ca-bundle",
        None,
        "PEM file (or folder) of CA certificates to trust for https:// (default: the system's)",
        type=_ca_bundle,
        metavar="PATH",
    )


def _parser() -> argparse.ArgumentParser:
    from flue import __version__

    parser = argparse.ArgumentParser(
        prog="flue", description="Read Flue workflow runs and talk to Flue agents."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_globals(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
    ) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=text, description=text)
        _add_globals(p, top=False)
        return p

    runs = command(sub, "runs", "read runs")
    runs_sub = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = command(runs_sub, "get", "print the run record")
    get.add_argument("run_id")
    events = command(runs_sub, "events", "print every event until up to date")
    events.add_argument("run_id")
    events.add_argument("--offset", default="-1")
    events.add_argument("--tail", type=int)
    stream = command(runs_sub, "stream", "follow a run live until it ends")
    stream.add_argument("run_id")
    stream.add_argument("--live", choices=["long-poll", "sse"], default="long-poll")
    stream.add_argument("--offset", default=None, help="start offset (default: -1)")
    stream.add_argument("--tail", type=int)
    stream.add_argument(
        "--checkpoint",
        type=_path,
        metavar="FILE",
        help="resume from this file if present (it must be of the same run); save the exact "
        "position there after each event",
    )

    workflows = command(sub, "workflows", "start runs")
    wf_sub = workflows.add_subparsers(dest="action", required=True, metavar="ACTION")
    invoke = command(
        wf_sub,
        "invoke",
        "start a workflow run and print its run id (with --wait, then its result as JSON; "
        "with --json, the whole answer as one JSON object)",
    )
    invoke.add_argument("name")
    invoke.add_argument("--input", default=None, help="JSON input")
    invoke.add_argument("--wait", action="store_true", help="wait for the result")
    run = command(
        wf_sub,
        "run",
        "start a workflow run, print its events as they happen, then its result as JSON",
    )
    run.add_argument("name")
    run.add_argument("--input", default=None, help="JSON input")

    agents = command(sub, "agents", "talk to agents")
    ag_sub = agents.add_subparsers(dest="action", required=True, metavar="ACTION")
    prompt = command(
        ag_sub, "prompt", "send a message to a conversation and print the reply as it streams"
    )
    prompt.add_argument("name", help="the agent's name")
    prompt.add_argument("id", help="the conversation's id (created by its first message)")
    prompt.add_argument("message")
    observe = command(
        ag_sub, "observe", "print a conversation's transcript, then follow it live (Ctrl-C ends)"
    )
    observe.add_argument("name", help="the agent's name")
    observe.add_argument("id", help="the conversation's id")
    observe.add_argument("--live", choices=["long-poll", "sse"], default="sse")

    add_conversation_commands(sub, command)

    demo = command(
        sub,
        "demo",
        "stream a demo run (with --agent: an agent conversation) from an embedded test server",
    )
    demo.add_argument("--live", choices=["long-poll", "sse"], default="sse")
    demo.add_argument("--pace", type=float, default=1.0, help="slow down (>1) or speed up (<1)")
    demo.add_argument(
        "--agent",
        action="store_true",
        help="talk to the demo agent: its replies stream in as they are written, with a tool call",
    )
    return parser


def _path(value: str) -> Path:
    from pathlib import Path

    return Path(value)


def _save_checkpoint(path: Path, run_id: str, position: str) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:  # write-then-rename: a crash never leaves half a file
        fh.write(_json_line({"run_id": run_id, "position": position}) + "\n")
    os.replace(tmp, path)


def _load_checkpoint(path: Path, run_id: str) -> str | None:
    """The position saved in `path` for `run_id` (None: no file, or an empty one); a file of
    another run, or not written by this command, is refused."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(key), str) for key in ("run_id", "position")
    ):
        raise InvalidArgumentError(
            f"--checkpoint {path}: not a checkpoint file of this command (it holds a JSON "
            'object {"run_id", "position"}); to start from an offset, pass --offset instead'
        )
    if doc["run_id"] != run_id:
        raise InvalidArgumentError(
            f"--checkpoint {path} is the checkpoint of run {doc['run_id']!r}, not of "
            f"{run_id!r}: resuming one run from another's position would skip its events; "
            "use one checkpoint file per run"
        )
    position: str = doc["position"]
    return position


def _client(args: argparse.Namespace, base_url: str | None = None) -> Any:
    from flue import FlueClient, RetryPolicy

    return FlueClient(
        base_url or args.base_url,
        token=args.token,
        retry=RetryPolicy(max_attempts=args.retries + 1),
        verify=args.ca_bundle if args.ca_bundle is not None else True,
    )


def _stream(
    client: Any,
    console: Console,
    run_id: str,
    *,
    live: str,
    offset: str = "-1",
    tail: int | None = None,
    checkpoint: Path | None = None,
    position: str | None = None,
) -> int:
    stream = client.runs.stream(run_id, offset=offset, tail=tail, live=live, position=position)
    saved = position
    try:
        with console.waiting(), stream:
            for event in stream:
                console.event(event)
                if checkpoint is not None and stream.position != saved:
                    saved = stream.position  # after the event is out: exact on a restart
                    _save_checkpoint(checkpoint, run_id, saved)
    except KeyboardInterrupt:
        console.finish()
        console.note(f"interrupted; last checkpoint: {stream.position}")
        return 130
    console.finish()
    if checkpoint is not None and stream.position != saved:
        _save_checkpoint(checkpoint, run_id, stream.position)
    return 0


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _run(args: argparse.Namespace, console: Console) -> int:
    if args.command == "demo":
        return _demo(args, console)
    if args.command == "conversation":
        from flue._cli import conversation

        with _client(args, base_url=_origin_if_unset(args.base_url, args.url)) as client:
            return conversation.run(client, console, args)
    with _client(args) as client:
        if args.command == "runs" and args.action == "get":
            record = client.runs.get(args.run_id).raw
            if args.json:
                console.line(_json_line(record))
            else:
                console.line(json.dumps(record, ensure_ascii=False, indent=2))
        elif args.command == "runs" and args.action == "events":
            for event in client.runs.events(args.run_id, offset=args.offset, tail=args.tail):
                console.event(event)
            console.finish()
        elif args.command == "runs" and args.action == "stream":
            position = None
            if args.checkpoint is not None:
                # read even with --offset: a file of another run is never overwritten
                position = _load_checkpoint(args.checkpoint, args.run_id)
                if args.offset is not None:
                    position = None
                elif position is not None:
                    console.note(f"resuming from checkpoint {position}")
            return _stream(
                client,
                console,
                args.run_id,
                live=args.live,
                offset=args.offset or "-1",
                tail=args.tail if position is None else None,
                checkpoint=args.checkpoint,
                position=position,
            )
        elif args.command == "agents":
            from flue._cli import agents

            if args.action == "prompt":
                return agents.prompt(client, console, args.name, args.id, args.message)
            return agents.observe(client, console, args.name, args.id, live=args.live)
        else:
            payload = json_option(args.input, "--input")
            if args.action == "run":
                from flue._cli import agents

                return agents.run_workflow(client, console, args.name, payload)
            started = client.workflows.invoke(args.name, payload, wait=args.wait)
            if args.json:
                console.line(_json_line(started.raw))
            else:
                console.line(started.run_id)
                if args.wait:
                    console.line(_json_line(started.result))
    return 0


def _origin_if_unset(base_url: str | None, url: str) -> str | None:
    """The base URL, else (no --base-url, no $FLUE_BASE_URL) the origin of an absolute
    conversation URL: `flue conversation prompt https://app.example/chat/c1 hi` needs no
    other."""
    if base_url is not None or os.environ.get("FLUE_BASE_URL"):
        return base_url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _demo(args: argparse.Namespace, console: Console) -> int:
    from flue._cli.demo import DEMO_WORKFLOW, demo_workflow
    from flue.testing import FlueTestServer

    if args.agent:
        from flue._cli.demo import agent_demo

        return agent_demo(
            console, pace=args.pace, live=args.live, connect=lambda url: _client(args, url)
        )
    with FlueTestServer.running_in_thread() as server:
        server.add_workflow(DEMO_WORKFLOW, demo_workflow)
        console.note(f"demo: embedded Flue test server at {server.url}")
        with _client(args, base_url=server.url) as client:
            started = client.workflows.invoke(DEMO_WORKFLOW, {"pace": args.pace})
            console.note(f"demo: streaming run {started.run_id} live ({args.live})")
            return _stream(client, console, started.run_id, live=args.live)


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    from flue._cli.console import Console, bridged_logging

    console = Console(out, err, as_json=args.json, max_attempts=args.retries + 1)
    try:
        with console, bridged_logging(console, debug=args.debug):
            return _run(args, console)
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`| head -1`): stop quietly, as Unix tools do
        _quiet_stdout(out)
        return _EXIT_SIGPIPE
    except (FlueError, OSError) as exc:
        if args.debug:
            raise
        from flue._cli.text import printable  # the message may quote the server

        message = cli_text(str(exc), command=args.command)
        meta = getattr(exc, "meta", None)
        if meta:  # Flue 2.x's details of a refusal (the existing uid, submission id...)
            message += f" meta: {_json_line(meta)}"
        err.write(f"error: {printable(message)}\n")
        return 1


# what a shell reports for a program killed by SIGPIPE (128 + 13), like `yes | head -1`
_EXIT_SIGPIPE = 141


def _quiet_stdout(out: TextIO) -> None:
    """Point a broken stdout at /dev/null, so that the interpreter's last flush of what is
    still buffered neither fails nor prints "Exception ignored ... BrokenPipeError"."""
    if out is not sys.stdout and out is not sys.__stdout__:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, out.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
