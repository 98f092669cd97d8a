# The arguments of `flue conversation ...` (argparse only: `flue conversation --help` imports
# no client; flue._cli.conversation runs the commands), and the reading of a JSON option's value.

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from flue.errors import InvalidArgumentError

__all__ = ["CLI_WORDS", "add_conversation_commands", "json_option"]

Command = Callable[
    ["argparse._SubParsersAction[argparse.ArgumentParser]", str, str], argparse.ArgumentParser
]

# library spellings in the errors of `flue conversation` -> the options a CLI user types
CLI_WORDS = (
    ("send a str or a flue.UserMessage", "send a plain message (without --signal)"),
    ("initial_data=", "--initial-data"),
    ("uid= / create_only=", "--uid / --create-only"),
    ("uid= and create_only=True", "--uid and --create-only"),
    ("create_only=True refused", "--create-only refused"),
    ("Send without uid=", "Send without --uid"),
    ("uid=", "--uid"),
    ("idempotency_key=", "--idempotency-key KEY"),
    ("idempotency_key", "--idempotency-key"),
    ("error.meta['uid']", "the error's meta.uid"),
    ("error.meta['submissionId']", "the error's meta.submissionId"),
    (
        "(it must be the URL under which the app serves /runs and /workflows)",
        "(a conversation's URL is agents/NAME/ID under the app's URL on Flue 1.0, the agent's "
        "mount plus the conversation id on Flue 2.x)",
    ),
)


_URL_HELP = (
    "the conversation's URL: absolute, or a path under --base-url "
    "(Flue 1.0: agents/NAME/ID; Flue 2.x: the agent's mount plus the id)"
)


def json_option(value: str | None, option: str) -> Any:
    """The JSON value given to `option` (``--input``, ``--initial-data``); None if not given."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise InvalidArgumentError(f"{option} is not valid JSON: {exc}") from None


def _attribute(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def _message_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("message", help="the message's text (with --signal: the signal's body)")
    p.add_argument(
        "--signal",
        metavar="TYPE",
        help="send a signal of this type instead of a user message (Flue 2.x)",
    )
    p.add_argument(
        "--attribute",
        type=_attribute,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a signal attribute (repeatable; with --signal)",
    )
    p.add_argument(
        "--tag-name", metavar="NAME", help="the XML tag the model sees the signal in (--signal)"
    )
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE",
        help="attach an image file (repeatable; its type from the file name)",
    )
    p.add_argument(
        "--initial-data",
        metavar="JSON",
        help="seeds a conversation this message creates (Flue 2.x)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--uid", help="continue only the conversation instance of this uid (Flue 2.x)"
    )
    group.add_argument(
        "--create-only",
        action="store_true",
        help="create the conversation, or fail if it exists (Flue 2.x)",
    )
    p.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="makes the send safe to repeat: the server answers a repeated key with the "
        "original submission (Flue 2.x)",
    )


def _live(p: argparse.ArgumentParser) -> None:
    p.add_argument("--live", choices=["sse", "long-poll"], default="sse")


def add_conversation_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], command: Command
) -> None:
    """`flue conversation send|read|prompt|history|observe|abort URL ...`."""
    conv = command(sub, "conversation", "talk to an agent conversation by its URL (Flue 1.0, 2.x)")
    actions = conv.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, summary: str) -> argparse.ArgumentParser:
        """An action of `flue conversation`: every one takes the conversation's URL first."""
        parser = command(actions, name, summary)
        parser.add_argument("url", help=_URL_HELP)
        return parser

    send = action(
        "send", "deliver a message without waiting; print the submission id (--json: the admission)"
    )
    _message_options(send)

    read = action(
        "read", "wait until a submission settles and print its reply (--json: the reply object)"
    )
    read.add_argument("submission_id", help="what `send` printed")
    _live(read)

    prompt = action(
        "prompt", "send a message and print the reply as it is written (--json: the reply object)"
    )
    _message_options(prompt)
    _live(prompt)

    action("history", "print the conversation's transcript (--json: the history)")

    observe = action(
        "observe",
        "print the transcript, then follow it live until Ctrl-C (--json: one object per change)",
    )
    _live(observe)
    observe.add_argument(
        "--if-missing",
        choices=["wait", "stop", "raise"],
        default="wait",
        help="a conversation that does not exist yet: wait for it (default), stop, or fail",
    )

    action("abort", "stop the reply under way and the messages queued behind it")
