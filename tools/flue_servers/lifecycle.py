"""The lifecycle every local test server shares: ``start()``, ``stop()`` and ``with``.

How this works: a subclass implements ``_start()`` (bind 127.0.0.1 on an ephemeral port, spawn
its thread or process, wait until it answers) and ``_stop()`` (undo whatever part of that has
happened, safe to call more than once). :class:`LocalServer` turns those into a ``start()``
that refuses a second start and stops whatever a failed start left behind before the error
propagates, an idempotent ``stop()``, and a context manager that always stops. Processes are
stopped by their own PID (:func:`stop_process`), never by name. A command line that serves in
the foreground uses :func:`stop_on_sigterm` and :func:`serve_in_foreground`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from types import TracebackType
from typing import Protocol, TypeVar

__all__ = [
    "LOOPBACK",
    "LocalServer",
    "free_port",
    "serve_in_foreground",
    "stop_on_sigterm",
    "stop_process",
]

#: Every local server binds this address only.
LOOPBACK = "127.0.0.1"

_S = TypeVar("_S", bound="LocalServer")


def free_port() -> int:
    """A port the kernel considered free on 127.0.0.1 a moment ago (a process binds it a moment
    later; a server that finds it taken picks another)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(
    proc: subprocess.Popen[bytes], timeout: float, *, kill_group: bool = False
) -> None:
    """Stop our own child ``proc``: SIGTERM, wait ``timeout``, then SIGKILL and wait again.

    ``kill_group``: the SIGKILL goes to the child's process group (started with
    ``start_new_session=True``, so the group holds only the child and its own children).
    """
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if kill_group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        proc.wait(timeout=timeout)


class LocalServer:
    """Base of a server on 127.0.0.1 that its owner starts and stops (see the module doc)."""

    #: Names the server in "already started".
    label = "server"

    _started = False

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def start(self: _S) -> _S:
        if self._started:
            raise RuntimeError(f"{self.label} already started")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and release what it holds; a no-op when it is not running."""
        self._started = False
        self._stop()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Foreground(Protocol):
    """What :func:`serve_in_foreground` watches."""

    @property
    def running(self) -> bool: ...

    def log_tail(self, limit: int | None = 4000) -> str: ...


def stop_on_sigterm() -> threading.Event:
    """An event that SIGTERM sets. Installed before the servers start, so that a SIGTERM ends
    the wait of :func:`serve_in_foreground` and the servers' ``with`` blocks stop them, instead
    of ending this process and leaving them behind."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def serve_in_foreground(server: Foreground, stop: threading.Event) -> int:
    """Wait for Ctrl-C or ``stop`` (0), or for ``server`` to stop by itself (its log on stderr,
    1)."""
    print("Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            if not server.running:
                print(server.log_tail(), file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    return 0
