"""``python -m flue.testing``: serve the demo workflows over HTTP until SIGINT/SIGTERM.

The demo app answers like the interop Flue app: ``POST /workflows/emit`` with
``{count=10, size=0, delayMs=0, startDelayMs=0}`` and ``POST /workflows/fail`` with
``{message, before=1}``, and the agent ``assistant`` (``POST /agents/assistant/{id}``, echoing
the message, with the interop fake model's directives ``slow:``, ``fail:``, ``think:``,
``tool:``, ``words<n>:``); ``--token`` makes every read and invocation require
``Authorization: Bearer TOKEN`` (else 401 ``unauthorized``). ``--line 2`` serves Flue 2.x
instead: no workflows, the agent ``assistant``'s conversations at ``/agents/assistant/{id}``
(2.x bodies, ``uid``, ``idempotencyKey``, signals; see ``FlueTestServer``), and with ``--mount
/api/chat`` (repeatable) at further paths too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from ._server import LINES, FlueTestServer


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flue.testing",
        description="Serve a fake Flue API with the demo workflows emit and fail and the demo "
        "agent assistant.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: an ephemeral one)")
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN'")
    parser.add_argument(
        "--line",
        choices=LINES,
        default="1.0",
        help="the Flue line to speak: 1.0 (1.0.0-beta.9: workflows and agents, the default) or "
        "2 (2.x agent conversations, no workflows)",
    )
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="PATH",
        help="line 2: mount the agent assistant at PATH too (e.g. /api/chat); repeatable",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    server = FlueTestServer(host=args.host, port=args.port, token=args.token, line=args.line)
    async with server:
        if args.mount:
            server.add_agent("assistant", attachments=True, mount=args.mount)
        print(f"flue.testing serving on {server.url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo server; returns the exit status."""
    args = _parse(argv)
    if args.mount and args.line != "2":
        print("python -m flue.testing: --mount needs --line 2", file=sys.stderr)
        return 2
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
