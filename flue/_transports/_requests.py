"""The blocking transport, over `requests`. Exceptions are mapped into `flue.errors`."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any, TypeAlias
from urllib.parse import quote

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from flue._protocol.http import HttpRequest
from flue._settings import Timeout
from flue._transports._common import (
    MAX_SLEEP,
    DecodedBody,
    body_too_large,
    check_headers,
    client_network,
    deadline_error,
    deadline_for,
    proxy_auth_error,
    read_timeout_for,
    scrub,
)
from flue._transports._proxy import Proxy, ProxySettings
from flue._transports._reasons import clean
from flue._transports._requests_errors import check_header_block, map_error
from flue.errors import (
    InvalidArgumentError,
    ProtocolError,
    TLSError,
    TransportError,
)

__all__ = [
    "CancelToken",
    "Response",
    "Session",
    "Transport",
    "Verify",
]

# what the blocking client's `session=` and `verify=` take (the asyncio twins are in _aiohttp)
Session: TypeAlias = requests.Session
Verify: TypeAlias = bool | str

_CHUNK = 65536


class _Tripwire:
    """A connection to shut down when something trips (a cancel, a deadline): the one carrying
    a request when it trips, or the next one attached after it tripped. Shutting the socket down
    wakes a thread blocked reading from it. Once `_detach(done=True)` ended the exchange,
    tripping does nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self._tripped = False
        self._done = False

    def _trip(self) -> None:
        with self._lock:
            if self._done:
                return
            self._tripped = True
            conn = self._conn
        if conn is not None:
            _shutdown(getattr(conn, "sock", None))

    def _attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            tripped = self._tripped
        if tripped:
            _shutdown(getattr(conn, "sock", None))

    def _detach(self, *, done: bool = False) -> None:
        with self._lock:
            self._conn = None
            self._done = self._done or done


class CancelToken(_Tripwire):
    """Set by `cancel()` (from any thread); wakes a stream sleeping between retries and aborts
    a request still waiting for its response head (a long-poll)."""

    def __init__(self) -> None:
        super().__init__()
        self._event = threading.Event()

    def set(self) -> None:
        """Mark cancelled, and shut down the connection of a request in flight."""
        self._event.set()
        self._trip()

    def is_set(self) -> bool:
        """True once cancelled."""
        return self._event.is_set()


