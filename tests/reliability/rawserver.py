"""A tiny HTTP server on raw sockets, for answers no real server library would send.

Each connection is served by a thread: the request head is read, then the case's handler
writes whatever bytes it likes through the `Exchange` (a proper response, garbage, an endless
line, or nothing at all). Every answer closes its connection, unless the server is made with
``keep_alive=True``: then the next request on the same connection goes to the handler too (its
answers must then be framed, and not say ``Connection: close``), and `accepted` counts the
connections. Binds 127.0.0.1 on an ephemeral port; leaving the ``with`` block stops the server
and closes every connection it opened.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import attrs

from tools.flue_servers.lifecycle import LOOPBACK, LocalServer

__all__ = ["Exchange", "RawServer", "http_response"]

REASONS = {200: "OK", 204: "No Content", 302: "Found", 404: "Not Found", 502: "Bad Gateway"}


def http_response(
    status: int, headers: dict[str, str] | None = None, body: bytes = b"", *, length: bool = True
) -> bytes:
    """The bytes of a complete HTTP/1.1 response that closes its connection."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@attrs.define
class Exchange:
    """One request, and the means to answer it."""

    sock: socket.socket
    head: bytes
    stopping: threading.Event

    @property
    def target(self) -> str:
        """The request target (path and query) as sent."""
        return self.head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def send(self, data: bytes) -> bool:
        """Write `data`; False once the client has gone (or the server stops)."""
        if self.stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def hold(self) -> None:
        """Say nothing until the client hangs up or the server stops."""
        self.sock.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                if not self.sock.recv(4096):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


Handler = Callable[[Exchange], Any]


class RawServer(LocalServer):
    """Serves `handler` on 127.0.0.1:<ephemeral port> (optionally over TLS) in threads."""

    label = "raw server"

    def __init__(
        self, handler: Handler, *, tls: ssl.SSLContext | None = None, keep_alive: bool = False
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.keep_alive = keep_alive
        self.accepted = 0  # connections
        self.heads: list[bytes] = []
        self.errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        port = self._listener.getsockname()[1]
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{port}"

    def _start(self) -> None:
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self._spawn(self._accept_loop)

    def _stop(self) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(10)
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        sock: socket.socket = conn
        try:
            conn.settimeout(5)
            if self.tls is not None:
                sock = self.tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._conns.append(sock)
            rest = b""
            while not self._stopping.is_set():
                request = _read_request(sock, rest)
                if request is None:
                    return
                head, rest = request
                with self._lock:
                    self.heads.append(head)
                self.handler(Exchange(sock=sock, head=head, stopping=self._stopping))
                if not self.keep_alive:
                    return
                sock.settimeout(5)  # `hold()` may have changed it
        except (OSError, ssl.SSLError):
            return  # the client went away (or refused our certificate)
        except BaseException as exc:  # a broken handler: make the test fail loudly
            self.errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _read_request(sock: socket.socket, data: bytes) -> tuple[bytes, bytes] | None:
    """The next request's head (its body read and dropped) and the bytes after it; None when
    the client closed the connection first. `data`: bytes already received."""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    # read a request body too: closing with unread bytes makes the kernel send a reset, which
    # can reach the client before it has read the answer
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body[length:]
