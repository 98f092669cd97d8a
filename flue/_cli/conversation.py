# The `flue conversation ...` commands: one agent conversation by its URL, on Flue 1.0
# (beta.9) and Flue 2.x alike (the client learns the line). Human output is the reply's text
# or the transcript; --json prints what the server answered (the admission, the history,
# the abort answer) or the reply object the TypeScript SDK's read() gives, one line each.

from __future__ import annotations

import argparse
import json
import mimetypes
import threading
from pathlib import Path
from typing import Any

from flue._cli.chat import ReplyPrinter, state_json, transcript
from flue._cli.console import Console
from flue._cli.conversation_args import json_option
from flue.errors import InvalidArgumentError

__all__ = ["message_from_args", "run"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _image(path: str) -> Any:
    from flue import ImageAttachment

    mime, _ = mimetypes.guess_type(path)
    if mime is None or not mime.startswith("image/"):
        raise InvalidArgumentError(
            f"--image {path!r}: cannot tell an image type from the file name (use a .png, "
            ".jpg, .gif or .webp file)"
        )
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"--image {path!r}: {exc.strerror or exc}") from None
    return ImageAttachment(data, mime, Path(path).name)


def message_from_args(args: argparse.Namespace) -> Any:
    """The message `send`/`prompt` deliver: a `Signal` (``--signal``), a `UserMessage`
    (``--image``) or the text."""
    from flue import Signal, UserMessage

    if args.signal is not None:
        if args.image:
            raise InvalidArgumentError("--image goes with a user message, not with --signal")
        return Signal(
            args.signal, args.message, dict(args.attribute) or None, tag_name=args.tag_name
        )
    if args.attribute or args.tag_name is not None:
        raise InvalidArgumentError("--attribute and --tag-name go with --signal TYPE")
    if args.image:
        return UserMessage(args.message, [_image(p) for p in args.image])
    return args.message


def _send_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "initial_data": json_option(args.initial_data, "--initial-data"),
        "uid": args.uid,
        "create_only": args.create_only,
        "idempotency_key": args.idempotency_key,
    }


def run(client: Any, console: Console, args: argparse.Namespace) -> int:
    """Run `flue conversation ACTION URL ...`; returns the exit code."""
    conv = client.conversation(args.url)
    action = args.action
    if action == "send":
        admission = conv.send(message_from_args(args), **_send_options(args))
        if console.as_json:
            console.line(_json(admission.raw))
        else:
            show_admission(console, admission)
    elif action == "read":
        with console.waiting():
            reply = conv.read(args.submission_id, live=args.live)
        show_reply(console, reply)
    elif action == "prompt":
        message = message_from_args(args)
        admission = conv.send(message, **_send_options(args))
        return read_streaming(console, conv, admission, live=args.live)
    elif action == "history":
        snapshot = conv.history()
        if console.as_json:
            console.line(_json(snapshot.raw))
        else:
            show_history(console, snapshot)
    elif action == "observe":
        return observe(console, conv, live=args.live, if_missing=args.if_missing)
    else:
        result = conv.abort()
        if console.as_json:
            console.line(_json(result.raw))
        elif result.aborted:
            console.line("aborted: the reply under way and the messages queued behind it stopped")
        else:
            console.line("nothing to abort: the conversation was idle")
    return 0


def show_admission(console: Console, admission: Any) -> None:
    """The submission id on stdout (``SUB=$(flue conversation send ...)``), the rest as
    notes."""
    console.line(admission.submission_id)
    if admission.deduplicated:
        console.note(
            "deduplicated: this idempotency key was sent before; the server answered with the "
            "original submission and ran nothing again"
        )
    if admission.uid is not None:
        console.note(f"conversation uid: {admission.uid}")


def show_reply(console: Console, reply: Any) -> None:
    """A settled reply: its text, then one line per data part (``--json``: the reply)."""
    if console.as_json:
        console.line(_json(reply.raw))
        return
    console.line(reply.text)
    _show_data(console, reply)