class _Deadline(_Tripwire):
    """The total deadline of one exchange: when it passes, the connection carrying the request
    is shut down, which wakes a read blocked on a server that trickles its answer (or sends
    ``100 Continue`` forever); the reader then sees `expired` and reports the deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self._timer = threading.Timer(seconds, self._trip)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expired(self) -> bool:
        """True once the deadline passed during the exchange."""
        return self._tripped

    def finish(self) -> None:
        """The exchange is over (its body read, or closed): the connection is left alone."""
        self._detach(done=True)
        self._timer.cancel()


class Response:
    """One response being read."""

    def __init__(
        self,
        response: requests.Response,
        url: str,
        *,
        deadline: _Deadline | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._response = response
        self._url = url
        self._deadline = deadline
        self._sent_headers = headers or {}
        self._aborted = False
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers
        # the body is read undecoded (raw.read1) and decoded here, bounded, as it arrives
        self._body = DecodedBody.for_response(
            response.headers.get("Content-Encoding"), status=self.status, url=url
        )

    def _read_raw(self) -> bytes:
        deadline = self._deadline
        try:
            data = self._response.raw.read1(_CHUNK)
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,
        ) as exc:
            if deadline is not None and deadline.expired:
                raise deadline_error(self._url, deadline.seconds) from None
            raise scrub(map_error(exc, self._url, reading=True), self._sent_headers) from exc
        if deadline is not None:
            if deadline.expired:  # the shutdown may look like the end of an unframed body
                raise deadline_error(self._url, deadline.seconds)
            if not data:
                deadline.finish()
        return data

    def read_chunk(self) -> bytes:
        """The next bytes of the (decoded) body as they arrive; ``b""`` at the end."""
        body = self._body
        if body is None:
            return self._read_raw()
        while (out := body.pull()) is None:
            body.push(self._read_raw())
        return out

    def read_all(self, limit: int) -> bytes:
        """The whole (decoded) body; a `ProtocolError` once it exceeds `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        while chunk := self.read_chunk():
            size += len(chunk)
            if size > limit:
                raise body_too_large(self._url, limit)
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        """Release the connection."""
        if self._deadline is not None:
            self._deadline.finish()
        raw = self._response.raw
        if not self._aborted and (
            getattr(raw, "length_remaining", None) == 0 or _only_chunked_end_left(raw)
        ):
            # nothing left to read (a 204, a body read to its end, a chunked body whose end
            # has arrived): hand the connection back to the pool (urllib3 does so at the end
            # of a read); closing the response would close it, and the next request (a
            # long-poll, the next call after an SSE read of an ended run) would open a new one
            with contextlib.suppress(Exception):
                raw.drain_conn()
        self._response.close()

    def release(self) -> None:
        """Close from a finaliser (no reader can be active then)."""
        if self._deadline is not None:
            self._deadline.finish()
        with contextlib.suppress(Exception):
            self._response.close()

    def abort(self) -> None:
        """Shut the connection down at once, waking a read blocked in another thread.

        Only the socket is touched: closing the response object itself from another thread
        would race the reader inside http.client. The reading thread closes it afterwards.
        """
        self._aborted = True
        conn: Any = getattr(self._response.raw, "_connection", None)
        _shutdown(getattr(conn, "sock", None))


# what is left of a chunked body after the last byte of its last chunk: that chunk's CRLF, the
# zero-size chunk, and an empty trailer
_CHUNKED_END = b"\r\n0\r\n\r\n"


def _only_chunked_end_left(raw: Any) -> bool:
    """True when all that is left of a chunked body is its end, and it has already arrived.

    An SSE response of an ended stream stops at its last frame; the server ends the body right
    after it, and its end usually arrives with it. Reading that end (from the buffer: it cannot
    block) lets the connection go back to the pool. The check never waits: the socket is made
    non-blocking while the buffered bytes are looked at, and anything but exactly that end
    (nothing yet, more data, a partial end, an error) leaves the connection to be closed.
    """
    response = getattr(raw, "_fp", None)  # http.client's response
    if not getattr(response, "chunked", False) or getattr(response, "chunk_left", None) != 0:
        return False
    buffered = getattr(response, "fp", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if buffered is None or not isinstance(sock, socket.socket):
        return False
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0)
        return bool(buffered.peek(len(_CHUNKED_END)) == _CHUNKED_END)
    except (OSError, ValueError):
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(timeout)


def _shutdown(sock: object) -> None:
    # a blocked recv() is only woken by shutting the socket down, not by closing a file
    # object around it
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# -- connection tracking, so that cancel() can abort a request waiting for its head --------

_current = threading.local()


class _Tracking:
    """Records the connection carrying this thread's request on its cancel token."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        token = getattr(_current, "token", None)
        if token is not None:
            token._attach(self)
        deadline = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline._attach(self)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        # a cancel() during the TCP/TLS setup found no socket to shut down: do it now (the
        # token is set before it looks for the socket, and the socket exists before this
        # check, so one of the two sees the other)
        token = getattr(_current, "token", None)
        if token is not None and token.is_set():
            _shutdown(getattr(self, "sock", None))
        deadline = getattr(_current, "deadline", None)
        if deadline is not None and deadline.expired:
            _shutdown(getattr(self, "sock", None))


class _TrackingHTTPConnection(_Tracking, urllib3.connection.HTTPConnection):
    pass


class _TrackingHTTPSConnection(_Tracking, urllib3.connection.HTTPSConnection):
    pass


class _TrackingHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _TrackingHTTPConnection


class _TrackingHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _TrackingHTTPSConnection


# idle connections kept per host by the session the client creates (see Transport)
_KEEP_IDLE = 1024


class _TrackingAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackingHTTPPool,
            "https": _TrackingHTTPSPool,
        }


class Transport:
    """Sends `HttpRequest`s with a `requests.Session` (ours, or the caller's)."""

    def __init__(
        self,
        *,
        timeout: Timeout,
        session: requests.Session | None = None,
        verify: bool | str = True,
        max_redirects: int = 10,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self._timeout = timeout
        self._owns_session = session is None
        self._verify, self._proxies = client_network(
            verify=verify,
            proxy=proxy,
            trust_env=trust_env,
            owns_session=self._owns_session,
            environ=os.environ,
        )
        self._session = session if session is not None else requests.Session()
        if self._owns_session:
            self._session.max_redirects = max_redirects
            # the environment is read by client_network() alike for both flavours; requests'
            # own reading would add .netrc credentials, which replace the bearer token
            self._session.trust_env = False
            # every connection a thread gives back is kept for reuse: with requests' default
            # pool of 10, the 11th thread following a live run would have its connection
            # discarded (a warning each time) and a new one opened for every long-poll. As
            # in the asyncio flavour, open connections are not capped: each live stream holds
            # one while it runs (pass your own session to cap)
            adapter = _TrackingAdapter(pool_maxsize=_KEEP_IDLE)
            self._session.mount("http://", adapter)
            self._session.mount("https://", adapter)

    def _proxy_for(self, url: str) -> tuple[Proxy | None, dict[str, str] | None]:
        """The proxy of a request, and the ``proxies=`` that says so to requests (None: the
        caller's session decides)."""
        settings: ProxySettings | None = self._proxies
        if settings is None:
            return None, None
        proxy = settings.for_url(url)
        if proxy is None:
            return None, {}
        target = proxy.url
        if proxy.username is not None:
            user = quote(proxy.username, safe="")
            password = quote(proxy.password or "", safe="")
            target = f"http://{user}:{password}@{target[len('http://') :]}"
        return proxy, {"http": target, "https": target}

    def open(
        self,
        request: HttpRequest,
        headers: Mapping[str, str],
        *,
        wait: bool = False,
        token: CancelToken | None = None,
    ) -> Response:
        """Send a request and return once the response head has arrived.

        Setting `token` while waiting for the head aborts the request (on sessions we created).
        Headers that cannot be sent are refused first (`check_headers`); the whole exchange,
        body included, is bounded by ``Timeout.total`` where it applies (`deadline_for`), on
        sessions we created. Errors never carry the request's credentials.
        """
        check_headers(headers)
        proxy = self._proxy_for(request.url)[0]
        seconds = deadline_for(self._timeout, request.kind, wait=wait)
        deadline = _Deadline(seconds) if seconds is not None and self._owns_session else None
        try:
            return self._open(request, headers, wait=wait, token=token, deadline=deadline)
        except BaseException as exc:
            if deadline is not None:
                deadline.finish()
            if isinstance(exc, (TransportError, ProtocolError)):
                scrub(exc, headers, proxy)
            raise

    def _open(
        self,
        request: HttpRequest,
        headers: Mapping[str, str],
        *,
        wait: bool,
        token: CancelToken | None,
        deadline: _Deadline | None,
    ) -> Response:
        proxy, proxies = self._proxy_for(request.url)
        _current.token = token
        _current.deadline = deadline
        try:
            response = self._session.request(
                request.method,
                request.url,
                headers=dict(headers),
                data=request.body,
                timeout=(
                    self._timeout.connect,
                    read_timeout_for(self._timeout, request.kind, wait=wait),
                ),
                stream=True,
                verify=self._verify,
                allow_redirects=True,
                proxies=proxies,
            )
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise InvalidArgumentError(f"invalid URL {request.url!r}: {exc}") from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if deadline is not None and deadline.expired:
                raise deadline_error(request.url, deadline.seconds) from None
            if type(exc) is OSError and "CA certificate bundle" in str(exc):
                raise TLSError(  # requests reads verify=<path> at each new connection
                    f"the CA bundle given as verify= could not be read: {clean(str(exc))}"
                ) from None
            raise map_error(exc, request.url, reading=False, proxy=proxy) from exc
        finally:
            _current.token = None
            _current.deadline = None
            if token is not None:
                token._detach()
        if response.status_code == 407:  # from a proxy: ours, or one the network imposes
            response.close()
            raise proxy_auth_error(proxy, request.url.split("?", 1)[0])
        if deadline is not None and deadline.expired:  # the head was cut short by it
            response.close()
            raise deadline_error(request.url, deadline.seconds)
        try:
            check_header_block(response, request.url)
            return Response(response, request.url, deadline=deadline, headers=headers)
        except ProtocolError:  # a malformed header block; a Content-Encoding we cannot decode
            response.close()
            raise

    def cancel_token(self) -> CancelToken:
        """A fresh token for one stream."""
        return CancelToken()

    def sleep(self, seconds: float, token: CancelToken) -> None:
        """Wait `seconds`, returning early if `token` is set."""
        token._event.wait(min(seconds, MAX_SLEEP))  # more would overflow the timer

    def close(self) -> None:
        """Close the session if we created it."""
        if self._owns_session:
            self._session.close()