def _show_data(console: Console, reply: Any) -> None:
    for name, values in reply.data.items():
        for value in values:
            console.line(f"[data {name}] {_json(value)}")


def read_streaming(console: Console, conv: Any, admission: Any, *, live: str) -> int:
    """Follow `admission` to its reply, printing the reply as it is written, then a final
    newline (``--json``: the reply object once settled)."""
    if console.as_json:
        with console.waiting():
            console.line(_json(conv.read(admission, live=live).raw))
        return 0
    printer = ReplyPrinter(console, admission.submission_id)
    try:
        with console.waiting():  # a terminal's status line says so when the agent is silent
            reply = conv.read(admission, on_event=printer.chunk, live=live)
    finally:
        printer.finish()
    if not printer.streamed and reply.text:
        console.line(reply.text)  # a reply that streamed no text: the history has it
    _show_data(console, reply)
    return 0


def _show_settlements(console: Console, state: Any, told: set[str]) -> None:
    for s in state.settlements:
        if s.outcome != "completed" and s.submission_id not in told:
            told.add(s.submission_id or "")
            console.note(f"(submission {s.submission_id} {s.outcome})")


def show_history(console: Console, snapshot: Any) -> None:
    """The transcript, one ``role: text`` paragraph per message; failed or aborted
    submissions as notes."""
    state = snapshot.state
    text = transcript(state)
    if text:
        console.line(text)
    else:
        console.note("(the conversation has no messages)")
    _show_settlements(console, state, set())


_PHASE_NOTES = {
    "loading": "(phase: loading: reading the history)",
    "connecting": "(phase: connecting: opening the live stream)",
    "live": "(phase: live: following changes; Ctrl-C ends)",
    "absent": "(phase: absent: the conversation does not exist yet)",
}


class _Observed:
    """The output of `observe`: each state, and each new phase of the observer, said at each
    state and by a watcher thread between states (the phase moves to ``live`` when the
    stream first answers, which changes no state)."""

    POLL = 0.05

    def __init__(self, console: Console, observer: Any) -> None:
        self.console = console
        self.observer = observer
        self._phase: str | None = None
        self._state: Any = None  # the last state shown
        self._printed = ""
        self._told: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="flue-phase", daemon=True)

    def __enter__(self) -> _Observed:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _watch(self) -> None:
        while not self._stop.wait(self.POLL):
            with self._lock:
                self._show_phase()

    def _show_phase(self) -> bool:
        phase = self.observer.phase
        if phase == self._phase or phase not in _PHASE_NOTES:
            return False
        self._phase = phase
        if not self.console.as_json:
            self.console.note(_PHASE_NOTES[phase])
        elif self._state is not None:
            self.console.line(_json({"phase": phase, **state_json(self._state)}))
        return True

    def state(self, state: Any) -> None:
        """Show a new state (``--json``: with the phase; human: what the transcript gained)."""
        with self._lock:
            self._state = state
            if self.console.as_json:
                self._phase = self.observer.phase
                self.console.line(_json({"phase": self._phase, **state_json(state)}))
                return
            self._show_phase()
            text = transcript(state)
            if text.startswith(self._printed):
                self.console.write(text[len(self._printed) :])
            else:  # not an append (the history was re-read): print it again
                self.console.end_line()
                self.console.note("(the conversation changed; the whole transcript follows)")
                self.console.write(text)
            self._printed = text
            _show_settlements(self.console, state, self._told)


def observe(console: Console, conv: Any, *, live: str, if_missing: str) -> int:
    """The transcript, then every change as it happens, until Ctrl-C (the phase on stderr);
    ``--json``: one object per change of the state or the phase."""
    with conv.observe(live=live, if_missing=if_missing) as obs, _Observed(console, obs) as out:
        try:
            with console.waiting():
                for state in obs:
                    out.state(state)
        except KeyboardInterrupt:
            console.end_line()
            console.note(f"interrupted at offset {obs.offset}")
            return 130
    console.end_line()
    return 0
